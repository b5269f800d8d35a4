"""The data step (`kaito tune fetch`): download `input.urls` safely, or pull `input.image`, into the data dir.

Downloads: http(s) only, through `GuardedResolver` (no private/loopback/link-local/metadata addresses),
redirects checked hop by hop, a size limit, retries with backoff on transient failures, and a content
check that the bytes are the data format they claim to be.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import aiohttp
import structlog

from kaito.tuning.address_guard import (
    AddressPolicy,
    ForbiddenAddressError,
    GuardedResolver,
    Lookup,
    check_url,
)

log = structlog.get_logger(__name__)

DEFAULT_MAX_BYTES = 20 * 2**30
MAX_REDIRECTS = 5
CHUNK = 1 << 20
SUFFIXES = (".csv", ".json", ".jsonl", ".parquet")
CONTENT_TYPES = {
    "text/csv": ".csv",
    "application/json": ".json",
    "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl",
    "application/vnd.apache.parquet": ".parquet",
    "application/x-parquet": ".parquet",
}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


class FetchError(RuntimeError):
    """A download failed for good; the message names the URL and the reason."""


class _Transient(RuntimeError):
    """A failure worth retrying (connection reset, timeout, 5xx, 429)."""


@dataclass(frozen=True)
class FetchSettings:
    policy: AddressPolicy = field(default_factory=AddressPolicy)
    max_bytes: int = DEFAULT_MAX_BYTES
    attempts: int = 3
    backoff_seconds: float = 1.0
    timeout_seconds: float = 600.0


def _target_name(url: str, content_type: str, index: int) -> str:
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    name = _UNSAFE_NAME.sub("_", name).lstrip(".") or "data"
    if not name.lower().endswith(SUFFIXES):
        suffix = CONTENT_TYPES.get(content_type)
        if suffix is None:
            raise FetchError(
                f"{url}: cannot tell the data format: the name does not end in {', '.join(SUFFIXES)} and "
                f"the server says Content-Type {content_type or 'nothing'!r}"
            )
        name += suffix
    return f"{index:03d}-{name}"


def check_content(path: Path, url: str, suffix: str) -> None:
    """The file's bytes must match its format `suffix` (an HTML error page saved as data.csv fails here)."""
    with path.open("rb") as handle:
        head = handle.read(4096)
        handle.seek(max(0, path.stat().st_size - 4))
        tail = handle.read(4)
    if not head:
        raise FetchError(f"{url}: the download is empty")
    if suffix == ".parquet":
        if not (head.startswith(b"PAR1") and tail == b"PAR1"):
            raise FetchError(f"{url}: not a parquet file (no PAR1 magic)")
        return
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:15].lower().startswith((b"<!doctype", b"<html")):
        raise FetchError(f"{url}: the server sent an HTML page, not {suffix[1:]} data")
    try:
        stripped.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(stripped) - 4:  # a multi-byte character cut at the 4 KiB boundary is fine
            raise FetchError(f"{url}: not UTF-8 text ({suffix[1:]} data must be)") from err
    if suffix in (".json", ".jsonl") and stripped[:1] not in (b"{", b"["):
        raise FetchError(f"{url}: not JSON (it should start with '{{' or '[')")


async def _download_once(
    session: aiohttp.ClientSession, url: str, dest_dir: Path, index: int, settings: FetchSettings
) -> Path:
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        check_url(current, settings.policy)
        try:
            async with session.get(current, allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308):
                    location = response.headers.get("Location")
                    if not location:
                        raise FetchError(f"{current}: redirect without a Location")
                    current = urljoin(current, location)
                    continue
                if response.status == 429 or response.status >= 500:
                    raise _Transient(f"{current}: HTTP {response.status}")
                if response.status != 200:
                    raise FetchError(f"{current}: HTTP {response.status} {response.reason or ''}".rstrip())
                content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if content_type == "text/html":
                    raise FetchError(f"{current}: the server sent an HTML page, not training data")
                declared = response.content_length
                if declared is not None and declared > settings.max_bytes:
                    raise FetchError(f"{current}: {declared} bytes exceeds the limit of {settings.max_bytes}")
                target = dest_dir / _target_name(current, content_type, index)
                partial = target.with_name(f".{target.name}.part")
                size = 0
                out = await asyncio.to_thread(partial.open, "wb")
                try:
                    async for chunk in response.content.iter_chunked(CHUNK):
                        size += len(chunk)
                        if size > settings.max_bytes:
                            raise FetchError(
                                f"{current}: larger than the limit of {settings.max_bytes} bytes"
                            )
                        await asyncio.to_thread(out.write, chunk)
                finally:
                    out.close()
                try:
                    await asyncio.to_thread(check_content, partial, current, target.suffix.lower())
                except FetchError:
                    partial.unlink(missing_ok=True)
                    raise
                partial.replace(target)
                log.info("downloaded", url=url, file=target.name, bytes=size)
                return target
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as err:
            raise _Transient(f"{current}: {type(err).__name__}: {err}") from err
    raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")


async def download_urls(
    urls: list[str], dest_dir: Path, settings: FetchSettings, lookup: Lookup | None = None
) -> list[Path]:
    """Download every URL into `dest_dir`, checked and retried; raises FetchError / ForbiddenAddressError."""
    for url in urls:
        check_url(url, settings.policy)  # refuse before any network traffic at all
    await asyncio.to_thread(dest_dir.mkdir, parents=True, exist_ok=True)
    resolver = (
        GuardedResolver(settings.policy) if lookup is None else GuardedResolver(settings.policy, lookup)
    )
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
    timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds, sock_connect=30)
    written = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session:
        for index, url in enumerate(urls):
            for attempt in range(1, settings.attempts + 1):
                try:
                    written.append(await _download_once(session, url, dest_dir, index, settings))
                    break
                except _Transient as err:
                    if attempt == settings.attempts:
                        raise FetchError(f"{err} (gave up after {attempt} attempts)") from err
                    delay = settings.backoff_seconds * 2 ** (attempt - 1)
                    log.warning("download failed; retrying", url=url, error=str(err), retry_in=delay)
                    await asyncio.sleep(delay)
    return written


__all__ = ["FetchError", "FetchSettings", "ForbiddenAddressError", "check_content", "download_urls"]
