"""Label and field selector parsing and matching with kube-apiserver's syntax and errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kaito.localcluster.apiserver.errors import bad_request

_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_OPS = ("notin", "in", "!=", "==", "=", ">", "<")


@dataclass(frozen=True)
class Requirement:
    """One label requirement: ``key op values``; op in =, !=, in, notin, exists, !exists, gt, lt."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        if self.op in ("!=", "notin"):
            return not present or labels[self.key] not in self.values
        if not present:
            return False
        try:
            have = int(labels[self.key])
        except ValueError:
            return False
        want = int(self.values[0])
        return have > want if self.op == "gt" else have < want


LabelSelector = tuple[Requirement, ...]


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _check_key(key: str, text: str) -> None:
    if not key or len(key.split("/")[-1]) > 63 or not _KEY.match(key):
        raise bad_request(
            f'unable to parse requirement: invalid label key "{key}": name part must consist of '
            "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
            f"character (in selector {text!r})"
        )


def _check_value(value: str) -> None:
    if len(value) > 63 or not _VALUE.match(value):
        raise bad_request(
            f'unable to parse requirement: values[0]: Invalid value: "{value}": a valid label must '
            "be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character"
        )


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the ``labelSelector`` query string form; raise 400 on bad syntax."""
    requirements: list[Requirement] = []
    if not text.strip():
        return ()
    for raw in _split_top_level(text):
        part = raw.strip()
        if not part:
            raise bad_request(f"found '', expected: identifier in selector {text!r}")
        set_match = re.fullmatch(r"(\S+)\s+(in|notin)\s*\((.*)\)", part)
        if set_match:
            key, op, body = set_match.groups()
            _check_key(key, text)
            values = tuple(v.strip() for v in body.split(",")) if body.strip() else ()
            if not values:
                raise bad_request(
                    f"for 'in', 'notin' operators, values set can't be empty (in selector {text!r})"
                )
            for value in values:
                _check_value(value)
            requirements.append(Requirement(key, op, values))
            continue
        if part.startswith("!"):
            key = part[1:].strip()
            _check_key(key, text)
            requirements.append(Requirement(key, "!exists"))
            continue
        for op in ("!=", "==", "=", ">", "<"):
            if op in part:
                key, value = (s.strip() for s in part.split(op, 1))
                _check_key(key, text)
                if op in (">", "<"):
                    if not re.fullmatch(r"-?\d+", value):
                        raise bad_request(
                            f"unable to parse requirement: for 'Gt', 'Lt' operators, the value "
                            f"must be an integer (in selector {text!r})"
                        )
                    requirements.append(Requirement(key, "gt" if op == ">" else "lt", (value,)))
                else:
                    _check_value(value)
                    requirements.append(Requirement(key, "=" if op in ("=", "==") else "!=", (value,)))
                break
        else:
            if " " in part:
                raise bad_request(f"unable to parse requirement: found '{part}' (in selector {text!r})")
            _check_key(part, text)
            requirements.append(Requirement(part, "exists"))
    return tuple(requirements)


def selector_from_label_selector(selector: dict[str, Any] | None) -> LabelSelector | None:
    """A metav1.LabelSelector dict as requirements; None means "matches nothing" (a null selector)."""
    if selector is None:
        return None
    requirements = [Requirement(k, "=", (str(v),)) for k, v in (selector.get("matchLabels") or {}).items()]
    op_names = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expr in selector.get("matchExpressions") or ():
        requirements.append(
            Requirement(expr["key"], op_names[expr["operator"]], tuple(expr.get("values") or ()))
        )
    return tuple(requirements)


def labels_match(selector: LabelSelector, labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    return all(req.matches(labels) for req in selector)


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    op: str  # "=" or "!="
    value: str


FieldSelector = tuple[FieldRequirement, ...]


def parse_field_selector(text: str, allowed: tuple[str, ...], custom: bool = False) -> FieldSelector:
    """Parse ``fieldSelector``; only metadata.name, metadata.namespace and ``allowed`` labels are accepted."""
    result: list[FieldRequirement] = []
    if not text.strip():
        return ()
    for raw in text.split(","):
        part = raw.strip()
        for op in ("!=", "==", "="):
            if op in part:
                path, value = (s.strip() for s in part.split(op, 1))
                break
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        if path not in ("metadata.name", "metadata.namespace") and path not in allowed:
            if custom:
                raise bad_request(
                    f'"{path}" is not a known field selector: only "metadata.name", "metadata.namespace"'
                )
            raise bad_request(f"field label not supported: {path}")
        result.append(FieldRequirement(path, "!=" if op == "!=" else "=", value))
    return tuple(result)


def _field_value(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
        if node is None:
            return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    if path == "source" and isinstance(node, dict):
        return str(node.get("component", ""))
    return str(node)


def _special_field(path: str) -> Callable[[dict[str, Any]], str] | None:
    if path == "source":
        return lambda obj: (
            str((obj.get("source") or {}).get("component", "")) or str(obj.get("reportingComponent") or "")
        )
    if path == "status.successful":
        return lambda obj: str((obj.get("status") or {}).get("succeeded", 0))
    if path == "spec.unschedulable":
        return lambda obj: "true" if (obj.get("spec") or {}).get("unschedulable") else "false"
    return None


def fields_match(selector: FieldSelector, obj: dict[str, Any]) -> bool:
    for req in selector:
        special = _special_field(req.path)
        value = special(obj) if special else _field_value(obj, req.path)
        if (value == req.value) != (req.op == "="):
            return False
    return True


def exact_name(selector: FieldSelector) -> str | None:
    """The name a ``metadata.name=X`` selector pins, for a direct lookup instead of a scan."""
    for req in selector:
        if req.path == "metadata.name" and req.op == "=":
            return req.value
    return None
