"""Helpers for adapter tests: push an adapter directory as an image, wait for the server's adapter state."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from kaito.oci.auth import DockerAuthEntry, DockerConfig, Keychain
from kaito.oci.client import RegistryClient
from kaito.oci.image import push_directory
from kaito.oci.reference import parse_reference


async def push_adapter(
    registry_host: str, repository: str, source: Path, user: str = "", password: str = ""
) -> str:
    image = f"{registry_host}/{repository}"
    keychain = Keychain(
        [DockerConfig(auths={registry_host: DockerAuthEntry(username=user, password=password)})]
        if user
        else []
    )
    async with RegistryClient(keychain) as client:
        await push_directory(client, parse_reference(image), source)
    return image


async def adapter_states(http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    report = (await http.get("/v1/kaito/adapters")).json()
    return {entry["name"]: entry for entry in report["adapters"]}


async def served_models(http: httpx.AsyncClient) -> set[str]:
    return {m["id"] for m in (await http.get("/v1/models")).json()["data"]}


async def wait_for(http: httpx.AsyncClient, condition: Any, within: float = 60.0) -> float:
    """Poll until `await condition(http)` is truthy; return the seconds it took."""
    started = time.monotonic()
    last: object = None
    while time.monotonic() - started < within:
        last = await condition(http)
        if last:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {within}s; last value {last!r}")


async def greedy(http: httpx.AsyncClient, model: str, prompt: str = "Hello", tokens: int = 12) -> str:
    response = await http.post(
        "/v1/completions", json={"model": model, "prompt": prompt, "max_tokens": tokens, "temperature": 0}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["text"])
