"""Registry credentials: dockerconfigjson secrets, and the Basic / Bearer-token challenge flow."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kaito.oci.reference import ImageReference

_CHALLENGE_PARAM_RE = re.compile(r'(\w+)="([^"]*)"|(\w+)=([^\s,]+)')


class AuthError(RuntimeError):
    """The registry refused our credentials (or asked for ones we do not have)."""


@dataclass(frozen=True)
class Credentials:
    """A username/password pair, or an identity (refresh) token."""

    username: str = ""
    password: str = ""
    identity_token: str = ""

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


class DockerAuthEntry(BaseModel):
    """One registry's entry in a dockerconfigjson `auths` map."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    auth: str | None = None
    username: str | None = None
    password: str | None = None
    identity_token: str | None = Field(default=None, alias="identitytoken")

    def credentials(self) -> Credentials:
        if self.identity_token:
            return Credentials(username=self.username or "<token>", identity_token=self.identity_token)
        if self.username is not None or self.password is not None:
            return Credentials(username=self.username or "", password=self.password or "")
        if self.auth:
            try:
                decoded = base64.b64decode(self.auth).decode()
            except ValueError as err:
                raise ValueError("`auth` is not base64 of `username:password`") from err
            user, sep, password = decoded.partition(":")
            if not sep:
                raise ValueError("`auth` does not decode to `username:password`")
            return Credentials(username=user, password=password)
        return Credentials()


class DockerConfig(BaseModel):
    """The `.dockerconfigjson` payload of a kubernetes.io/dockerconfigjson Secret."""

    model_config = ConfigDict(extra="ignore")
    auths: dict[str, DockerAuthEntry] = Field(default_factory=dict)


def _registry_host(key: str) -> str:
    host = key.removeprefix("https://").removeprefix("http://")
    return host.split("/", 1)[0]


class Keychain:
    """Credentials for many registries, merged from one or more dockerconfigjson documents."""

    def __init__(self, configs: Iterable[DockerConfig] = ()) -> None:
        self._by_host: dict[str, Credentials] = {}
        for config in configs:
            for key, entry in config.auths.items():
                self._by_host.setdefault(_registry_host(key), entry.credentials())

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> Keychain:
        """Read mounted secrets (each a `.dockerconfigjson` file, or a directory holding one)."""
        configs = []
        for path in paths:
            file = path / ".dockerconfigjson" if path.is_dir() else path
            if not file.is_file():
                continue
            try:
                configs.append(DockerConfig.model_validate(json.loads(file.read_text())))
            except (ValueError, ValidationError) as err:
                raise AuthError(f"{file}: not a valid dockerconfigjson: {err}") from err
        return cls(configs)

    def lookup(self, image: ImageReference) -> Credentials | None:
        for key in image.auth_keys:
            found = self._by_host.get(_registry_host(key))
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class Challenge:
    """A parsed `WWW-Authenticate` header."""

    scheme: str
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge:
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for match in _CHALLENGE_PARAM_RE.finditer(rest):
        if match.group(1):
            params[match.group(1).lower()] = match.group(2)
        else:
            params[match.group(3).lower()] = match.group(4)
    return Challenge(scheme=scheme.lower(), params=params)


class TokenResponse(BaseModel):
    """A token server's answer (Docker token auth / OAuth2)."""

    model_config = ConfigDict(extra="ignore")
    token: str | None = None
    access_token: str | None = None

    def value(self) -> str:
        found = self.token or self.access_token
        if not found:
            raise AuthError("the token server answered without a token")
        return found


async def fetch_bearer_token(
    http: httpx.AsyncClient, challenge: Challenge, scope: str, credentials: Credentials | None
) -> str:
    """Trade credentials (or nothing, for anonymous pulls) for a bearer token scoped to `scope`."""
    realm = challenge.params.get("realm")
    if not realm:
        raise AuthError("the registry's Bearer challenge names no realm")
    service = challenge.params.get("service", "")
    if credentials is not None and credentials.identity_token:
        form = {"grant_type": "refresh_token", "refresh_token": credentials.identity_token, "scope": scope}
        if service:
            form["service"] = service
        response = await http.post(realm, data=form)
    else:
        query = {"scope": scope}
        if service:
            query["service"] = service
        headers = {"Authorization": credentials.basic_header()} if credentials is not None else {}
        response = await http.get(realm, params=query, headers=headers)
    if response.status_code in (401, 403):
        raise AuthError(f"the token server {realm} refused the credentials ({response.status_code})")
    response.raise_for_status()
    return TokenResponse.model_validate(response.json()).value()
