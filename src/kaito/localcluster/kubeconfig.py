"""Writes the kubeconfig that points kubectl and clients at the embedded API server."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field


class _Cluster(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    server: str
    certificate_authority_data: str | None = Field(default=None, alias="certificate-authority-data")


class _NamedCluster(BaseModel):
    name: str
    cluster: _Cluster


class _User(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str | None = None


class _NamedUser(BaseModel):
    name: str
    user: _User


class _Context(BaseModel):
    cluster: str
    user: str
    namespace: str = "default"


class _NamedContext(BaseModel):
    name: str
    context: _Context


class Kubeconfig(BaseModel):
    """The subset of the kubeconfig format the local cluster writes."""

    model_config = ConfigDict(populate_by_name=True)

    api_version: str = Field(default="v1", alias="apiVersion")
    kind: str = "Config"
    clusters: list[_NamedCluster]
    users: list[_NamedUser]
    contexts: list[_NamedContext]
    current_context: str = Field(alias="current-context")
    preferences: dict[str, str] = Field(default_factory=dict)


def build_kubeconfig(
    server: str, token: str | None, name: str = "kaito-local", ca_pem: bytes | None = None
) -> Kubeconfig:
    ca_data = base64.b64encode(ca_pem).decode() if ca_pem else None
    return Kubeconfig(
        clusters=[
            _NamedCluster(name=name, cluster=_Cluster(server=server, certificate_authority_data=ca_data))
        ],
        users=[_NamedUser(name=name, user=_User(token=token))],
        contexts=[_NamedContext(name=name, context=_Context(cluster=name, user=name))],
        current_context=name,
    )


def write_kubeconfig(
    path: Path, server: str, token: str | None, name: str = "kaito-local", ca_pem: bytes | None = None
) -> Path:
    """Write (atomically, mode 0600) a kubeconfig for ``server``; returns ``path``."""
    config = build_kubeconfig(server, token, name, ca_pem)
    text = yaml.safe_dump(config.model_dump(by_alias=True, exclude_none=True), sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path
