"""The JSONPath subset kubectl printer columns and ``kubectl wait --for=jsonpath`` use.

Supported: optional ``{...}`` and ``$``; ``.field`` (``\\.`` escapes a dot), ``['field']``, ``[n]`` (negative
counts from the end), ``[a:b]``, ``[*]`` / ``.*``, ``..field`` (recursive descent), and filters
``[?(@.path OP literal)]`` with OP one of ``== != < <= > >=`` or a bare ``[?(@.path)]`` existence test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any


class JSONPathError(ValueError):
    """The expression is not valid in the supported subset."""


Step = Callable[[Any], Iterator[Any]]

_FILTER = re.compile(r"^\?\(\s*@((?:\.[^\s=!<>]+)*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*\)$")
_SLICE = re.compile(r"^(-?\d*):(-?\d*)$")


def evaluate_jsonpath(obj: dict[str, Any], expr: str) -> list[object]:
    """All values ``expr`` selects in ``obj``: ``.a.b``, ``[n]``, ``[*]``, ``[?(@.type=="Ready")].status``.

    Missing paths select nothing (an empty list), as printer columns show ``<none>``.
    """
    nodes: list[Any] = [obj]
    for step in _compile(expr):
        nodes = [found for node in nodes for found in step(node)]
    return nodes


@lru_cache(maxsize=1024)
def _compile(expr: str) -> tuple[Step, ...]:
    text = expr.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[Step] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if text.startswith("..", pos):
            name, pos = _read_name(text, pos + 2)
            steps.append(_descend(name))
        elif char == ".":
            name, pos = _read_name(text, pos + 1)
            if name:
                steps.append(_all_children if name == "*" else _child(name))
        elif char == "[":
            end = _closing_bracket(text, pos)
            steps.append(_bracket(text[pos + 1 : end].strip()))
            pos = end + 1
        elif pos == 0:
            name, pos = _read_name(text, pos)
            steps.append(_child(name))
        else:
            raise JSONPathError(f"unexpected {char!r} at position {pos} in {expr!r}")
    return tuple(steps)


def _read_name(text: str, pos: int) -> tuple[str, int]:
    name: list[str] = []
    while pos < len(text) and text[pos] not in ".[" and not text[pos].isspace():
        if text[pos] == "\\" and pos + 1 < len(text):
            pos += 1
        name.append(text[pos])
        pos += 1
    return "".join(name), pos


def _closing_bracket(text: str, start: int) -> int:
    quote = ""
    depth = 0
    for pos in range(start, len(text)):
        char = text[pos]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
            if depth == 0:
                return pos
    raise JSONPathError(f"unclosed bracket in {text!r}")


def _child(name: str) -> Step:
    def step(node: Any) -> Iterator[Any]:
        if isinstance(node, dict) and name in node:
            yield node[name]

    return step


def _all_children(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        yield from node.values()
    elif isinstance(node, list):
        yield from node


def _descend(name: str) -> Step:
    def step(node: Any) -> Iterator[Any]:
        if isinstance(node, dict):
            if name in node:
                yield node[name]
            for value in node.values():
                yield from step(value)
        elif isinstance(node, list):
            for value in node:
                yield from step(value)

    return step


def _bracket(inner: str) -> Step:
    if inner == "*":
        return _all_children
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return _child(inner[1:-1])
    if re.fullmatch(r"-?\d+", inner):
        return _index(int(inner))
    sliced = _SLICE.match(inner)
    if sliced:
        start = int(sliced.group(1)) if sliced.group(1) else None
        stop = int(sliced.group(2)) if sliced.group(2) else None
        return lambda node: iter(node[start:stop] if isinstance(node, list) else [])
    filtered = _FILTER.match(inner)
    if filtered:
        return _filter(filtered.group(1), filtered.group(2), filtered.group(3))
    raise JSONPathError(f"unsupported bracket expression [{inner}]")


def _index(index: int) -> Step:
    def step(node: Any) -> Iterator[Any]:
        if isinstance(node, list) and -len(node) <= index < len(node):
            yield node[index]

    return step


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JSONPathError(f"invalid literal {text!r} in filter") from exc


def _filter(path: str, operator: str | None, literal: str | None) -> Step:
    inner_steps = _compile(path) if path else ()
    wanted = _literal(literal) if literal is not None else None

    def select(item: Any) -> list[Any]:
        nodes = [item]
        for inner in inner_steps:
            nodes = [found for node in nodes for found in inner(node)]
        return nodes

    def keep(item: Any) -> bool:
        values = select(item)
        if operator is None:
            return bool(values)
        return any(_compare(value, operator, wanted) for value in values)

    def step(node: Any) -> Iterator[Any]:
        items = node if isinstance(node, list) else list(node.values()) if isinstance(node, dict) else []
        return (item for item in items if keep(item))

    return step


def _compare(value: Any, operator: str, wanted: Any) -> bool:
    if operator == "==":
        return bool(value == wanted)
    if operator == "!=":
        return bool(value != wanted)
    if isinstance(value, int | float) and isinstance(wanted, int | float):
        order = (float(value) > float(wanted)) - (float(value) < float(wanted))
    elif isinstance(value, str) and isinstance(wanted, str):
        order = (value > wanted) - (value < wanted)
    else:
        return False
    return {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[operator]
