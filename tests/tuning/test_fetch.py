"""The data step: URL downloads refuse private/loopback/link-local/metadata addresses (after resolution,
pinned to the checked address), honour size limits, retry transient failures and check the content."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from kaito.cli.main import main
from kaito.tuning.address_guard import AddressPolicy, ForbiddenAddressError
from kaito.tuning.fetch import FetchError, FetchSettings, download_urls

LOOPBACK_ALLOWED = AddressPolicy.allowing(["127.0.0.0/8"])
CSV = b"instruction,response\nhi,hello\n"
PARQUET_LIKE = b"PAR1" + b"\0" * 32 + b"PAR1"


@dataclass
class DataServer:
    base: str
    port: int
    hosts: list[str] = field(default_factory=list)
    flaky_left: int = 0


@pytest.fixture
async def server() -> AsyncIterator[DataServer]:
    state = DataServer(base="", port=0)

    async def handle(request: web.Request) -> web.StreamResponse:
        state.hosts.append(request.headers.get("Host", ""))
        name = request.match_info["name"]
        if name == "flaky.csv":
            if state.flaky_left > 0:
                state.flaky_left -= 1
                return web.Response(status=503)
            return web.Response(body=CSV)
        if name == "to-metadata.csv":
            raise web.HTTPFound("http://169.254.169.254/latest/meta-data")
        if name == "to-data.csv":
            raise web.HTTPFound("/data.csv")
        if name == "page.csv":
            return web.Response(text="<!DOCTYPE html><html>login</html>", content_type="text/plain")
        if name == "fake.parquet":
            return web.Response(body=b"not parquet at all")
        if name == "real.parquet":
            return web.Response(body=PARQUET_LIKE)
        if name == "big.csv":
            return web.Response(body=CSV * 100)
        if name == "streamed.csv":
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            for _ in range(100):
                await response.write(CSV)
            await response.write_eof()
            return response
        if name == "export":
            return web.Response(body=b'{"text": "x"}\n', content_type="application/x-ndjson")
        if name == "data.csv":
            return web.Response(body=CSV, content_type="text/csv")
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.port = int(runner.addresses[0][1])
    state.base = f"http://127.0.0.1:{state.port}"
    yield state
    await runner.cleanup()


def settings(policy: AddressPolicy = LOOPBACK_ALLOWED, **changes: object) -> FetchSettings:
    values: dict[str, object] = {
        "policy": policy,
        "attempts": 3,
        "backoff_seconds": 0.01,
        "timeout_seconds": 30,
    }
    values.update(changes)
    return FetchSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/data.csv",
        "http://10.1.2.3/data.csv",
        "http://192.168.0.10/data.csv",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/data.csv",
        "http://[::ffff:127.0.0.1]/data.csv",
        "http://2130706433/data.csv",
        "http://0x7f.1/data.csv",
        "http://100.64.0.1/data.csv",
        "http://metadata.google.internal/computeMetadata/v1/",
        "file:///etc/passwd",
        "ftp://example.com/data.csv",
        "http://user:pw@example.com/data.csv",
    ],
)
async def test_forbidden_urls_are_refused_before_any_traffic(tmp_path: Path, url: str) -> None:
    with pytest.raises(ForbiddenAddressError):
        await download_urls([url], tmp_path, settings(AddressPolicy()))
    assert not await asyncio.to_thread(lambda: list(tmp_path.iterdir()))


async def test_names_are_checked_after_resolution(tmp_path: Path, server: DataServer) -> None:
    # `localhost` resolves (from /etc/hosts) to loopback: refused though the name itself looks harmless.
    with pytest.raises(ForbiddenAddressError, match="resolves to"):
        await download_urls([f"http://localhost:{server.port}/data.csv"], tmp_path, settings(AddressPolicy()))
    assert server.hosts == []


async def test_a_name_with_any_private_answer_is_refused(tmp_path: Path) -> None:
    async def rebinding(host: str, port: int, family: int) -> list[tuple[int, str]]:
        return [(socket.AF_INET, "93.184.216.34"), (socket.AF_INET, "10.0.0.7")]

    with pytest.raises(ForbiddenAddressError, match=r"10\.0\.0\.7"):
        await download_urls(
            ["http://data.example.test/x.csv"], tmp_path, settings(AddressPolicy()), rebinding
        )


async def test_the_connection_goes_to_the_checked_address(tmp_path: Path, server: DataServer) -> None:
    lookups: list[str] = []

    async def pinned(host: str, port: int, family: int) -> list[tuple[int, str]]:
        lookups.append(host)
        return [(socket.AF_INET, "127.0.0.1")]

    (path,) = await download_urls(
        [f"http://data.example.test:{server.port}/data.csv"], tmp_path, settings(), pinned
    )
    assert path.read_bytes() == CSV
    assert lookups == ["data.example.test"]
    assert server.hosts == [f"data.example.test:{server.port}"]  # name kept for Host/SNI, IP pinned


async def test_metadata_addresses_stay_refused_even_in_allowed_networks(tmp_path: Path) -> None:
    policy = AddressPolicy.allowing(["169.254.0.0/16"])
    with pytest.raises(ForbiddenAddressError, match="metadata"):
        await download_urls(["http://169.254.169.254/latest"], tmp_path, settings(policy))


async def test_redirects_are_checked_hop_by_hop(tmp_path: Path, server: DataServer) -> None:
    with pytest.raises(ForbiddenAddressError, match=r"169\.254\.169\.254"):
        await download_urls([f"{server.base}/to-metadata.csv"], tmp_path, settings())
    (path,) = await download_urls([f"{server.base}/to-data.csv"], tmp_path, settings())
    assert path.name == "000-data.csv"
    assert path.read_bytes() == CSV


async def test_size_limits_hold_with_and_without_content_length(tmp_path: Path, server: DataServer) -> None:
    for name in ("big.csv", "streamed.csv"):
        with pytest.raises(FetchError, match="limit"):
            await download_urls([f"{server.base}/{name}"], tmp_path, settings(max_bytes=len(CSV) * 10))
    assert not await asyncio.to_thread(lambda: [p for p in tmp_path.iterdir() if p.suffix == ".csv"])


async def test_transient_failures_are_retried_and_permanent_ones_are_not(
    tmp_path: Path, server: DataServer
) -> None:
    server.flaky_left = 2
    (path,) = await download_urls([f"{server.base}/flaky.csv"], tmp_path, settings())
    assert path.read_bytes() == CSV
    assert len(server.hosts) == 3
    server.flaky_left = 5
    with pytest.raises(FetchError, match="gave up after 3 attempts"):
        await download_urls([f"{server.base}/flaky.csv"], tmp_path, settings())
    before = len(server.hosts)
    with pytest.raises(FetchError, match="HTTP 404"):
        await download_urls([f"{server.base}/missing.csv"], tmp_path, settings())
    assert len(server.hosts) == before + 1


async def test_content_must_match_the_format(tmp_path: Path, server: DataServer) -> None:
    with pytest.raises(FetchError, match="HTML"):
        await download_urls([f"{server.base}/page.csv"], tmp_path, settings())
    with pytest.raises(FetchError, match="not a parquet file"):
        await download_urls([f"{server.base}/fake.parquet"], tmp_path, settings())
    paths = await download_urls(
        [f"{server.base}/real.parquet", f"{server.base}/export"], tmp_path, settings()
    )
    assert [p.name for p in paths] == ["000-real.parquet", "001-export.jsonl"]


def test_the_fetch_command_reports_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["tune", "fetch", "--output", str(tmp_path), "--url", "http://169.254.169.254/x.csv"])
    assert code == 1
    assert "metadata" in capsys.readouterr().err
