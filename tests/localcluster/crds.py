"""A test CRD (``gadgets.conformance.kaito.sh``): status/scale subresources, printer columns, CEL."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Callable
from typing import Any

from kubernetes_asyncio import client as k8s

GROUP = "conformance.kaito.sh"
PLURAL = "gadgets"
# The ``kubectl`` fixture: run(*args, input=None, check=True, timeout=60) -> CompletedProcess.
Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]

GADGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "replicas": {"type": "integer", "minimum": 0, "default": 1},
                "size": {"type": "string", "enum": ["small", "large"]},
                "mode": {
                    "type": "string",
                    "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "mode is immutable"}],
                },
                "selector": {"type": "string"},
            },
            "x-kubernetes-validations": [
                {
                    "rule": "!has(oldSelf.size) || oldSelf.size != 'large' || self.size == 'large'",
                    "message": "a large gadget cannot shrink",
                }
            ],
        },
        "status": {
            "type": "object",
            "properties": {
                "replicas": {"type": "integer"},
                "phase": {"type": "string"},
                "conditions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"type": {"type": "string"}, "status": {"type": "string"}},
                    },
                },
            },
        },
    },
}


def gadget_crd() -> dict[str, Any]:
    version = {
        "served": True,
        "schema": {"openAPIV3Schema": GADGET_SCHEMA},
        "subresources": {
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ".spec.selector",
            },
        },
        "additionalPrinterColumns": [
            {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
            {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": "gadget", "kind": "Gadget", "shortNames": ["gdg"]},
            "versions": [
                dict(version, name="v1", storage=True),
                dict(version, name="v1beta1", storage=False),
            ],
        },
    }


def gadget(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Gadget", "metadata": {"name": name}, "spec": spec}


async def install_gadget_crd(api: k8s.ApiClient) -> None:
    """Create the CRD if missing and wait until the API serves it."""
    ext: Any = k8s.ApiextensionsV1Api(api)
    with contextlib.suppress(k8s.ApiException):
        await ext.create_custom_resource_definition(gadget_crd())
    custom = k8s.CustomObjectsApi(api)
    async with asyncio.timeout(30):
        while True:
            try:
                await custom.list_namespaced_custom_object(GROUP, "v1", "default", PLURAL, limit=1)
                return
            except k8s.ApiException as err:
                if err.status != 404:
                    raise
                await asyncio.sleep(0.2)
