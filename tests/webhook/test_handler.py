"""AdmissionHandler: denials list every field issue, defaults come back as base64 JSONPatch."""

from __future__ import annotations

import base64
import json
from typing import Any

from prometheus_client import REGISTRY

from kaito.webhook.handler import AdmissionHandler
from kaito.webhook.review import AdmissionReview
from validation.manifests import adapters, changed, inference, removed, tuning

from .reviews import review


def _request(obj: Any, **kwargs: Any) -> Any:
    return AdmissionReview.model_validate(review(obj, **kwargs)).request


def _count(webhook: str, operation: str, result: str) -> float:
    labels = {"webhook": webhook, "operation": operation, "result": result}
    return REGISTRY.get_sample_value("kaito_webhook_admission_requests_total", labels) or 0.0


async def test_denial_lists_every_field_issue_with_causes() -> None:
    obj = changed(
        changed(adapters(), "resource.instanceType", "Standard_NC6s_v9"), "inference.adapters.0.strength", "2"
    )
    before = _count("validate", "CREATE", "denied")
    response = await AdmissionHandler().validate(_request(obj))
    assert not response.allowed
    assert response.status is not None
    assert response.status.code == 422
    assert response.status.reason == "Invalid"
    message = response.status.message
    assert message.startswith('Workspace "workspace-phi-3-mini-adapter" is invalid:\n')
    assert "* resource.instanceType: unknown GPU instance type 'Standard_NC6s_v9'; did you mean" in message
    assert '* inference.adapters[0].strength: must be a decimal string from "0" to "1"' in message
    assert response.status.details is not None
    fields = {cause.field for cause in response.status.details.causes}
    assert fields == {"resource.instanceType", "inference.adapters[0].strength"}
    assert _count("validate", "CREATE", "denied") == before + 1


async def test_valid_workspace_is_allowed() -> None:
    response = await AdmissionHandler().validate(_request(tuning()))
    assert response.allowed
    assert response.status is None


async def test_update_checks_immutable_fields() -> None:
    old = inference()
    new = changed(old, "resource.count", 3)
    response = await AdmissionHandler().validate(_request(new, old=old, operation="UPDATE"))
    assert not response.allowed
    assert response.status is not None
    assert "* resource.count: is immutable (was 1)" in response.status.message


async def test_deletes_and_subresources_are_not_checked() -> None:
    handler = AdmissionHandler()
    assert (await handler.validate(_request(None, old=inference(), operation="DELETE"))).allowed
    broken = changed(inference(), "resource.count", 0)
    assert (
        await handler.validate(_request(broken, old=inference(), operation="UPDATE", sub_resource="status"))
    ).allowed


async def test_missing_object_is_a_bad_request() -> None:
    response = await AdmissionHandler().validate(_request("not an object"))
    assert not response.allowed
    assert response.status is not None
    assert response.status.code == 400


async def test_mutation_returns_base64_jsonpatch() -> None:
    obj = removed(adapters(), "inference.adapters.0.strength")
    response = await AdmissionHandler().mutate(_request(obj))
    assert response.allowed
    assert response.patch_type == "JSONPatch"
    assert response.patch is not None
    ops = json.loads(base64.b64decode(response.patch))
    assert {"op": "add", "path": "/inference/adapters/0/strength", "value": "1.0"} in ops
    assert {"op": "add", "path": "/resource/count", "value": 1} in ops


async def test_mutation_without_changes_has_no_patch() -> None:
    obj = changed(
        changed(inference(), "resource.count", 1), "metadata.annotations", {"kaito.sh/runtime": "vllm"}
    )
    response = await AdmissionHandler().mutate(_request(obj))
    assert response.allowed
    assert response.patch is None
    assert response.patch_type is None


class _BrokenLookups:
    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        raise ConnectionError("API server unreachable")

    async def list_nodes(self, selector: str) -> list[dict[str, Any]]:
        raise ConnectionError("API server unreachable")


async def test_lookup_failure_falls_back_to_offline_rules_with_a_warning() -> None:
    handler = AdmissionHandler(_BrokenLookups())
    ok = await handler.validate(_request(changed(inference(), "inference.config", "params")))
    assert ok.allowed
    assert any("could not read referenced ConfigMaps" in w for w in ok.warnings)
    bad = await handler.validate(_request(changed(inference(), "resource.instanceType", "nope")))
    assert not bad.allowed
