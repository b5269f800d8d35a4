"""Pure scheduling: filter nodes for a pod (selector, affinity, taints, readiness, resources) and pick one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
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


def insufficient_resources(pod: Pod, node: Node, bound: Iterable[Pod]) -> list[str]:
    """The resources this node lacks for the pod (`cpu`, `nvidia.com/gpu`, ..., or `pods`)."""
    requests = pod_requests(pod)
    used: dict[str, Decimal] = {}
    count = 0
    for other in bound:
        count += 1
        for name, amount in pod_requests(other).items():
            used[name] = used.get(name, Decimal(0)) + amount
    allocatable = {name: parse_quantity(value) for name, value in node.status.allocatable.items()}
    missing = []
    if "pods" in allocatable and count + 1 > allocatable["pods"]:
        missing.append("pods")
    for name, amount in sorted(requests.items()):
        if amount <= 0:
            continue
        if used.get(name, Decimal(0)) + amount > allocatable.get(name, Decimal(0)):
            missing.append(name)
    return missing


def _free_fraction(pod: Pod, node: Node, bound: list[Pod]) -> Decimal:
    """Least-allocated scoring on cpu and memory: higher is emptier."""
    score = Decimal(0)
    used: dict[str, Decimal] = {}
    for other in [*bound, pod]:
        for name, amount in pod_requests(other).items():
            used[name] = used.get(name, Decimal(0)) + amount
    for name in ("cpu", "memory"):
        allocatable = parse_quantity(node.status.allocatable.get(name, 0))
        if allocatable > 0:
            score += (allocatable - used.get(name, Decimal(0))) / allocatable
    return score


def schedule(pod: Pod, nodes: Iterable[Node], pods_by_node: dict[str, list[Pod]]) -> Decision:
    """Pick a node for `pod`; `pods_by_node` holds the non-terminal pods already bound to each node."""
    reasons: Counter[str] = Counter()
    feasible: list[Node] = []
    node_list = list(nodes)
    for node in node_list:
        failure = _filter(pod, node, pods_by_node.get(node.metadata.name, []))
        if failure:
            reasons.update(failure)
        else:
            feasible.append(node)
    if not feasible:
        return Decision(None, unschedulable_message(len(node_list), reasons))

    def rank(node: Node) -> tuple[Decimal, int, str]:
        """Emptiest (cpu/memory) first, then fewest pods, then by name."""
        bound = pods_by_node.get(node.metadata.name, [])
        return -_free_fraction(pod, node, bound), len(bound), node.metadata.name

    best = min(feasible, key=rank)
    return Decision(best.metadata.name)


def _filter(pod: Pod, node: Node, bound: list[Pod]) -> list[str]:
    if node.spec.unschedulable:
        return ["node(s) were unschedulable"]
    if not node.is_ready():
        return ["node(s) were not ready"]
    if not matches_node_selection(pod, node):
        return ["node(s) didn't match Pod's node affinity/selector"]
    taint = untolerated_taint(pod, node)
    if taint is not None:
        return [f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}"]
    missing = insufficient_resources(pod, node, bound)
    return ["Too many pods" if name == "pods" else f"Insufficient {name}" for name in missing]


def unschedulable_message(node_count: int, reasons: Counter[str]) -> str:
    """E.g. `0/3 nodes are available: 1 node(s) had untolerated taint {sku: gpu}, 2 Insufficient cpu.`"""
    if node_count == 0:
        return "no nodes available to schedule pods"
    parts = ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items()))
    return f"0/{node_count} nodes are available: {parts}."
