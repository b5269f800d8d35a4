"""Transition rules on unchanged values without the CEL interpreter, where the answer is plainly true.

On an update, a subtree equal to the stored one still has its ``oldSelf`` rules evaluated (ratcheting does
not cover them). With ``self`` and ``oldSelf`` equal, the usual immutability rules (``self.x ==
oldSelf.x``, ``has(self.x) == has(oldSelf.x) && (!has(self.x) || ...)``) hold trivially, yet interpreting
them costs hundreds of microseconds per write. This module reads such a rule once into a small tree of
``&&``, ``||``, ``!``, ``==``, ``!=``, ``has()``, field paths and boolean literals, and decides it on the
value. It answers only "true, certainly"; anything else (another construct, a missing or null field, an
escaped or ``metadata`` name, a NaN) leaves the rule to the interpreter, so messages and errors stay its.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Final

import celpy

from kaito.localcluster.schema.cel import escape_property_name

Node = tuple[Any, ...]
_ERROR: Final = object()  # evaluation failed (or is not decided here)
_ENVIRONMENT = celpy.Environment()
_PASS_THROUGH = frozenset(
    {"expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication"}
)


def true_when_unchanged(text: str, value: Any) -> bool:
    """Whether the rule ``text`` certainly evaluates to true with ``self`` and ``oldSelf`` both ``value``."""
    node = _reflexive_form(text)
    return node is not None and _evaluate(node, value) is True


@lru_cache(maxsize=1024)
def _reflexive_form(text: str) -> Node | None:
    try:
        return _read(_ENVIRONMENT.compile(text))
    except Exception:  # not parseable here, or a construct this module does not decide
        return None


class _Unsupported(Exception):
    pass


def _is_tree(item: Any) -> bool:
    """A parse-tree node (lark's Tree: ``data`` and ``children``), as opposed to a token (a str)."""
    return hasattr(item, "data") and hasattr(item, "children")


def _rule(tree: Any) -> str:
    return str(tree.data)


def _read(tree: Any) -> Node:
    if not _is_tree(tree):
        raise _Unsupported
    rule, children = _rule(tree), tree.children
    if rule in _PASS_THROUGH and len(children) == 1:
        return _read(children[0])
    if rule == "conditionalor" and len(children) == 2:
        return ("or", _read(children[0]), _read(children[1]))
    if rule == "conditionaland" and len(children) == 2:
        return ("and", _read(children[0]), _read(children[1]))
    if rule == "relation" and len(children) == 2 and _is_tree(children[0]):
        operator = _rule(children[0])
        if operator in ("relation_eq", "relation_ne") and len(children[0].children) == 1:
            return (operator[-2:], _read(children[0].children[0]), _read(children[1]))
        raise _Unsupported
    if rule == "unary" and len(children) == 1:
        return _read(children[0])
    if rule == "unary" and len(children) == 2 and _is_tree(children[0]):
        if _rule(children[0]) == "unary_not":
            return ("not", _read(children[1]))
        raise _Unsupported
    if rule in ("member", "primary", "paren_expr") and len(children) == 1:
        return _read(children[0])
    if rule in ("member_dot", "ident"):
        return ("path", _path(tree))
    if rule == "ident_arg" and len(children) == 2 and str(children[0]) == "has":
        arguments = children[1]
        if _is_tree(arguments) and len(arguments.children) == 1:
            inner = _read(arguments.children[0])
            if inner[0] == "path" and inner[1]:
                return ("has", inner[1])
        raise _Unsupported
    if rule == "literal" and len(children) == 1 and getattr(children[0], "type", None) == "BOOL_LIT":
        return ("bool", str(children[0]) == "true")
    raise _Unsupported


def _path(tree: Any) -> tuple[str, ...]:
    """``self.a.b`` or ``oldSelf.a.b`` as ("a", "b"): both stand for the same value here."""
    while _is_tree(tree) and _rule(tree) in ("member", "primary") and len(tree.children) == 1:
        tree = tree.children[0]
    if not _is_tree(tree):
        raise _Unsupported
    if _rule(tree) == "ident" and len(tree.children) == 1 and str(tree.children[0]) in ("self", "oldSelf"):
        return ()
    if _rule(tree) == "member_dot" and len(tree.children) == 2 and not _is_tree(tree.children[1]):
        name = str(tree.children[1])
        if name == "metadata" or escape_property_name(name) != name:
            raise _Unsupported  # restricted or escaped names: the interpreter knows how CEL sees them
        return (*_path(tree.children[0]), name)
    raise _Unsupported


def _lookup(value: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        if not isinstance(value, dict):
            return _ERROR
        value = value.get(name)
        if value is None:  # missing (a CEL error), or null (left to the interpreter)
            return _ERROR
    return value


def _evaluate(node: Node, value: Any) -> Any:
    """True, False, a ("path", ...) operand, or _ERROR."""
    kind = node[0]
    if kind == "bool":
        return node[1]
    if kind == "path":
        return node if _lookup(value, node[1]) is not _ERROR else _ERROR
    if kind == "has":
        parent = _lookup(value, node[1][:-1])
        if not isinstance(parent, dict):
            return _ERROR
        present = parent.get(node[1][-1], _ERROR)
        return _ERROR if present is None else present is not _ERROR
    if kind == "not":
        operand = _evaluate(node[1], value)
        return (not operand) if isinstance(operand, bool) else _ERROR
    left, right = _evaluate(node[1], value), _evaluate(node[2], value)
    if kind in ("and", "or"):
        decisive = kind == "or"  # CEL: true || error is true, false && error is false, either order
        if left is decisive or right is decisive:
            return decisive
        return (not decisive) if left is (not decisive) and right is (not decisive) else _ERROR
    # == / !=
    if isinstance(left, bool) and isinstance(right, bool):
        equal = left == right
    elif isinstance(left, tuple) and isinstance(right, tuple) and left == right:
        if _has_nan(_lookup(value, left[1])):
            return _ERROR
        equal = True  # the same field of equal values
    else:
        return _ERROR
    return equal if kind == "eq" else not equal


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_has_nan(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_nan(item) for item in value)
    return False
