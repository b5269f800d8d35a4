"""Strict decoding of built-in kinds: unknown fields and wrong JSON types, from Kubernetes' published schemas.

kubectl sends ``fieldValidation=Strict``; kube-apiserver then rejects a Deployment with ``spec.contaners``
instead of silently dropping it. The schemas come from the ``kubernetes-validate`` package (a dev/local
dependency); without it, built-in objects are not strictly decoded.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

SCHEMA_VERSION = "v1.36.0-local-strict"


@lru_cache(maxsize=1)
def definitions_document() -> Any:
    try:
        base = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema", SCHEMA_VERSION)
    except ModuleNotFoundError:
        return None
    return json.loads(base.joinpath("_definitions.json").read_text())


@lru_cache(maxsize=128)
def _validator(api_version: str, kind: str) -> Any:
    definitions = definitions_document()
    if definitions is None:
        return None
    import jsonschema
    from referencing import Registry, Resource

    name = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = resources.files("kubernetes_validate").joinpath(
        "kubernetes-json-schema", SCHEMA_VERSION, f"{kind.lower()}-{name}.json"
    )
    try:
        schema = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    registry: Any = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def _dotted(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def strict_decoding_problems(obj: dict[str, Any]) -> list[str]:
    """``unknown field "spec.x"`` / wrong-type messages for a built-in object; empty when it decodes."""
    validator = _validator(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    if validator is None:
        return []
    problems: list[str] = []
    for error in validator.iter_errors(obj):
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set((error.schema.get("properties") or {}).keys())
            for key in sorted(set(error.instance) - known):
                problems.append(f'unknown field "{_dotted([*error.absolute_path, key])}"')
        elif error.validator == "type":
            where = _dotted(error.absolute_path)
            wanted = error.validator_value
            problems.append(f"{where}: expected {wanted}, got {type(error.instance).__name__}")
    return problems
