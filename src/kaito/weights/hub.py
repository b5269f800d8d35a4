"""The model hub's HTTP protocol: file listing at a revision, and resumable, verified file downloads."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import httpx
import structlog
from pydantic import TypeAdapter, ValidationError

from kaito.weights.cache import disk_full, partial_path, sha256_of
from kaito.weights.errors import (
    ModelNotFound,
    WeightsCorrupted,
    WeightsError,
    WeightsSourceError,
    access_denied,
)
from kaito.weights.manifest import HubModelInfo, HubTreeEntry, WeightFile
from kaito.weights.progress import Progress

log = structlog.get_logger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
CHUNK_BYTES = 1 << 20
_TREE = TypeAdapter(list[HubTreeEntry])
_NOT_FOUND_CODES = {"RepoNotFound", "RevisionNotFound", "EntryNotFound"}


class HubUnreachable(WeightsSourceError):
    """The hub could not be reached at all (a cached copy may still be used)."""


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


class HubClient:
    """Reads one hub; `secret` names the Kubernetes Secret the token came from, for error messages."""

    def __init__(
        self,
        endpoint: str | None = None,
        token: str | None = None,
        *,
        secret: str | None = None,
        retries: int = 5,
        retry_delay: float = 0.2,
        timeout: float = 60.0,
    ) -> None:
        self.endpoint = (endpoint or hub_endpoint()).rstrip("/")
        self._token = token or None
        self._secret = secret
        self._retries = retries
        self._retry_delay = retry_delay
        headers = {"User-Agent": "kaito-weights"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        self._http = httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(timeout, connect=10.0), follow_redirects=True
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> HubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _check(self, response: httpx.Response, repo: str, revision: str, what: str) -> None:
        if response.status_code in (401, 403):
            code = response.headers.get("x-error-code", "")
            if code in _NOT_FOUND_CODES:
                raise ModelNotFound(
                    f"the model hub has no {what} of {repo} at revision {revision!r} ({code}; a private "
                    "repository the token cannot see answers the same way)"
                )
            raise access_denied(repo, response.status_code, self._secret, self._token is not None)
        if response.status_code == 404:
            code = response.headers.get("x-error-code", "RepoNotFound")
            subject = {"RevisionNotFound": f"revision {revision!r} of {repo}"}.get(code, f"{what} of {repo}")
            raise ModelNotFound(
                f"the model hub has no {subject} (HTTP 404, {code}); check the preset's repository "
                "and revision"
            )
        if response.is_error:
            raise WeightsSourceError(
                f"the model hub answered HTTP {response.status_code} for {what} of {repo}@{revision}"
            )

    async def _get(self, url: str, repo: str, revision: str, what: str) -> httpx.Response:
        try:
            response = await self._http.get(url)
        except httpx.TransportError as err:
            raise HubUnreachable(f"cannot reach the model hub at {self.endpoint}: {err!r}") from err
        self._check(response, repo, revision, what)
        return response

    async def listing(self, repo: str, revision: str) -> tuple[str | None, list[WeightFile]]:
        """The commit `revision` resolves to, and every file of the repository at it."""
        base = f"{self.endpoint}/api/models/{repo}"
        info_response = await self._get(f"{base}/revision/{quote(revision, safe='')}", repo, revision, "info")
        try:
            info = HubModelInfo.model_validate_json(info_response.content)
        except ValidationError as err:
            raise WeightsSourceError(f"the model hub's info for {repo} is unreadable: {err}") from err
        pinned = info.sha or revision
        url: str | None = f"{base}/tree/{quote(pinned, safe='')}?recursive=true"
        files: list[WeightFile] = []
        while url:
            response = await self._get(url, repo, revision, "file listing")
            try:
                entries = _TREE.validate_json(response.content)
            except ValidationError as err:
                raise WeightsSourceError(f"the model hub's file listing for {repo} is unreadable") from err
            files.extend(entry.weight_file() for entry in entries if entry.type == "file")
            url = response.links.get("next", {}).get("url")
        if not files:
            raise ModelNotFound(f"{repo} at revision {revision!r} holds no files")
        return info.sha, files

    async def download(
        self, repo: str, revision: str, file: WeightFile, target: Path, progress: Progress
    ) -> str:
        """Fetch `file` into `target` (via `target.partial`, resuming it); return its sha256."""
        url = f"{self.endpoint}/{repo}/resolve/{quote(revision, safe='')}/{quote(file.path)}"
        partial = partial_path(target)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        last_error: str = ""
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(min(5.0, self._retry_delay * 2 ** (attempt - 1)))
            try:
                digest = await self._transfer(url, repo, revision, file, partial, progress)
            except WeightsError:
                raise
            except _Oversize as err:
                last_error = str(err)
                progress.rewind(err_size := await asyncio.to_thread(_existing_size, partial))
                log.warning("weights file longer than listed", file=file.path, bytes=err_size)
                await asyncio.to_thread(partial.unlink, True)
                continue
            except (httpx.HTTPError, _Interrupted) as err:  # dropped: resume from what is on disk
                last_error = repr(err)
                log.warning("weights download interrupted", file=file.path, attempt=attempt, error=last_error)
                continue
            except OSError as err:
                full = disk_full(err, target.parent, file.size)
                if full is not None:
                    raise full from err
                raise WeightsSourceError(f"cannot write {target}: {err}") from err
            if file.sha256 is not None and digest != file.sha256:
                last_error = f"sha256 mismatch: {digest} instead of {file.sha256}"
                log.warning("weights file corrupted in transit", file=file.path, error=last_error)
                progress.rewind(file.size)
                await asyncio.to_thread(partial.unlink, True)
                continue
            await asyncio.to_thread(partial.replace, target)
            return digest
        if "mismatch" in last_error:
            raise WeightsCorrupted(f"{repo}/{file.path} kept arriving corrupted: {last_error}")
        raise WeightsSourceError(
            f"downloading {repo}/{file.path} failed {self._retries + 1} times; last error: {last_error}"
        )

    async def _transfer(
        self, url: str, repo: str, revision: str, file: WeightFile, partial: Path, progress: Progress
    ) -> str:
        offset = await asyncio.to_thread(_existing_size, partial)
        if offset > file.size:
            progress.rewind(offset)
            await asyncio.to_thread(partial.unlink, True)
            offset = 0
        if offset == file.size:
            return (await asyncio.to_thread(sha256_of, partial)).hexdigest()
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        async with self._http.stream("GET", url, headers=headers) as response:
            if response.is_error:
                await response.aread()
                self._check(response, repo, revision, f"file {file.path}")
            if offset and response.status_code != 206:  # the server ignored Range: start over
                progress.rewind(offset)
                offset = 0
            hasher = await asyncio.to_thread(sha256_of, partial, offset) if offset else hashlib.sha256()
            out = await asyncio.to_thread(partial.open, "ab" if offset else "wb")
            # Received bytes are batched into large writes, and flushed even when the body breaks off,
            # so a resume starts exactly where the connection dropped.
            pending = bytearray()
            written = offset
            try:
                async for chunk in response.aiter_bytes():
                    pending += chunk
                    written += len(chunk)
                    progress.tick(len(chunk))
                    if len(pending) >= CHUNK_BYTES:
                        await asyncio.to_thread(_write_and_hash, out, hasher, bytes(pending))
                        pending.clear()
            finally:
                try:
                    if pending:
                        await asyncio.to_thread(_write_and_hash, out, hasher, bytes(pending))
                finally:
                    await asyncio.to_thread(out.close)
        if written < file.size:  # a clean close before the end: resume like a dropped connection
            raise _Interrupted(f"{file.path}: the body ended at {written} of {file.size} bytes")
        if written > file.size:
            raise _Oversize(f"mismatch: {file.path} is {written} bytes, the hub lists {file.size}")
        return hasher.hexdigest()


class _Interrupted(Exception):
    """The body stopped short without a transport error."""


class _Oversize(Exception):
    """The body ran past the listed size: the partial file is garbage."""


def _existing_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _write_and_hash(out: BinaryIO, hasher: hashlib._Hash, chunk: bytes) -> None:
    out.write(chunk)
    hasher.update(chunk)
