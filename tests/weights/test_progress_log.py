"""The progress lines in the init container's log: the real CLI's JSON lines parse back, and keep coming."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kaito.api.weights import WEIGHTS_PROGRESS_EVENT, WeightsProgress, parse_progress_line
from kaito.weights import progress as progress_module
from kaito.weights.progress import Progress, weights_metrics

from .conftest import PUBLIC_REPO
from .hub_emulator import HubEmulator


async def test_the_real_cli_logs_parseable_progress_that_grows(hub: HubEmulator, tmp_path: Path) -> None:
    """`kaito weights fetch` in its own process (its real JSON logging) against the loopback hub."""
    hub.throttle_bps = 600_000  # ~2.5 s for the model's weights: several progress lines
    total = sum(len(data) for data in hub.repos[PUBLIC_REPO].files.values())
    args = ["weights", "fetch", "--repo", PUBLIC_REPO, "--cache", str(tmp_path / "cache")]
    args += ["--hub-endpoint", hub.url, "--progress-interval", "0.2"]
    args += ["--termination-log", str(tmp_path / "termination-log")]
    env = {key: value for key, value in os.environ.items() if key not in ("HF_TOKEN", "HF_ENDPOINT")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kaito.cli.main", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=40)
    assert process.returncode == 0, err.decode()[-2000:]
    model_dir = Path(out.decode().strip().splitlines()[-1])
    assert model_dir.is_relative_to(tmp_path / "cache")
    lines = [parsed for line in err.decode().splitlines() if (parsed := parse_progress_line(line))]
    downloading = [line for line in lines if line.phase == "downloading"]
    assert lines[-1].phase == "ready"
    assert (lines[-1].bytes_done, lines[-1].bytes_total) == (total, total)
    assert all(line.bytes_total == total for line in downloading)
    done = [line.bytes_done for line in downloading]
    assert done == sorted(done), done  # never goes back (no corruption here)
    partial = {value for value in done if 0 < value < total}
    assert len(partial) >= 2, done  # seen mid-way, more than once
    measured = [line for line in downloading if line.rate_bytes_per_s is not None]
    assert measured
    assert all(line.rate_bytes_per_s for line in measured)
    assert measured[-1].summary().startswith("downloading weights: ")
    assert measured[-1].summary().endswith("/s")


class _Recorder:
    """Stands in for the module's structlog logger: keeps each event and its fields."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    error = warning = info

    def progress(self) -> list[WeightsProgress]:
        return [
            WeightsProgress.model_validate(fields)
            for event, fields in self.events
            if event == WEIGHTS_PROGRESS_EVENT
        ]


async def _until(check: Any, what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_a_stalled_download_keeps_reporting_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """No bytes arrive, yet lines keep coming at the cadence, with the rate down to `stalled`; the
    heartbeat ends with the download."""
    recorder = _Recorder()
    monkeypatch.setattr(progress_module, "log", recorder)
    progress = Progress("m", metrics=weights_metrics(CollectorRegistry()), interval=0.1)
    progress.start(1000, 0)
    progress.tick(100)
    await _until(lambda: any(p.rate_bytes_per_s == 0 for p in recorder.progress()), "a stalled line")
    stalled = next(p for p in recorder.progress() if p.rate_bytes_per_s == 0)
    assert stalled.summary() == "downloading weights: 0.1/1.0 KiB, stalled"
    progress.finish()
    count = len(recorder.progress())
    assert recorder.progress()[-1].phase == "ready"
    await asyncio.sleep(0.3)  # three intervals: a heartbeat still running would have logged again
    assert len(recorder.progress()) == count
