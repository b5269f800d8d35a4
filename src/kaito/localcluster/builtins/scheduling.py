"""Pure scheduling: filter nodes for a pod (selector, affinity, taints, readiness, resources) and pick one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from kaito.localcluster.builtins.objects import Container, Node, Pod, Taint, Toleration
from kaito.localcluster.builtins.quantity import parse_quantity
from kaito.localcluster.builtins.selectors import term_matches

_FILTERED_EFFECTS = ("NoSchedule", "NoExecute")


@dataclass(frozen=True)
class Decision:
    """Where a pod goes, or why it cannot go anywhere (the message a real scheduler writes)."""

    node_name: str | None
    message: str = ""


def pod_requests(pod: Pod) -> dict[str, Decimal]:
    """Effective requests: sum over containers, at least the largest init container (limits stand in)."""
    total: dict[str, Decimal] = {}
    for container in pod.spec.containers:
        for name, amount in _container_requests(container).items():
            total[name] = total.get(name, Decimal(0)) + amount
    for container in pod.spec.init_containers:
        for name, amount in _container_requests(container).items():
            total[name] = max(total.get(name, Decimal(0)), amount)
    return total


def _container_requests(container: Container) -> dict[str, Decimal]:
    merged = {**container.resources.limits, **container.resources.requests}
    return {name: parse_quantity(value) for name, value in merged.items()}


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.operator == "Exists":
        return not toleration.key or toleration.key == taint.key
    return toleration.key == taint.key and toleration.value == taint.value


def untolerated_taint(pod: Pod, node: Node) -> Taint | None:
    for taint in node.spec.taints:
        if taint.effect not in _FILTERED_EFFECTS:
            continue
        if not any(tolerates(toleration, taint) for toleration in pod.spec.tolerations):
            return taint
    return None


def matches_node_selection(pod: Pod, node: Node) -> bool:
    labels = node.metadata.labels
    if any(labels.get(key) != value for key, value in pod.spec.node_selector.items()):
        return False
    affinity = pod.spec.affinity.node_affinity if pod.spec.affinity else None
    required = affinity.required_during_scheduling_ignored_during_execution if affinity else None
    if required is None:
        return True
    return any(term_matches(term, labels, node.metadata.name) for term in required.node_selector_terms)


@dataclass
class NodeUsage:
    """What the pods already bound to a node take: their count and summed requests."""

    pods: int = 0
    requests: dict[str, Decimal] = field(default_factory=dict)

    def add(self, requests: dict[str, Decimal]) -> None:
        self.pods += 1
        for name, amount in requests.items():
            self.requests[name] = self.requests.get(name, Decimal(0)) + amount

    @classmethod
    def of(cls, pods: Iterable[Pod]) -> NodeUsage:
        usage = cls()
        for pod in pods:
            usage.add(pod_requests(pod))
        return usage


def insufficient_resources(requests: dict[str, Decimal], node: Node, usage: NodeUsage) -> list[str]:
    """The resources this node lacks for the pod (`cpu`, `nvidia.com/gpu`, ..., or `pods`)."""
    allocatable = {name: parse_quantity(value) for name, value in node.status.allocatable.items()}
    missing = []
    if "pods" in allocatable and usage.pods + 1 > allocatable["pods"]:
        missing.append("pods")
    for name, amount in sorted(requests.items()):
        if amount <= 0:
            continue
        if usage.requests.get(name, Decimal(0)) + amount > allocatable.get(name, Decimal(0)):
            missing.append(name)
    return missing


def _free_fraction(requests: dict[str, Decimal], node: Node, usage: NodeUsage) -> Decimal:
    """Least-allocated scoring on cpu and memory: higher is emptier."""
    score = Decimal(0)
    for name in ("cpu", "memory"):
        allocatable = parse_quantity(node.status.allocatable.get(name, 0))
        if allocatable > 0:
            used = usage.requests.get(name, Decimal(0)) + requests.get(name, Decimal(0))
            score += (allocatable - used) / allocatable
    return score


def schedule(pod: Pod, nodes: Iterable[Node], usage_by_node: dict[str, NodeUsage]) -> Decision:
    """Pick a node for `pod`; `usage_by_node` sums the non-terminal pods already bound to each node."""
    requests = pod_requests(pod)
    reasons: Counter[str] = Counter()
    feasible: list[Node] = []
    node_list = list(nodes)
    empty = NodeUsage()
    for node in node_list:
        failure = _filter(pod, requests, node, usage_by_node.get(node.metadata.name, empty))
        if failure:
            reasons.update(failure)
        else:
            feasible.append(node)
    if not feasible:
        return Decision(None, unschedulable_message(len(node_list), reasons))

    def rank(node: Node) -> tuple[Decimal, int, str]:
        """Emptiest (cpu/memory) first, then fewest pods, then by name."""
        usage = usage_by_node.get(node.metadata.name, empty)
        return -_free_fraction(requests, node, usage), usage.pods, node.metadata.name

    best = min(feasible, key=rank)
    return Decision(best.metadata.name)


def _filter(pod: Pod, requests: dict[str, Decimal], node: Node, usage: NodeUsage) -> list[str]:
    if node.spec.unschedulable:
        return ["node(s) were unschedulable"]
    if not node.is_ready():
        return ["node(s) were not ready"]
    if not matches_node_selection(pod, node):
        return ["node(s) didn't match Pod's node affinity/selector"]
    taint = untolerated_taint(pod, node)
    if taint is not None:
        return [f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}"]
    missing = insufficient_resources(requests, node, usage)
    return ["Too many pods" if name == "pods" else f"Insufficient {name}" for name in missing]


def unschedulable_message(node_count: int, reasons: Counter[str]) -> str:
    """E.g. `0/3 nodes are available: 1 node(s) had untolerated taint {sku: gpu}, 2 Insufficient cpu.`"""
    if node_count == 0:
        return "no nodes available to schedule pods"
    parts = ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items()))
    return f"0/{node_count} nodes are available: {parts}."
