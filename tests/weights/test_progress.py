"""Progress: the gauges move during a download, the status file reads as one line, the startup budget."""

from __future__ import annotations

import asyncio
import json

from prometheus_client import CollectorRegistry

from kaito.weights import PROGRESS_NAME, fetch_weights, read_status, startup_budget_seconds, summary_line
from kaito.weights.progress import GIB, MIB

from .conftest import PUBLIC_REPO, RequestFactory
from .hub_emulator import HubEmulator


def gauge(registry: CollectorRegistry, name: str) -> float:
    value = registry.get_sample_value(name, {"model": f"{PUBLIC_REPO}@main"})
    return -1.0 if value is None else value


async def test_gauges_and_status_file_move_during_a_download(
    hub: HubEmulator, make_request: RequestFactory
) -> None:
    hub.throttle_bps = 1_200_000  # ~1.3 s for the model: long enough to watch
    registry = CollectorRegistry()
    request = make_request(metrics_registry=registry)
    task = asyncio.create_task(fetch_weights(request))
    seen_done: set[float] = set()
    seen_lines: set[str] = set()
    total = sum(len(data) for data in hub.repos[PUBLIC_REPO].files.values())
    while not task.done():
        seen_done.add(gauge(registry, "kaito_weights_bytes_done"))
        status = await read_status(request.cache_dir)
        if status is not None:
            seen_lines.add(str(status["message"]))
        await asyncio.sleep(0.02)
    await task
    assert gauge(registry, "kaito_weights_bytes_total") == total
    assert gauge(registry, "kaito_weights_bytes_done") == total
    assert gauge(registry, "kaito_weights_download_rate_bytes") == 0  # finished: no rate
    assert any(0 < value < total for value in seen_done), seen_done
    assert any(line.startswith("downloading weights: ") and line.endswith(" MiB/s") for line in seen_lines)
    final = json.loads((request.cache_dir / PROGRESS_NAME).read_text())
    assert final["message"] == "weights ready: 1.4/1.4 MiB"


def test_summary_line_reads_like_a_person_would_say_it() -> None:
    assert (
        summary_line(int(3.1 * GIB), int(7.1 * GIB), 210 * MIB)
        == "downloading weights: 3.1/7.1 GiB, 210 MiB/s"
    )
    assert summary_line(5 * MIB, 10 * MIB, 0, "ready") == "weights ready: 5.0/10.0 MiB"
    assert summary_line(0, 2 * GIB, 0, "verifying") == "verifying cached weights: 2.0 GiB"


def test_startup_budget_grows_with_the_weights() -> None:
    small, phi3 = startup_budget_seconds(0), startup_budget_seconds(int(7.12 * GIB))
    assert small == 300
    assert phi3 == 300 + 146  # 7.12 GiB at 50 MiB/s
    assert startup_budget_seconds(int(131.4 * GIB)) > 45 * 60
