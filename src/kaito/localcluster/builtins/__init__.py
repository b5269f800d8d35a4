"""Built-in behaviour of the local cluster: workload controllers, scheduler, simulated nodes, pod runner.

Light to import (no HTTP client): `BuiltinControllers` loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kaito.localcluster.builtins.config import BuiltinsConfig, ImageRuntime
from kaito.localcluster.builtins.names import MANAGED_LABEL, POD_IP, port_annotation
from kaito.localcluster.builtins.nodes import NodeSpec, Taint

if TYPE_CHECKING:
    from kaito.localcluster.builtins.component import BuiltinControllers

__all__ = [
    "MANAGED_LABEL",
    "POD_IP",
    "BuiltinControllers",
    "BuiltinsConfig",
    "ImageRuntime",
    "NodeSpec",
    "Taint",
    "port_annotation",
]


def __getattr__(name: str) -> object:
    if name == "BuiltinControllers":
        from kaito.localcluster.builtins.component import BuiltinControllers

        return BuiltinControllers
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
