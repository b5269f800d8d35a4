"""CEL for ``x-kubernetes-validations``: compile-once programs, schema-aware values, k8s extension functions.

Supported beyond standard CEL (``has``, ``size``, ``matches``, ``startsWith``/``endsWith``/``contains``,
``all``/``exists``/``exists_one``/``map``/``filter``, ``in``, ``timestamp``/``duration``): the Kubernetes
string library (``charAt``, ``indexOf``, ``lastIndexOf``, ``lowerAscii``, ``upperAscii``, ``replace``,
``split``, ``substring``, ``trim``, list ``join``), the list library (``isSorted``, ``sum``, ``min``, ``max``,
``indexOf``, ``lastIndexOf``) and regex ``find``/``findAll``. Not supported: ``url``, ``quantity``, ``ip``,
``cidr``, ``format``, ``authorizer`` and the cost budget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from kaito.localcluster.schema.jsonvalue import json_type

Schema = dict[str, Any]

_RESERVED = frozenset(
    {
        "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if",
        "import", "let", "loop", "package", "namespace", "return", "var", "void", "while",
    }
)  # fmt: skip
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ESCAPES = (("__", "__underscores__"), (".", "__dot__"), ("-", "__dash__"), ("/", "__slash__"))


def escape_property_name(name: str) -> str | None:
    """The name under which CEL sees an object property, or None when CEL cannot address it (k8s rules)."""
    if name in _RESERVED:
        return f"__{name}__"
    for raw, escaped in _ESCAPES:
        name = name.replace(raw, escaped)
    return name if _IDENTIFIER.match(name) else None


class CELRuleError(Exception):
    """A rule failed to compile or evaluate; the message is what the API server reports."""


@dataclass(frozen=True)
class CompiledRule:
    """One compiled CEL expression, whether it refers to ``oldSelf`` (a transition rule), and the top-level
    fields of ``self``/``oldSelf`` it reads (None: it reads the whole value)."""

    text: str
    program: Any
    uses_old_self: bool
    fields_read: frozenset[str] | None = None

    def evaluate(self, activation: dict[str, Any]) -> Any:
        """The CEL result; raises CELRuleError on any evaluation problem."""
        try:
            result = self.program.evaluate(activation)
        except CELEvalError as exc:
            raise CELRuleError(_describe(exc)) from exc
        except Exception as exc:  # celpy surfaces internal failures as plain exceptions
            raise CELRuleError(f"{type(exc).__name__}: {exc}") from exc
        if isinstance(result, CELEvalError):
            raise CELRuleError(_describe(result))
        return result


def _describe(exc: CELEvalError) -> str:
    if exc.args and isinstance(exc.args[0], str):
        detail = exc.args[0]
        if len(exc.args) > 2 and exc.args[2]:
            detail = f"{detail}: {', '.join(str(arg) for arg in exc.args[2])}"
        return detail
    return str(exc)


_ENVIRONMENT = celpy.Environment()


@lru_cache(maxsize=4096)
def compile_rule(text: str) -> CompiledRule:
    """Compile (once, cached) a CEL expression; raises CELRuleError on a syntax error."""
    try:
        ast = _ENVIRONMENT.compile(text)
        program = _ENVIRONMENT.program(ast, functions=_FUNCTIONS)
    except Exception as exc:
        raise CELRuleError(f"compilation failed: {exc}") from exc
    uses_old = any(
        getattr(token, "value", None) == "oldSelf" for token in ast.scan_values(lambda v: hasattr(v, "value"))
    )
    return CompiledRule(text=text, program=program, uses_old_self=uses_old, fields_read=_fields_read(text))


_SELF_REFERENCE = re.compile(r"\b(?:self|oldSelf)\b(\.[A-Za-z_][A-Za-z0-9_]*\b(?!\s*\())?")


def _fields_read(text: str) -> frozenset[str] | None:
    """The property names a rule reaches through ``self.<name>``/``oldSelf.<name>``, or None when it uses
    ``self`` or ``oldSelf`` as a whole (bare, indexed, or with a method call such as ``self.size()``). Read
    from the text: a name inside a string literal only widens the
    set, and a bare ``self`` inside one only falls back to the whole value, so the answer is always safe."""
    fields: set[str] = set()
    for match in _SELF_REFERENCE.finditer(text):
        member = match.group(1)
        # Escaped names (`__dash__`, `__in__`...) stand for other JSON keys: read the whole value then.
        if member is None or "__" in member:
            return None
        fields.add(member[1:])
    return frozenset(fields)


def to_cel(value: Any, schema: Schema | None, *, root: bool = False) -> Any:
    """Convert a JSON value to CEL, shaped by its schema (escaped property names, numbers as doubles)."""
    schema = schema or {}
    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        if schema.get("type") == "number" or not -(2**63) <= value < 2**63:
            return celtypes.DoubleType(float(value))
        return celtypes.IntType(value)
    if isinstance(value, float):
        if schema.get("type") == "integer" and value.is_integer() and -(2**63) <= value < 2**63:
            return celtypes.IntType(int(value))
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        return _string_to_cel(value, schema.get("format"))
    if isinstance(value, list):
        items = schema.get("items")
        return celtypes.ListType([to_cel(item, items) for item in value])
    if isinstance(value, dict):
        return _object_to_cel(value, schema, root=root)
    raise TypeError(f"cannot convert {type(value).__name__} to CEL")


def _string_to_cel(value: str, fmt: str | None) -> Any:
    try:
        if fmt == "date-time":
            return celtypes.TimestampType(value)
        if fmt == "duration":
            return celtypes.DurationType(value)
    except (ValueError, TypeError):
        pass
    return celtypes.StringType(value)


def _object_to_cel(value: dict[str, Any], schema: Schema, *, root: bool) -> Any:
    properties: dict[str, Schema] | None = schema.get("properties")
    additional = schema.get("additionalProperties")
    embedded = root or bool(schema.get("x-kubernetes-embedded-resource"))
    converted: dict[Any, Any] = {}
    for key, item in value.items():
        if embedded and key == "metadata":
            meta = {k: item[k] for k in ("name", "generateName") if isinstance(item, dict) and k in item}
            converted[celtypes.StringType(key)] = to_cel(meta, {})
        elif properties is not None and key in properties:
            name = escape_property_name(key)
            if name is not None:
                converted[celtypes.StringType(name)] = to_cel(item, properties[key])
        elif isinstance(additional, dict):
            converted[celtypes.StringType(key)] = to_cel(item, additional)
        else:
            converted[celtypes.StringType(key)] = json_to_cel(item)
    return celtypes.MapType(converted)


def cel_type_name(schema: Schema, value: Any) -> str:
    """The type word k8s shows as the bad value of a failed rule ("object", "string", ...)."""
    declared = schema.get("type")
    if isinstance(declared, str) and declared:
        return declared
    found = json_type(value)
    return found if found in _JSON_TYPE_WORDS else "string"


_JSON_TYPE_WORDS = frozenset({"object", "array", "boolean", "integer", "number", "string"})


# ---- Kubernetes CEL extension functions -------------------------------------------------------------


def _char_at(text: Any, index: Any) -> Any:
    position = int(index)
    if not 0 <= position <= len(text):
        raise ValueError(f"index out of range: {position}")
    return celtypes.StringType(str(text)[position : position + 1])


def _index_of(container: Any, needle: Any, start: Any = None) -> Any:
    if isinstance(container, str):
        offset = int(start) if start is not None else 0
        if not 0 <= offset <= len(container):
            raise ValueError(f"index out of range: {offset}")
        return celtypes.IntType(str(container).find(str(needle), offset))
    items = list(container)
    return celtypes.IntType(items.index(needle) if needle in items else -1)


def _last_index_of(container: Any, needle: Any) -> Any:
    if isinstance(container, str):
        return celtypes.IntType(str(container).rfind(str(needle)))
    items = list(container)
    for position in range(len(items) - 1, -1, -1):
        if items[position] == needle:
            return celtypes.IntType(position)
    return celtypes.IntType(-1)


def _replace(text: Any, old: Any, new: Any, count: Any = None) -> Any:
    limit = int(count) if count is not None else -1
    return celtypes.StringType(str(text).replace(str(old), str(new), limit))


def _split(text: Any, separator: Any, count: Any = None) -> Any:
    limit = int(count) if count is not None else -1
    if limit == 0:
        return celtypes.ListType([])
    parts = str(text).split(str(separator), limit - 1 if limit > 0 else -1)
    return celtypes.ListType([celtypes.StringType(part) for part in parts])


def _substring(text: Any, start: Any, end: Any = None) -> Any:
    first = int(start)
    last = int(end) if end is not None else len(text)
    if not 0 <= first <= last <= len(text):
        raise ValueError(f"substring out of range: [{first}:{last}]")
    return celtypes.StringType(str(text)[first:last])


def _join(items: Any, separator: Any = None) -> Any:
    return celtypes.StringType(str(separator or "").join(str(item) for item in items))


def _is_sorted(items: Any) -> Any:
    values = list(items)
    return celtypes.BoolType(all(a <= b for a, b in pairwise(values)))


def _sum(items: Any) -> Any:
    values = list(items)
    if not values:
        return celtypes.IntType(0)
    total = values[0]
    for item in values[1:]:
        total = total + item
    return total


def _min(items: Any) -> Any:
    values = list(items)
    if not values:
        raise ValueError("min called on an empty list")
    return min(values)


def _max(items: Any) -> Any:
    values = list(items)
    if not values:
        raise ValueError("max called on an empty list")
    return max(values)


def _find(text: Any, pattern: Any) -> Any:
    found = re.search(str(pattern), str(text))
    return celtypes.StringType(found.group(0) if found else "")


def _find_all(text: Any, pattern: Any, count: Any = None) -> Any:
    matches = [m.group(0) for m in re.finditer(str(pattern), str(text))]
    if count is not None and int(count) >= 0:
        matches = matches[: int(count)]
    return celtypes.ListType([celtypes.StringType(m) for m in matches])


def _optional_value(value: Any) -> Any:
    if value is None:
        raise ValueError("optional.none() dereference")
    return value


# ``optionalOldSelf``: oldSelf is bound to the old value or null; these make the CEL optional API work on it.
_OPTIONAL_FUNCTIONS: dict[str, Any] = {
    "hasValue": lambda value: celtypes.BoolType(value is not None),
    "value": _optional_value,
    "orValue": lambda value, fallback: fallback if value is None else value,
}

_FUNCTIONS: dict[str, Any] = {
    **_OPTIONAL_FUNCTIONS,
    "charAt": _char_at,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "lowerAscii": lambda text: celtypes.StringType(str(text).lower()),
    "upperAscii": lambda text: celtypes.StringType(str(text).upper()),
    "replace": _replace,
    "split": _split,
    "substring": _substring,
    "trim": lambda text: celtypes.StringType(str(text).strip()),
    "join": _join,
    "isSorted": _is_sorted,
    "sum": _sum,
    "min": _min,
    "max": _max,
    "find": _find,
    "findAll": _find_all,
}
