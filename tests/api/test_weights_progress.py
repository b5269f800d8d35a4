"""The weights progress log line: what the init container writes and the reconciler reads back and shows."""

from __future__ import annotations

import json

import pytest

from kaito.api.weights import (
    GIB,
    KIB,
    MIB,
    WEIGHTS_PROGRESS_EVENT,
    WeightsProgress,
    format_rate,
    latest_progress,
    parse_progress_line,
    progress_summary,
)


def _line(**fields: object) -> str:
    """A progress line as structlog's JSON renderer writes it (with its own keys around ours)."""
    body = {"event": WEIGHTS_PROGRESS_EVENT, "level": "info", "timestamp": "2026-01-01T00:00:00Z"}
    return json.dumps(body | fields)


def test_summary_reads_like_a_person_would_say_it() -> None:
    assert (
        progress_summary(int(3.1 * GIB), int(7.1 * GIB), 210 * MIB)
        == "downloading weights: 3.1/7.1 GiB, 210 MiB/s"
    )


@pytest.mark.parametrize(
    ("done", "total", "rate", "phase", "expected"),
    [
        (300 * MIB, 900 * MIB, 12.4 * MIB, "downloading", "downloading weights: 300.0/900.0 MiB, 12 MiB/s"),
        (100 * KIB, 512 * KIB, 40 * KIB, "downloading", "downloading weights: 100.0/512.0 KiB, 40 KiB/s"),
        (0, int(7.1 * GIB), None, "downloading", "downloading weights: 0.0/7.1 GiB"),
        (GIB, 2 * GIB, 0.0, "downloading", "downloading weights: 1.0/2.0 GiB, stalled"),
        (GIB, 20 * GIB, 1.5 * GIB, "downloading", "downloading weights: 1.0/20.0 GiB, 1.5 GiB/s"),
        (0, 2 * GIB, None, "verifying", "verifying cached weights: 2.0 GiB"),
        (5 * MIB, 5 * MIB, None, "ready", "weights ready: 5.0/5.0 MiB"),
        (0, 0, None, "checking", "checking the model's files"),
    ],
)
def test_summary_units_follow_the_model_size(
    done: int, total: int, rate: float | None, phase: str, expected: str
) -> None:
    assert progress_summary(done, total, rate, phase) == expected


def test_rate_units() -> None:
    assert format_rate(210 * MIB) == "210 MiB/s"
    assert format_rate(900 * KIB) == "900 KiB/s"
    assert format_rate(2.25 * GIB) == "2.2 GiB/s"
    assert format_rate(0) == "stalled"


def test_a_logged_line_parses_back_into_its_numbers() -> None:
    line = _line(
        model="microsoft/phi-4@main",
        phase="downloading",
        bytes_done=3 * GIB,
        bytes_total=7 * GIB,
        rate_bytes_per_s=210 * MIB,
        summary="downloading weights: 3.0/7.0 GiB, 210 MiB/s",
        logger="kaito.weights.progress",
    )
    parsed = parse_progress_line(line)
    assert parsed == WeightsProgress(
        model="microsoft/phi-4@main",
        phase="downloading",
        bytes_done=3 * GIB,
        bytes_total=7 * GIB,
        rate_bytes_per_s=210 * MIB,
    )
    assert parsed is not None
    assert parsed.summary() == "downloading weights: 3.0/7.0 GiB, 210 MiB/s"


def test_the_model_round_trips_through_json() -> None:
    progress = WeightsProgress(phase="downloading", bytes_done=10, bytes_total=20, rate_bytes_per_s=None)
    assert parse_progress_line(progress.model_dump_json()) == progress


@pytest.mark.parametrize(
    "line",
    [
        "",
        "downloading weights progress...",  # names the event, is not JSON
        "Traceback (most recent call last):",
        '{"event": "weights ready", "bytes": 12}',
        '["weights progress", 1, 2]',
        '{"event": "weights progress", "bytes_done": -5, "bytes_total": 10}',
        '{"event": "weights progress", "bytes_done": "many"}',
        '{"event": "weights progress", "bytes_done": 1',  # cut short (limitBytes)
        "\x00\xff weights progress garbage",
    ],
)
def test_other_lines_are_not_progress(line: str) -> None:
    assert parse_progress_line(line) is None


def test_the_newest_progress_line_wins() -> None:
    log = "\n".join(
        [
            "starting",
            _line(phase="downloading", bytes_done=1, bytes_total=10),
            _line(phase="downloading", bytes_done=6, bytes_total=10, rate_bytes_per_s=2048),
            '{"event": "weights cache incomplete or damaged", "level": "warning"}',
            "a plain last line",
            '{"event": "weights progress", "bytes_do',  # a torn final line
        ]
    )
    newest = latest_progress(log)
    assert newest is not None
    assert (newest.bytes_done, newest.rate_bytes_per_s) == (6, 2048)
    assert latest_progress("nothing to see\n{}\n") is None
    assert latest_progress("") is None
