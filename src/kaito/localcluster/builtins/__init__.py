"""Built-in behaviour of the local cluster: workload controllers, scheduler, simulated nodes, pod runner."""

from kaito.localcluster.builtins.component import BuiltinControllers
from kaito.localcluster.builtins.config import BuiltinsConfig, ImageRuntime
from kaito.localcluster.builtins.nodes import MANAGED_LABEL, NodeSpec, Taint
from kaito.localcluster.builtins.runner.pod_worker import port_annotation

__all__ = [
    "MANAGED_LABEL",
    "BuiltinControllers",
    "BuiltinsConfig",
    "ImageRuntime",
    "NodeSpec",
    "Taint",
    "port_annotation",
]
