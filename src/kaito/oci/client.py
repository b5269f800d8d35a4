"""A minimal async client for the OCI distribution API: manifests and blobs, pull and push, with auth."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import httpx
import structlog

from kaito.oci.auth import AuthError, Keychain, fetch_bearer_token, parse_challenge
from kaito.oci.manifest import INDEX_TYPES, MANIFEST_ACCEPT, ImageIndex, ImageManifest
from kaito.oci.reference import ImageReference

log = structlog.get_logger(__name__)


class RegistryError(RuntimeError):
    """The registry answered with something we cannot use (missing image, bad digest, server error)."""


def _is_local(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if not registry.startswith("[") else registry.split("]")[0] + "]"
    return host in ("localhost", "[::1]") or host.startswith("127.")


class RegistryClient:
    """Talks to registries over HTTPS (plain HTTP for loopback and the `plain_http` hosts)."""

    def __init__(
        self,
        keychain: Keychain | None = None,
        *,
        plain_http: frozenset[str] = frozenset(),
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._keychain = keychain or Keychain()
        self._plain_http = plain_http
        self._http = httpx.AsyncClient(timeout=timeout, follow_redirects=True, transport=transport)
        self._auth_headers: dict[tuple[str, str, str], str] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _base(self, image: ImageReference) -> str:
        scheme = "http" if image.registry in self._plain_http or _is_local(image.registry) else "https"
        return f"{scheme}://{image.registry}/v2/{image.repository}"

    async def _authorize(self, image: ImageReference, actions: str, response: httpx.Response) -> str:
        header = response.headers.get("www-authenticate", "")
        challenge = parse_challenge(header)
        credentials = self._keychain.lookup(image)
        if challenge.scheme == "basic":
            if credentials is None:
                raise AuthError(f"{image.registry} needs credentials and no imagePullSecret names it")
            return credentials.basic_header()
        if challenge.scheme == "bearer":
            scope = f"repository:{image.repository}:{actions}"
            token = await fetch_bearer_token(self._http, challenge, scope, credentials)
            return f"Bearer {token}"
        raise AuthError(f"{image.registry} asked for unsupported authentication {header!r}")

    async def _request(
        self, method: str, image: ImageReference, url: str, actions: str = "pull", **kwargs: Any
    ) -> httpx.Response:
        """Send once; on 401 answer the challenge and send again. The caller closes streamed bodies."""
        key = (image.registry, image.repository, actions)
        stream = kwargs.pop("stream", False)
        headers = dict(kwargs.pop("headers", {}))
        for attempt in range(2):
            if key in self._auth_headers:
                headers["Authorization"] = self._auth_headers[key]
            request = self._http.build_request(method, url, headers=headers, **kwargs)
            response = await self._http.send(request, stream=stream)
            if response.status_code != 401:
                return response
            await response.aread()
            await response.aclose()
            if attempt == 1:
                break
            self._auth_headers[key] = await self._authorize(image, actions, response)
        raise AuthError(f"{image.registry} refused the credentials for {image.repository} ({actions})")

    @staticmethod
    def _check(response: httpx.Response, image: ImageReference, what: str) -> None:
        if response.status_code == 404:
            raise RegistryError(f"{image}: {what} not found in the registry")
        if response.status_code == 403:
            raise AuthError(f"{image}: the registry forbids {what} with these credentials")
        if response.is_error:
            raise RegistryError(
                f"{image}: {what} failed with HTTP {response.status_code}: {response.text[:200]}"
            )

    async def get_manifest(self, image: ImageReference, platform: str = "linux/amd64") -> ImageManifest:
        """The image's manifest; for an index, the entry for `platform` (or the only / first one)."""
        reference = image.reference
        for _ in range(2):
            response = await self._request(
                "GET",
                image,
                f"{self._base(image)}/manifests/{reference}",
                headers={"Accept": MANIFEST_ACCEPT},
            )
            self._check(response, image, "manifest")
            body = response.json()
            media_type = body.get("mediaType") or response.headers.get("content-type", "").split(";")[0]
            if media_type not in INDEX_TYPES and "manifests" not in body:
                return ImageManifest.model_validate(body)
            index = ImageIndex.model_validate(body)
            if not index.manifests:
                raise RegistryError(f"{image}: the image index is empty")
            os_name, _, arch = platform.partition("/")
            chosen = next(
                (
                    m
                    for m in index.manifests
                    if m.platform is not None and m.platform.os == os_name and m.platform.architecture == arch
                ),
                index.manifests[0],
            )
            reference = chosen.digest
        raise RegistryError(f"{image}: nested image indexes are not supported")

    async def get_blob(self, image: ImageReference, digest: str, dest: Path) -> None:
        """Stream a blob to `dest`, checking its sha256 digest."""
        algorithm, _, expected = digest.partition(":")
        if algorithm != "sha256":
            raise RegistryError(f"{image}: unsupported digest algorithm {algorithm!r}")
        response = await self._request("GET", image, f"{self._base(image)}/blobs/{digest}", stream=True)
        try:
            if response.is_error:
                await response.aread()
            self._check(response, image, f"blob {digest}")
            hasher = hashlib.sha256()
            out = await asyncio.to_thread(dest.open, "wb")
            try:
                async for chunk in response.aiter_bytes(1 << 20):
                    hasher.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
            finally:
                out.close()
        finally:
            await response.aclose()
        if hasher.hexdigest() != expected:
            await asyncio.to_thread(dest.unlink, True)
            raise RegistryError(f"{image}: blob {digest} arrived corrupted (digest mismatch)")

    async def blob_exists(self, image: ImageReference, digest: str) -> bool:
        response = await self._request("HEAD", image, f"{self._base(image)}/blobs/{digest}", "pull,push")
        return response.status_code == 200

    async def push_blob(self, image: ImageReference, data: bytes) -> str:
        """Upload `data` (monolithic upload) unless the registry already has it; return its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if await self.blob_exists(image, digest):
            return digest
        started = await self._request("POST", image, f"{self._base(image)}/blobs/uploads/", "pull,push")
        self._check(started, image, "blob upload")
        location = started.headers.get("location")
        if not location:
            raise RegistryError(f"{image}: the registry started an upload without a Location")
        upload_url = httpx.URL(f"{self._base(image)}/").join(location)
        upload_url = upload_url.copy_merge_params({"digest": digest})
        finished = await self._request(
            "PUT",
            image,
            str(upload_url),
            "pull,push",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        self._check(finished, image, "blob upload")
        return digest

    async def put_manifest(self, image: ImageReference, manifest: ImageManifest) -> str:
        """Publish `manifest` under the image's tag; return the manifest digest."""
        body = manifest.model_dump_json(by_alias=True, exclude_none=True).encode()
        response = await self._request(
            "PUT",
            image,
            f"{self._base(image)}/manifests/{image.reference}",
            "pull,push",
            content=body,
            headers={"Content-Type": manifest.media_type},
        )
        self._check(response, image, "manifest upload")
        return "sha256:" + hashlib.sha256(body).hexdigest()
