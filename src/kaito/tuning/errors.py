"""The error a tuning run stops with when training cannot go ahead (importable without torch)."""

from __future__ import annotations


class TuningError(RuntimeError):
    """Training cannot run as configured; the message says why and what to change."""
