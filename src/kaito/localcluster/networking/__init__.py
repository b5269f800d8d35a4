"""Reaching workloads as a kubectl user does: Endpoints/EndpointSlices and the loopback service proxy.

`Networking()` is a `LocalCluster` component (loaded on first use, so the API server can import the pure
rules of `endpoints` cheaply: its proxy subresources share them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kaito.localcluster.networking.component import Networking

__all__ = ["Networking"]


def __getattr__(name: str) -> object:
    if name == "Networking":
        from kaito.localcluster.networking.component import Networking

        return Networking
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
