"""A container's environment (env, envFrom, valueFrom) and Kubernetes `$(VAR)` expansion."""

from __future__ import annotations

import base64
import re
from typing import Any

from kaito.localcluster.builtins.client import CONFIGMAPS, SECRETS, KubeClient, is_status
from kaito.localcluster.builtins.objects import Container, KeyRef, Pod

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


class ConfigError(Exception):
    """The container cannot start yet (CreateContainerConfigError): a referenced key or object is missing."""


def expand(text: str, env: dict[str, str]) -> str:
    """`$(VAR)` becomes VAR's value when defined, `$$` becomes `$`, anything else stays as written."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _REFERENCE.sub(replace, text)


def _decode(data: dict[str, Any], binary: bool) -> dict[str, str]:
    if not binary:
        return {key: str(value) for key, value in data.items()}
    return {key: base64.b64decode(value).decode("utf-8", "replace") for key, value in data.items()}


class SourceReader:
    """Reads ConfigMaps and Secrets of one pod's namespace, once per container start."""

    def __init__(self, client: KubeClient, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self._cache: dict[tuple[str, str], dict[str, str] | None] = {}

    async def data(self, kind: str, name: str) -> dict[str, str] | None:
        if (kind, name) not in self._cache:
            resource = CONFIGMAPS if kind == "configmap" else SECRETS
            try:
                obj = await self.client.get(resource, self.namespace, name)
            except Exception as error:
                if not is_status(error, 404):
                    raise
                self._cache[(kind, name)] = None
            else:
                values = _decode(obj.get("data") or {}, binary=kind == "secret")
                if kind == "configmap":
                    values |= _decode(obj.get("binaryData") or {}, binary=True)
                else:  # a server that kept write-only stringData as sent
                    values |= _decode(obj.get("stringData") or {}, binary=False)
                self._cache[(kind, name)] = values
        return self._cache[(kind, name)]

    async def key(self, kind: str, ref: KeyRef) -> str | None:
        data = await self.data(kind, ref.name)
        if data is None:
            if ref.optional:
                return None
            raise ConfigError(f'{kind} "{ref.name}" not found')
        if ref.key not in data:
            if ref.optional:
                return None
            raise ConfigError(
                f"couldn't find key {ref.key} in {kind.capitalize()} {self.namespace}/{ref.name}"
            )
        return data[ref.key]


def field_value(pod: Pod, path: str, pod_ip: str) -> str:
    meta = pod.metadata
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
    if match:
        source = meta.labels if match.group(1) == "labels" else meta.annotations
        return source.get(match.group(2), "")
    values = {
        "metadata.name": meta.name,
        "metadata.namespace": meta.namespace,
        "metadata.uid": meta.uid,
        "spec.nodeName": pod.spec.node_name,
        "spec.serviceAccountName": str(getattr(pod.spec, "service_account_name", "") or "default"),
        "status.podIP": pod_ip,
        "status.hostIP": pod_ip,
    }
    return values.get(path, "")


async def container_env(
    pod: Pod, container: Container, reader: SourceReader, base: dict[str, str], pod_ip: str
) -> dict[str, str]:
    """`base`, then envFrom sources in order, then `env` entries in order (each may use earlier ones)."""
    env = dict(base)
    for source in container.env_from:
        if source.config_map_ref is not None:
            data = await reader.data("configmap", source.config_map_ref.name)
            name = source.config_map_ref.name
            kind = "configmap"
            optional = source.config_map_ref.optional
        elif source.secret_ref is not None:
            data = await reader.data("secret", source.secret_ref.name)
            name, kind, optional = source.secret_ref.name, "secret", source.secret_ref.optional
        else:
            continue
        if data is None:
            if optional:
                continue
            raise ConfigError(f'{kind} "{name}" not found')
        env |= {f"{source.prefix}{key}": value for key, value in data.items()}
    for variable in container.env:
        if variable.value_from is None:
            env[variable.name] = expand(variable.value or "", env)
            continue
        ref = variable.value_from
        value: str | None = ""
        if ref.config_map_key_ref is not None:
            value = await reader.key("configmap", ref.config_map_key_ref)
        elif ref.secret_key_ref is not None:
            value = await reader.key("secret", ref.secret_key_ref)
        elif ref.field_ref is not None:
            value = field_value(pod, ref.field_ref.field_path, pod_ip)
        if value is not None:
            env[variable.name] = value
    return env
