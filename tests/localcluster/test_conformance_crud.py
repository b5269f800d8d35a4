"""Reads and writes: errors as Status, conflicts, generation, generateName, patches, lists."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s

from .crds import GROUP, PLURAL, gadget, install_gadget_crd

MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module")
async def gadgets(api_client: k8s.ApiClient) -> Any:
    await install_gadget_crd(api_client)
    return k8s.CustomObjectsApi(api_client)


def status_of(err: k8s.ApiException) -> dict[str, object]:
    body = json.loads(err.body or b"{}")
    assert body["kind"] == "Status"
    assert body["status"] == "Failure"
    return dict(body)


async def test_create_get_conflict_and_not_found(api_client: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    created = await core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "a"}, "data": {"k": "v"}}
    )
    assert created.metadata.uid
    assert created.metadata.creation_timestamp
    assert created.metadata.resource_version
    with pytest.raises(k8s.ApiException) as exists:
        await core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    assert exists.value.status == 409
    assert status_of(exists.value)["reason"] == "AlreadyExists"
    stale = created.to_dict()
    fresh = await core.patch_namespaced_config_map("a", namespace, {"data": {"k": "w"}})
    assert int(fresh.metadata.resource_version) > int(created.metadata.resource_version)
    body = {
        "metadata": {"name": "a", "resourceVersion": stale["metadata"]["resource_version"]},
        "data": {"k": "x"},
    }
    with pytest.raises(k8s.ApiException) as conflict:
        await core.replace_namespaced_config_map("a", namespace, body)
    assert conflict.value.status == 409
    status = status_of(conflict.value)
    assert status["reason"] == "Conflict"
    assert "the object has been modified" in str(status["message"])
    with pytest.raises(k8s.ApiException) as missing:
        await core.read_namespaced_config_map("nope", namespace)
    assert missing.value.status == 404
    assert status_of(missing.value)["details"] == {"name": "nope", "kind": "configmaps"}


async def test_generate_name_and_noop_update_keeps_version(api_client: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    made = await core.create_namespaced_config_map(
        namespace, {"metadata": {"generateName": "gen-"}, "data": {}}
    )
    assert made.metadata.name.startswith("gen-")
    assert len(made.metadata.name) == len("gen-") + 5
    same = await core.patch_namespaced_config_map(made.metadata.name, namespace, {"data": {}})
    assert same.metadata.resource_version == made.metadata.resource_version


async def test_generation_counts_spec_changes_only(gadgets: Any, namespace: str) -> None:
    obj = await gadgets.create_namespaced_custom_object(
        GROUP, "v1", namespace, PLURAL, gadget("g", size="small")
    )
    assert obj["metadata"]["generation"] == 1
    assert obj["spec"]["replicas"] == 1  # schema default
    labelled = await gadgets.patch_namespaced_custom_object(
        GROUP, "v1", namespace, PLURAL, "g", {"metadata": {"labels": {"a": "b"}}}, _content_type=MERGE
    )
    assert labelled["metadata"]["generation"] == 1
    status = await gadgets.patch_namespaced_custom_object_status(
        GROUP,
        "v1",
        namespace,
        PLURAL,
        "g",
        {"status": {"phase": "Up"}, "spec": {"size": "large"}},
        _content_type=MERGE,
    )
    assert status["metadata"]["generation"] == 1
    assert status["status"]["phase"] == "Up"
    assert status["spec"]["size"] == "small"
    spec = await gadgets.patch_namespaced_custom_object(
        GROUP,
        "v1",
        namespace,
        PLURAL,
        "g",
        {"spec": {"size": "large"}, "status": {"phase": "Ignored"}},
        _content_type=MERGE,
    )
    assert spec["metadata"]["generation"] == 2
    assert spec["status"]["phase"] == "Up"  # status ignored on the main resource


async def test_invalid_object_is_422_with_causes(gadgets: Any, namespace: str) -> None:
    with pytest.raises(k8s.ApiException) as err:
        await gadgets.create_namespaced_custom_object(
            GROUP, "v1", namespace, PLURAL, gadget("bad", size="medium")
        )
    assert err.value.status == 422
    status = status_of(err.value)
    assert status["reason"] == "Invalid"
    assert str(status["message"]).startswith(
        'Gadget.conformance.kaito.sh "bad" is invalid: spec.size: Unsupported'
    )
    causes = status["details"]["causes"]  # type: ignore[index]
    assert causes[0]["field"] == "spec.size"
    assert causes[0]["reason"] == "FieldValueNotSupported"


async def test_cel_transition_rules(gadgets: Any, namespace: str) -> None:
    await gadgets.create_namespaced_custom_object(
        GROUP, "v1", namespace, PLURAL, gadget("t", size="large", mode="a")
    )
    with pytest.raises(k8s.ApiException) as err:
        await gadgets.patch_namespaced_custom_object(
            GROUP, "v1", namespace, PLURAL, "t", {"spec": {"mode": "b"}}, _content_type=MERGE
        )
    assert err.value.status == 422
    assert "mode is immutable" in str(status_of(err.value)["message"])
    with pytest.raises(k8s.ApiException) as shrink:
        await gadgets.patch_namespaced_custom_object(
            GROUP, "v1", namespace, PLURAL, "t", {"spec": {"size": "small"}}, _content_type=MERGE
        )
    assert "a large gadget cannot shrink" in str(status_of(shrink.value)["message"])


async def test_versions_share_storage(gadgets: Any, namespace: str) -> None:
    await gadgets.create_namespaced_custom_object(
        GROUP, "v1", namespace, PLURAL, gadget("multi", size="small")
    )
    beta = await gadgets.get_namespaced_custom_object(GROUP, "v1beta1", namespace, PLURAL, "multi")
    assert beta["apiVersion"] == f"{GROUP}/v1beta1"
    listed = await gadgets.list_namespaced_custom_object(GROUP, "v1beta1", namespace, PLURAL)
    assert [i["apiVersion"] for i in listed["items"]] == [f"{GROUP}/v1beta1"]


async def test_scale_subresource(gadgets: Any, api_client: k8s.ApiClient, namespace: str) -> None:
    await gadgets.create_namespaced_custom_object(
        GROUP, "v1", namespace, PLURAL, gadget("s", size="small", replicas=2, selector="app=s")
    )
    scale = await gadgets.get_namespaced_custom_object_scale(GROUP, "v1", namespace, PLURAL, "s")
    assert scale["spec"]["replicas"] == 2
    assert scale["status"]["selector"] == "app=s"
    await gadgets.patch_namespaced_custom_object_scale(
        GROUP, "v1", namespace, PLURAL, "s", {"spec": {"replicas": 5}}, _content_type=MERGE
    )
    got = await gadgets.get_namespaced_custom_object(GROUP, "v1", namespace, PLURAL, "s")
    assert got["spec"]["replicas"] == 5
    apps: Any = k8s.AppsV1Api(api_client)
    deployment = {
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }
    await apps.create_namespaced_deployment(namespace, deployment)
    await apps.patch_namespaced_deployment_scale("d", namespace, {"spec": {"replicas": 3}})
    read = await apps.read_namespaced_deployment_scale("d", namespace)
    assert read.spec.replicas == 3
    assert read.status.selector == "app=d"


async def test_label_and_field_selectors(api_client: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    labels = {
        "one": {"tier": "web", "env": "prod"},
        "two": {"tier": "db", "env": "prod"},
        "three": {"tier": "web"},
    }
    for name, labelset in labels.items():
        await core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labelset}})

    async def names(**kwargs: str) -> list[str]:
        result = await core.list_namespaced_config_map(namespace, **kwargs)
        return sorted(i.metadata.name for i in result.items if i.metadata.name in labels)

    assert await names(label_selector="tier=web") == ["one", "three"]
    assert await names(label_selector="tier==web,env=prod") == ["one"]
    assert await names(label_selector="tier!=web") == ["two"]
    assert await names(label_selector="tier in (db, web),env") == ["one", "two"]
    assert await names(label_selector="tier notin (web)") == ["two"]
    assert await names(label_selector="!env") == ["three"]
    assert await names(field_selector="metadata.name=two") == ["two"]
    assert await names(field_selector="metadata.name!=two,metadata.namespace=" + namespace) == [
        "one",
        "three",
    ]
    with pytest.raises(k8s.ApiException) as err:
        await core.list_namespaced_config_map(namespace, field_selector="data.x=1")
    assert err.value.status == 400
    with pytest.raises(k8s.ApiException) as bad:
        await core.list_namespaced_config_map(namespace, label_selector="a in b")
    assert bad.value.status == 400


async def test_limit_and_continue_pages_a_consistent_snapshot(
    api_client: k8s.ApiClient, namespace: str
) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    for index in range(7):
        await core.create_namespaced_config_map(namespace, {"metadata": {"name": f"p{index}"}})
    first = await core.list_namespaced_config_map(namespace, limit=3)
    assert len(first.items) == 3
    assert first.metadata._continue
    assert first.metadata.remaining_item_count is not None
    await core.create_namespaced_config_map(namespace, {"metadata": {"name": "p9-late"}})
    seen = [i.metadata.name for i in first.items]
    token = first.metadata._continue
    while token:
        page = await core.list_namespaced_config_map(namespace, limit=3, _continue=token)
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
    assert [n for n in seen if n.startswith("p")] == [f"p{i}" for i in range(7)]


async def test_server_side_apply_conflicts_and_force(gadgets: Any, namespace: str) -> None:
    apply = "application/apply-patch+yaml"
    body = gadget("ssa", size="small", replicas=2)
    await gadgets.patch_namespaced_custom_object(  # creates (201: the generated client returns no body)
        GROUP, "v1", namespace, PLURAL, "ssa", body, field_manager="alice", _content_type=apply
    )
    created = await gadgets.get_namespaced_custom_object(GROUP, "v1", namespace, PLURAL, "ssa")
    assert created["spec"]["size"] == "small"
    assert [m["manager"] for m in created["metadata"]["managedFields"]] == ["alice"]
    with pytest.raises(k8s.ApiException) as clash:
        await gadgets.patch_namespaced_custom_object(
            GROUP,
            "v1",
            namespace,
            PLURAL,
            "ssa",
            gadget("ssa", size="large"),
            field_manager="bob",
            _content_type=apply,
        )
    assert clash.value.status == 409
    assert status_of(clash.value)["reason"] == "Conflict"
    forced = await gadgets.patch_namespaced_custom_object(
        GROUP,
        "v1",
        namespace,
        PLURAL,
        "ssa",
        gadget("ssa", size="large"),
        field_manager="bob",
        force=True,
        _content_type=apply,
    )
    assert forced["spec"]["size"] == "large"
    assert forced["spec"]["replicas"] == 2  # still alice's
    with pytest.raises(k8s.ApiException) as no_manager:
        await gadgets.patch_namespaced_custom_object(
            GROUP, "v1", namespace, PLURAL, "ssa", gadget("ssa", size="large"), _content_type=apply
        )
    assert no_manager.value.status == 400


async def test_unknown_fields_strict_and_pruned(gadgets: Any, namespace: str) -> None:
    body = gadget("strict", size="small")
    body["spec"]["bogus"] = 1
    with pytest.raises(k8s.ApiException) as strict:
        await gadgets.create_namespaced_custom_object(
            GROUP, "v1", namespace, PLURAL, body, field_validation="Strict"
        )
    assert strict.value.status == 400
    assert 'unknown field "spec.bogus"' in str(status_of(strict.value)["message"])
    made = await gadgets.create_namespaced_custom_object(GROUP, "v1", namespace, PLURAL, body)
    assert "bogus" not in made["spec"]  # pruned


async def test_events_in_both_api_groups(api_client: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    events: Any = k8s.EventsV1Api(api_client)
    target = await core.create_namespaced_config_map(namespace, {"metadata": {"name": "target"}})
    regarding = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "target",
        "namespace": namespace,
        "uid": target.metadata.uid,
    }
    await events.create_namespaced_event(
        namespace,
        {
            "metadata": {"name": "e1"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reason": "Tested",
            "note": "hello",
            "type": "Normal",
            "action": "Test",
            "reportingController": "kaito.sh/test",
            "reportingInstance": "test-1",
            "regarding": regarding,
        },
    )
    listed = await core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name=target,involvedObject.uid={target.metadata.uid}"
    )
    assert [(e.reason, e.message) for e in listed.items] == [("Tested", "hello")]
    assert listed.items[0].reporting_component == "kaito.sh/test"
    again = await events.list_namespaced_event(namespace, field_selector="regarding.name=target")
    assert [e.note for e in again.items] == ["hello"]


async def test_list_exact_resource_version_sees_the_past(api_client: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    await core.create_namespaced_config_map(namespace, {"metadata": {"name": "x1"}, "data": {"v": "1"}})
    then = (await core.list_namespaced_config_map(namespace)).metadata.resource_version
    await core.patch_namespaced_config_map("x1", namespace, {"data": {"v": "2"}})
    await core.create_namespaced_config_map(namespace, {"metadata": {"name": "x2"}})
    past = await core.list_namespaced_config_map(
        namespace, resource_version=then, resource_version_match="Exact"
    )
    assert [(i.metadata.name, i.data) for i in past.items] == [("x1", {"v": "1"})]
    assert past.metadata.resource_version == then
    now = await core.list_namespaced_config_map(
        namespace, resource_version=then, resource_version_match="NotOlderThan"
    )
    assert sorted(i.metadata.name for i in now.items) == ["x1", "x2"]


async def test_delete_collection_with_label_selector(api_client: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        await core.create_namespaced_config_map(
            namespace, {"metadata": {"name": name, "labels": {"tier": tier}}}
        )
    await core.delete_collection_namespaced_config_map(namespace, label_selector="tier=web")
    left = await core.list_namespaced_config_map(namespace, label_selector="tier")
    assert [i.metadata.name for i in left.items] == ["c"]


async def test_size_limits(api_client: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    with pytest.raises(k8s.ApiException) as too_long:
        await core.create_namespaced_config_map(
            namespace, {"metadata": {"name": "big"}, "data": {"k": "x" * 1_100_000}}
        )
    assert too_long.value.status == 422
    with pytest.raises(k8s.ApiException) as too_large:
        await core.create_namespaced_config_map(
            namespace, {"metadata": {"name": "huge"}, "data": {"k": "x" * 3_300_000}}
        )
    assert too_large.value.status == 413
