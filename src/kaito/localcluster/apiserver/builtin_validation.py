"""Validation kube-apiserver performs on built-in kinds (the rules workloads most often trip over)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from kaito.localcluster.apiserver.errors import field_cause, invalid
from kaito.localcluster.apiserver.registry import ResourceType
from kaito.localcluster.apiserver.selectors import labels_match, selector_from_label_selector

Causes = list[dict[str, str]]
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_LABEL_VALUE_HELP = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_KEY_HELP = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


def _q(value: Any) -> str:
    return json.dumps(value)


def qualified_name_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _PREFIX.match(prefix)):
        return "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return _KEY_HELP if name and len(name) <= 63 else "name part must be no more than 63 characters"
    return None


def _metadata(meta: dict[str, Any], causes: Causes) -> None:
    for key, value in (meta.get("labels") or {}).items():
        problem = qualified_name_problem(key)
        if problem:
            causes.append(
                field_cause("FieldValueInvalid", "metadata.labels", f"Invalid value: {_q(key)}: {problem}")
            )
        if not isinstance(value, str) or len(value) > 63 or (value and not _LABEL_NAME.match(value)):
            causes.append(
                field_cause(
                    "FieldValueInvalid", "metadata.labels", f"Invalid value: {_q(value)}: {_LABEL_VALUE_HELP}"
                )
            )
    for key in meta.get("annotations") or {}:
        problem = qualified_name_problem(key.lower())
        if problem:
            causes.append(
                field_cause(
                    "FieldValueInvalid", "metadata.annotations", f"Invalid value: {_q(key)}: {problem}"
                )
            )
    for index, ref in enumerate(meta.get("ownerReferences") or ()):
        for required in ("apiVersion", "kind", "name", "uid"):
            if not isinstance(ref, dict) or not ref.get(required):
                causes.append(
                    field_cause(
                        "FieldValueRequired",
                        f"metadata.ownerReferences[{index}].{required}",
                        "Required value",
                    )
                )


def _containers(spec: dict[str, Any], path: str, causes: Causes) -> None:
    containers = spec.get("containers")
    if not containers:
        causes.append(field_cause("FieldValueRequired", f"{path}.containers", "Required value"))
        return
    names: set[str] = set()
    for group in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(group) or ()):
            where = f"{path}.{group}[{index}]"
            name = container.get("name") if isinstance(container, dict) else None
            if not name:
                causes.append(field_cause("FieldValueRequired", f"{where}.name", "Required value"))
            elif not _DNS_LABEL.match(name) or len(name) > 63:
                causes.append(
                    field_cause(
                        "FieldValueInvalid",
                        f"{where}.name",
                        f"Invalid value: {_q(name)}: a "
                        "lowercase RFC 1123 label must consist of lower case alphanumeric "
                        "characters or '-', and must start and end with an alphanumeric character",
                    )
                )
            elif name in names:
                causes.append(
                    field_cause("FieldValueDuplicate", f"{where}.name", f"Duplicate value: {_q(name)}")
                )
            else:
                names.add(name)
            if isinstance(container, dict) and not container.get("image"):
                causes.append(field_cause("FieldValueRequired", f"{where}.image", "Required value"))
            for p_index, port in enumerate((container or {}).get("ports") or ()):
                number = port.get("containerPort")
                if not isinstance(number, int) or not 0 < number < 65536:
                    causes.append(
                        field_cause(
                            "FieldValueInvalid",
                            f"{where}.ports[{p_index}].containerPort",
                            f"Invalid value: {_q(number)}: must be between 1 and 65535, inclusive",
                        )
                    )


def _pod_spec(spec: Any, path: str, causes: Causes, restart_policies: tuple[str, ...]) -> None:
    if not isinstance(spec, dict):
        causes.append(field_cause("FieldValueRequired", path, "Required value"))
        return
    _containers(spec, path, causes)
    policy = spec.get("restartPolicy")
    if policy not in restart_policies:
        supported = ", ".join(_q(p) for p in restart_policies)
        if policy is None:
            causes.append(
                field_cause(
                    "FieldValueRequired",
                    f"{path}.restartPolicy",
                    f"Required value: valid values: {supported}",
                )
            )
        else:
            causes.append(
                field_cause(
                    "FieldValueNotSupported",
                    f"{path}.restartPolicy",
                    f"Unsupported value: {_q(policy)}: supported values: {supported}",
                )
            )


def _workload(obj: dict[str, Any], causes: Causes, job: bool = False) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        causes.append(field_cause("FieldValueRequired", "spec", "Required value"))
        return
    replicas = spec.get("replicas", 0)
    if not isinstance(replicas, int) or replicas < 0:
        causes.append(
            field_cause(
                "FieldValueInvalid",
                "spec.replicas",
                f"Invalid value: {_q(replicas)}: must be greater than or equal to 0",
            )
        )
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    selector = spec.get("selector")
    if selector is None and not job:
        causes.append(field_cause("FieldValueRequired", "spec.selector", "Required value"))
    elif selector is not None:
        requirements = selector_from_label_selector(selector)
        if not requirements and not job:
            causes.append(
                field_cause(
                    "FieldValueInvalid",
                    "spec.selector",
                    'Invalid value: "null": empty selector is invalid for deployment',
                )
            )
        elif requirements and not labels_match(requirements, labels):
            causes.append(
                field_cause(
                    "FieldValueInvalid",
                    "spec.template.metadata.labels",
                    f"Invalid value: {_q(labels)}: `selector` does not match template `labels`",
                )
            )
    policies = ("OnFailure", "Never") if job else ("Always",)
    _pod_spec(template.get("spec"), "spec.template.spec", causes, policies)


def _service(obj: dict[str, Any], causes: Causes) -> None:
    spec = obj.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        causes.append(
            field_cause(
                "FieldValueNotSupported",
                "spec.type",
                f"Unsupported value: {_q(kind)}: supported "
                'values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
            )
        )
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(field_cause("FieldValueRequired", "spec.ports", "Required value"))
    names: set[str] = set()
    for index, port in enumerate(ports):
        number = port.get("port")
        if not isinstance(number, int) or not 0 < number < 65536:
            causes.append(
                field_cause(
                    "FieldValueInvalid",
                    f"spec.ports[{index}].port",
                    f"Invalid value: {_q(number)}: must be between 1 and 65535, inclusive",
                )
            )
        name = port.get("name")
        if len(ports) > 1 and not name:
            causes.append(field_cause("FieldValueRequired", f"spec.ports[{index}].name", "Required value"))
        elif name in names:
            causes.append(
                field_cause(
                    "FieldValueDuplicate", f"spec.ports[{index}].name", f"Duplicate value: {_q(name)}"
                )
            )
        elif name:
            names.add(name)


_MAX_DATA_BYTES = 1024 * 1024


def _data_size(obj: dict[str, Any], secret: bool) -> int:
    total = 0
    for field in ("data", "binaryData"):
        for key, value in (obj.get(field) or {}).items():
            if isinstance(value, str):
                encoded = (secret and field == "data") or field == "binaryData"
                total += len(key) + (len(value) * 3 // 4 if encoded else len(value.encode()))
    return total


def _data(obj: dict[str, Any], causes: Causes, secret: bool) -> None:
    if _data_size(obj, secret) > _MAX_DATA_BYTES:
        field = "data" if secret else ""
        causes.append(
            field_cause("FieldValueTooLong", field, f"Too long: must have at most {_MAX_DATA_BYTES} bytes")
        )
    for field in ("data", "binaryData", "stringData"):
        for key, value in (obj.get(field) or {}).items():
            if not _CONFIG_KEY.match(key) or len(key) > 253:
                causes.append(
                    field_cause(
                        "FieldValueInvalid",
                        f"{field}[{key}]",
                        f"Invalid value: {_q(key)}: a valid "
                        "config key must consist of alphanumeric characters, '-', '_' or '.'",
                    )
                )
            if not isinstance(value, str):
                causes.append(
                    field_cause("FieldValueTypeInvalid", f"{field}[{key}]", "Invalid value: must be a string")
                )
            elif (secret and field == "data") or field == "binaryData":
                try:
                    base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError):
                    causes.append(
                        field_cause(
                            "FieldValueInvalid", f"{field}[{key}]", "Invalid value: illegal base64 data"
                        )
                    )


_IMMUTABLE_POD_MESSAGE = (
    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
    "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
    "previously negative)"
)


def _pod_update(old: dict[str, Any], new: dict[str, Any], causes: Causes) -> None:
    def comparable(spec: dict[str, Any]) -> dict[str, Any]:
        copy = {
            k: v
            for k, v in spec.items()
            if k not in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")
        }
        for group in ("containers", "initContainers"):
            if group in copy:
                copy[group] = [{k: v for k, v in c.items() if k != "image"} for c in copy[group]]
        return copy

    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if not old_spec.get("nodeName") and new_spec.get("nodeName"):
        # Leniency: kube-apiserver only sets nodeName through pods/binding; the local scheduler may patch it.
        old_spec = dict(old_spec, nodeName=new_spec["nodeName"])
    if comparable(old_spec) != comparable(new_spec):
        causes.append(field_cause("FieldValueForbidden", "spec", _IMMUTABLE_POD_MESSAGE))


def validate_builtin(rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Raise 422 Invalid with kube-apiserver-shaped causes when ``obj`` breaks the rules for its kind."""
    causes: Causes = []
    _metadata(obj.get("metadata") or {}, causes)
    gr = (rtype.group, rtype.resource)
    if gr == ("", "pods"):
        _pod_spec(obj.get("spec"), "spec", causes, ("Always", "OnFailure", "Never"))
        if old is not None:
            _pod_update(old, obj, causes)
    elif gr in (("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets")):
        _workload(obj, causes)
        if old is not None and (old.get("spec") or {}).get("selector") != (obj.get("spec") or {}).get(
            "selector"
        ):
            causes.append(
                field_cause(
                    "FieldValueInvalid",
                    "spec.selector",
                    f"Invalid value: {_q((obj.get('spec') or {}).get('selector'))}: field is immutable",
                )
            )
    elif gr == ("batch", "jobs"):
        _workload(obj, causes, job=True)
        if old is not None and (old.get("spec") or {}).get("template") != (obj.get("spec") or {}).get(
            "template"
        ):
            causes.append(
                field_cause("FieldValueInvalid", "spec.template", "Invalid value: field is immutable")
            )
    elif gr == ("", "services"):
        _service(obj, causes)
    elif gr in (("", "configmaps"), ("", "secrets")):
        _data(obj, causes, secret=gr[1] == "secrets")
    if causes:
        raise invalid(rtype.kind, rtype.group, obj["metadata"].get("name", ""), causes)
