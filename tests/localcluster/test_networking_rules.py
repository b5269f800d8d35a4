"""The pure endpoint rules: selection, readiness, named targetPorts, slices, where a backend is dialled."""

from __future__ import annotations

from typing import Any

from kaito.localcluster.networking.endpoints import (
    connect_address,
    endpoint_slice_bodies,
    endpoints_body,
    pod_endpoints,
    service_backends,
)


def _pod(name: str, ready: bool, port_map: dict[int, int] | None = None, **extra: Any) -> dict[str, Any]:
    annotations = {f"localcluster.kaito.sh/port-{c}": str(h) for c, h in (port_map or {}).items()}
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"u-{name}",
            "labels": {"app": "a"},
            "annotations": annotations,
        },
        "spec": {
            "nodeName": "n",
            "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8000}]}],
        },
        "status": {
            "podIP": extra.get("ip", "127.0.0.1"),
            "phase": extra.get("phase", "Running"),
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


SERVICE: dict[str, Any] = {
    "metadata": {"name": "s", "namespace": "ns", "uid": "su"},
    "spec": {"selector": {"app": "a"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]},
}


def test_selection_readiness_and_named_ports() -> None:
    pods = [
        _pod("a", True, {8000: 4001}),
        _pod("b", False, {8000: 4002}),
        _pod("done", True, phase="Succeeded"),
        {**_pod("other", True), "metadata": {**_pod("other", True)["metadata"], "labels": {"app": "z"}}},
    ]
    selected = pod_endpoints(SERVICE, pods)
    assert [(e.pod["metadata"]["name"], e.ready, e.ports[0].port) for e in selected] == [
        ("a", True, 8000),
        ("b", False, 8000),
    ]
    body = endpoints_body(SERVICE, selected)
    (subset,) = body["subsets"]
    assert [a["targetRef"]["name"] for a in subset["addresses"]] == ["a"]
    assert [a["targetRef"]["name"] for a in subset["notReadyAddresses"]] == ["b"]
    assert subset["ports"] == [{"name": "web", "port": 8000, "protocol": "TCP"}]
    (endpoint_slice,) = endpoint_slice_bodies(SERVICE, selected)
    assert [e["conditions"]["ready"] for e in endpoint_slice["endpoints"]] == [True, False]
    assert endpoint_slice["metadata"]["labels"]["kubernetes.io/service-name"] == "s"
    assert service_backends(SERVICE, SERVICE["spec"]["ports"][0], pods) == [("127.0.0.1", 4001)]
    publish = {**SERVICE, "spec": {**SERVICE["spec"], "publishNotReadyAddresses": True}}
    assert service_backends(publish, SERVICE["spec"]["ports"][0], pods) == [
        ("127.0.0.1", 4001),
        ("127.0.0.1", 4002),
    ]


def test_empty_service_gets_a_placeholder_slice_and_no_subsets() -> None:
    assert "subsets" not in endpoints_body(SERVICE, [])
    (placeholder,) = endpoint_slice_bodies(SERVICE, [])
    assert (placeholder["endpoints"], placeholder["ports"]) == ([], None)


def test_unmapped_loopback_ports_are_never_dialled() -> None:
    assert connect_address(_pod("sim", True), 8000) is None  # a simulated container on the loopback
    assert connect_address(_pod("real", True, ip="10.1.2.3"), 8000) == ("10.1.2.3", 8000)
    assert connect_address(_pod("run", True, {8000: 4100}), 8000) == ("127.0.0.1", 4100)
    assert service_backends(SERVICE, SERVICE["spec"]["ports"][0], [_pod("sim", True)]) == []
