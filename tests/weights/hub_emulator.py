"""A loopback model hub: info/tree listings, revision-pinned resolve URLs with Range, gating, faults."""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

LFS_SUFFIXES = (".safetensors", ".bin")


@dataclass
class HubRepo:
    """One repository: files by path, commits by revision name, and the token a gated repo wants."""

    files: dict[str, bytes]
    revisions: dict[str, str] = field(default_factory=lambda: {"main": "a" * 40})
    token: str | None = None

    def commit(self, revision: str) -> str | None:
        if revision in self.revisions.values():
            return revision
        return self.revisions.get(revision)


@dataclass
class HubCounters:
    bytes_served: int = 0
    resolve_requests: int = 0
    range_requests: int = 0


class HubEmulator:
    """Serves `repos` on 127.0.0.1; `throttle_bps` slows bodies; `drop_after` cuts the next longer body."""

    def __init__(self, repos: dict[str, HubRepo]) -> None:
        self.repos = repos
        self.counters = HubCounters()
        self.throttle_bps: int | None = None
        self.drop_after: int | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> HubEmulator:
        app = web.Application()
        app.router.add_get("/api/models/{org}/{name}/revision/{revision}", self._info)
        app.router.add_get("/api/models/{org}/{name}/tree/{revision}", self._tree)
        app.router.add_get("/{org}/{name}/resolve/{revision}/{path:.+}", self._resolve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _lookup(self, request: web.Request) -> tuple[HubRepo, str]:
        name = f"{request.match_info['org']}/{request.match_info['name']}"
        repo = self.repos.get(name)
        if repo is None:
            raise web.HTTPNotFound(headers={"X-Error-Code": "RepoNotFound"}, text="Repository not found")
        if repo.token is not None:
            auth = request.headers.get("Authorization", "")
            if auth != f"Bearer {repo.token}":
                raise web.HTTPUnauthorized(headers={"X-Error-Code": "GatedRepo"}, text="Access restricted")
        commit = repo.commit(request.match_info["revision"])
        if commit is None:
            raise web.HTTPNotFound(headers={"X-Error-Code": "RevisionNotFound"}, text="Invalid rev id")
        return repo, commit

    async def _info(self, request: web.Request) -> web.Response:
        repo, commit = self._lookup(request)
        body = {
            "id": f"{request.match_info['org']}/{request.match_info['name']}",
            "sha": commit,
            "gated": "manual" if repo.token else False,
            "siblings": [{"rfilename": path} for path in sorted(repo.files)],
        }
        return web.json_response(body)

    async def _tree(self, request: web.Request) -> web.Response:
        repo, _ = self._lookup(request)
        entries = []
        for path, data in sorted(repo.files.items()):
            git_oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            entry: dict[str, object] = {"type": "file", "path": path, "size": len(data), "oid": git_oid}
            if path.endswith(LFS_SUFFIXES):
                entry["lfs"] = {
                    "oid": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "pointerSize": 134,
                }
                entry["size"] = 134  # the pointer file's size, as the real hub lists it
            entries.append(entry)
        return web.json_response(entries)

    async def _resolve(self, request: web.Request) -> web.StreamResponse:
        repo, _ = self._lookup(request)
        data = repo.files.get(request.match_info["path"])
        if data is None:
            raise web.HTTPNotFound(headers={"X-Error-Code": "EntryNotFound"}, text="Entry not found")
        self.counters.resolve_requests += 1
        start = 0
        status = 200
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        ranged = request.headers.get("Range", "")
        if ranged.startswith("bytes="):
            self.counters.range_requests += 1
            start = int(ranged.removeprefix("bytes=").split("-", 1)[0])
            if start >= len(data):
                raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{len(data)}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        headers["Content-Length"] = str(len(body))
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        limit = self.drop_after if self.drop_after is not None and self.drop_after < len(body) else None
        if limit is not None:
            self.drop_after = None  # one drop: the retry gets the rest
        sent = 0
        for offset in range(0, len(body), 64 * 1024):
            chunk = body[offset : offset + 64 * 1024]
            if limit is not None and sent + len(chunk) > limit:
                chunk = chunk[: limit - sent]
                await response.write(chunk)
                self.counters.bytes_served += len(chunk)
                assert request.transport is not None
                request.transport.close()  # the connection drops mid-body
                return response
            await response.write(chunk)
            sent += len(chunk)
            self.counters.bytes_served += len(chunk)
            if self.throttle_bps:
                await asyncio.sleep(len(chunk) / self.throttle_bps)
        await response.write_eof()
        return response


def tiny_model_files(weights_bytes: int = 1_500_000, seed: int = 7) -> dict[str, bytes]:
    """A small model: config, tokenizer, generation config and a safetensors-shaped weights blob."""
    payload = hashlib.sha256(str(seed).encode()).digest() * (weights_bytes // 32 + 1)
    count = (weights_bytes - 256) // 4
    header = json.dumps(
        {"model.embed.weight": {"dtype": "F32", "shape": [count], "data_offsets": [0, count * 4]}}
    ).encode()
    header += b" " * (-len(header) % 8)
    blob = struct.pack("<Q", len(header)) + header + payload[: count * 4]
    config = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2}
    tokenizer = {"version": "1.0", "model": {"type": "BPE", "vocab": {f"t{i}": i for i in range(200)}}}
    return {
        "config.json": json.dumps(config).encode(),
        "generation_config.json": b'{"max_new_tokens": 16}',
        "tokenizer.json": json.dumps(tokenizer).encode(),
        "model.safetensors": blob,
    }


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root
