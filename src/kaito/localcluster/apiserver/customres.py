"""Custom resources: schema pruning, defaulting and validation via ``schema/``, and CRD status upkeep."""

from __future__ import annotations

import copy
from typing import Any

from kaito.localcluster.apiserver.errors import ApiError, field_cause, invalid
from kaito.localcluster.apiserver.registry import ResourceType
from kaito.localcluster.schema import FieldError, apply_defaults, prune_with_report, validate

_ROOT_KEYS = ("apiVersion", "kind", "metadata")


def cause_of(error: FieldError) -> dict[str, str]:
    """A StatusCause: kube-apiserver's cause message is the error without its leading field path."""
    message = error.message()
    prefix = f"{error.field}: "
    body = message[len(prefix) :] if error.field and message.startswith(prefix) else message
    return field_cause(error.type, error.field, body)


def causes_with_field(errors: list[FieldError]) -> list[dict[str, str]]:
    return [dict(cause_of(e), message=e.message()) for e in errors]


def admit_custom(
    rtype: ResourceType,
    obj: dict[str, Any],
    old: dict[str, Any] | None,
    field_validation: str,
    warnings: list[str],
) -> dict[str, Any]:
    """Prune, default and validate a custom object; raise 400 (strict unknown fields) or 422 (invalid)."""
    schema = rtype.schema
    if not schema:
        return obj
    metadata = obj.get("metadata")
    pruned, removed = prune_with_report(schema, obj)
    if field_validation in ("Strict", "Warn"):
        unknown = [u.lstrip(".") for u in removed if not u.lstrip(".").startswith("metadata")]
        if unknown and field_validation == "Strict":
            listed = ", ".join(f'unknown field "{u}"' for u in unknown)
            raise ApiError(
                400,
                f'{rtype.kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}: '
                f"strict decoding error: {listed}",
                "BadRequest",
            )
        warnings.extend(f'unknown field "{u}"' for u in unknown)
    defaulted = apply_defaults(schema, pruned)
    if metadata is not None:
        defaulted["metadata"] = metadata
    errors = validate(schema, defaulted, old)
    if errors:
        name = (metadata or {}).get("name", "")
        raise invalid(rtype.kind, rtype.group, name, [cause_of(e) for e in errors])
    return defaulted


def crd_status(crd: dict[str, Any], now: str) -> dict[str, Any]:
    """The status a CRD gets once its names are accepted and it is served."""
    names = copy.deepcopy(crd["spec"]["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    stored = sorted({v["name"] for v in crd["spec"]["versions"] if v.get("storage")})
    old = {c["type"]: c for c in (crd.get("status") or {}).get("conditions") or ()}

    def condition(kind: str, reason: str, message: str) -> dict[str, Any]:
        previous = old.get(kind)
        since = previous["lastTransitionTime"] if previous and previous.get("status") == "True" else now
        return {
            "type": kind,
            "status": "True",
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        }

    return {
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": names,
        "storedVersions": sorted(set((crd.get("status") or {}).get("storedVersions") or []) | set(stored)),
    }


def validate_crd(crd: dict[str, Any]) -> None:
    """The checks that keep a CRD servable: names, group, versions, exactly one storage version."""
    name = crd["metadata"]["name"]
    spec = crd.get("spec")
    causes: list[dict[str, str]] = []
    if not isinstance(spec, dict):
        raise invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            name,
            [field_cause("FieldValueRequired", "spec", "Required value")],
        )
    names = spec.get("names") or {}
    group = spec.get("group", "")
    if not names.get("plural"):
        causes.append(field_cause("FieldValueRequired", "spec.names.plural", "Required value"))
    if not names.get("kind"):
        causes.append(field_cause("FieldValueRequired", "spec.names.kind", "Required value"))
    if not group or "." not in group:
        causes.append(
            field_cause(
                "FieldValueInvalid",
                "spec.group",
                f'Invalid value: "{group}": should be a domain with at least one dot',
            )
        )
    if names.get("plural") and group and name != f"{names['plural']}.{group}":
        causes.append(
            field_cause(
                "FieldValueInvalid",
                "metadata.name",
                f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
            )
        )
    versions = spec.get("versions") or []
    if not versions:
        causes.append(
            field_cause(
                "FieldValueInvalid",
                "spec.versions",
                "Invalid value: null: must have exactly one version marked as storage version",
            )
        )
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(
            field_cause(
                "FieldValueInvalid",
                "spec.versions",
                "Invalid value: ...: must have exactly one version marked as storage version",
            )
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            field_cause(
                "FieldValueNotSupported",
                "spec.scope",
                f'Unsupported value: "{spec.get("scope")}": supported values: "Cluster", "Namespaced"',
            )
        )
    if causes:
        raise invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, causes)
