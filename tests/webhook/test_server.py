"""The HTTPS endpoints: never a 5xx, whatever arrives; malformed requests get AdmissionReview-shaped 400s."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kaito.api import Workspace
from kaito.presets import plan_workspace
from kaito.webhook.server import MUTATE_PATH, VALIDATE_PATH
from validation.fuzzing import mutated_workspaces
from validation.manifests import inference

from .reviews import review
from .tls import ThreadedWebhook, client_context


@pytest.fixture(scope="module")
def webhook() -> Iterator[ThreadedWebhook]:
    server = ThreadedWebhook().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(webhook: ThreadedWebhook) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=webhook.url, verify=client_context(webhook.bundle), timeout=30) as client:
        yield client


def test_healthz(http: httpx.Client) -> None:
    assert http.get("/healthz").text == "ok"


def test_valid_review_round_trip(http: httpx.Client) -> None:
    body = review(inference())
    reply = http.post(VALIDATE_PATH, json=body)
    assert reply.status_code == 200
    data = reply.json()
    assert data["apiVersion"] == "admission.k8s.io/v1"
    assert data["kind"] == "AdmissionReview"
    assert data["response"]["uid"] == body["request"]["uid"]
    assert data["response"]["allowed"] is True


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"{not json", "not JSON"),
        (b"", "not JSON"),
        (b"[]", "expected an admission.k8s.io/v1 AdmissionReview"),
        (json.dumps({"kind": "AdmissionReview"}).encode(), "request: Field required"),
        (
            json.dumps(
                {"kind": "AdmissionReview", "request": {"uid": "u1", "operation": "EXPLODE"}}
            ).encode(),
            "operation",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "request body is not JSON"),
    ],
    ids=["broken", "empty", "list", "no-request", "bad-operation", "deep-nesting"],
)
@pytest.mark.parametrize("path", [VALIDATE_PATH, MUTATE_PATH])
def test_malformed_requests_get_a_400_review(
    http: httpx.Client, path: str, payload: bytes, words: str
) -> None:
    reply = http.post(path, content=payload, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400
    data = reply.json()
    assert data["kind"] == "AdmissionReview"
    assert data["response"]["allowed"] is False
    assert data["response"]["status"]["code"] == 400
    assert words in data["response"]["status"]["message"]


def test_uid_is_echoed_on_a_malformed_review(http: httpx.Client) -> None:
    body = {"kind": "AdmissionReview", "request": {"uid": "abc", "operation": "NOPE"}}
    assert http.post(VALIDATE_PATH, json=body).json()["response"]["uid"] == "abc"


def test_oversized_body_is_a_400(http: httpx.Client) -> None:
    reply = http.post(
        VALIDATE_PATH, content=b" " * (4 * 1024 * 1024), headers={"Content-Type": "application/json"}
    )
    assert reply.status_code in (400, 413)


ENVELOPES = st.one_of(
    mutated_workspaces().map(lambda obj: review(obj)),
    st.tuples(mutated_workspaces(), mutated_workspaces()).map(
        lambda pair: review(pair[1], pair[0], "UPDATE")
    ),
)


@pytest.mark.slow
@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=ENVELOPES, path=st.sampled_from([VALIDATE_PATH, MUTATE_PATH]))
def test_fuzzed_reviews_never_get_a_5xx(http: httpx.Client, body: dict[str, Any], path: str) -> None:
    """Each fuzzed Workspace is denied with `field: message` lines, or admitted and then parses and plans."""
    reply = http.post(path, json=body)
    assert reply.status_code == 200, reply.text
    response = reply.json()["response"]
    assert response["uid"] == body["request"]["uid"]
    if path == MUTATE_PATH:
        assert response["allowed"] is True
        if "patch" in response:
            assert response["patchType"] == "JSONPatch"
            assert isinstance(json.loads(base64.b64decode(response["patch"])), list)
        return
    if not response["allowed"]:
        status = response["status"]
        assert status["code"] == 422
        causes = status["details"]["causes"]
        assert causes
        assert all(cause["field"] and cause["message"] for cause in causes)
        for cause in causes:
            assert f"* {cause['field']}: {cause['message']}" in status["message"]
        return
    request = body["request"]
    if request["operation"] == "UPDATE":
        # Problems the old object already had are not held against an update (ratcheting), so an admitted
        # update may fail to parse only where its old object did too.
        try:
            Workspace.model_validate(request["object"])
        except ValidationError:
            with pytest.raises(ValidationError):
                Workspace.model_validate(request["oldObject"])
        return
    workspace = Workspace.model_validate(request["object"])
    if workspace.resource.instance_type and workspace.preset_name is not None:
        plan_workspace(workspace)  # a refusal would have been a denial


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_random_bytes_never_get_a_5xx(http: httpx.Client, payload: bytes) -> None:
    reply = http.post(VALIDATE_PATH, content=payload, headers={"Content-Type": "application/json"})
    assert reply.status_code in (200, 400)
