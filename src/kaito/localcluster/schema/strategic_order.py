"""List ordering after a strategic merge, reproducing apimachinery's ``normalizeElementOrder`` exactly.

apimachinery sorts with ``sort.SliceStable`` and a comparator that answers "less" whenever an item is missing
from the reference order; the result depends on Go's stable-sort algorithm, so that algorithm is ported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kaito.localcluster.schema.jsonvalue import json_equal


def identity_of(item: Any, key: str) -> Any:
    """What identifies a list item: its merge-key value, or the item itself for primitive lists."""
    return item.get(key) if key and isinstance(item, dict) else item


def index_in(order: list[Any], item: Any, key: str) -> int:
    """Position of ``item`` in ``order`` by identity, -1 when absent."""
    wanted = identity_of(item, key)
    for position, candidate in enumerate(order):
        if json_equal(identity_of(candidate, key), wanted):
            return position
    return -1


def normalize_element_order(
    merged: list[Any], patch_order: list[Any], server_order: list[Any], key: str
) -> list[Any]:
    """Split ``merged`` into items named in ``patch_order`` and server-only items, sort each, interleave."""
    patch_items = [item for item in merged if index_in(patch_order, item, key) >= 0]
    server_only = [item for item in merged if index_in(patch_order, item, key) < 0]
    patch_items = _sort_by(patch_items, patch_order, key)
    server_only = _sort_by(server_only, server_order, key)
    return _merge_sorted(server_only, patch_items, server_order, key)


def go_aliased_server_order(server: list[Any], patch: list[Any], key: str) -> list[Any]:
    """The live list as apimachinery sees it when ordering by ``$setElementOrder``.

    apimachinery deletes (``$patch: delete``) and appends new items in place on the live list's Go backing
    array, so the "server order" it then consults shows deleted slots overwritten by shifted and new items.
    """
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return list(server)
    backing = [identity_of(item, key) for item in server]
    length = len(backing)
    for item in patch:
        if isinstance(item, dict) and item.get("$patch") == "delete" and key in item:
            while True:
                found = next((i for i in range(length) if json_equal(backing[i], item[key])), None)
                if found is None:
                    break
                backing[found : length - 1] = backing[found + 1 : length]
                length -= 1
    for item in patch:
        if not isinstance(item, dict) or "$patch" in item or key not in item:
            continue
        if any(json_equal(backing[i], item[key]) for i in range(length)):
            continue
        if length >= len(backing):
            break  # Go reallocates: the live list's array is no longer written
        backing[length] = item[key]
        length += 1
    return [{key: ident} for ident in backing]


def _sort_by(items: list[Any], order: list[Any], key: str) -> list[Any]:
    def less(left: Any, right: Any) -> bool:
        left_at = index_in(order, left, key)
        if left_at >= 0:
            right_at = index_in(order, right, key)
            if right_at >= 0:
                return left_at < right_at
        return True

    data = list(items)
    go_stable_sort(data, less)
    return data


def _merge_sorted(left: list[Any], right: list[Any], server_order: list[Any], key: str) -> list[Any]:
    result: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            result.append(right[j])
            j += 1
        elif j >= len(right):
            result.append(left[i])
            i += 1
        else:
            left_at = index_in(server_order, left[i], key)
            right_at = index_in(server_order, right[j], key)
            if left_at >= 0 and right_at >= 0 and left_at < right_at:
                result.append(left[i])
                i += 1
            else:
                result.append(right[j])
                j += 1
    return result


def go_stable_sort(data: list[Any], less: Callable[[Any, Any], bool]) -> None:
    """Go's ``sort.SliceStable`` (insertion-sorted blocks of 20, then SymMerge), in place."""
    n = len(data)
    block = 20
    a, b = 0, block
    while b <= n:
        _insertion_sort(data, less, a, b)
        a, b = b, b + block
    _insertion_sort(data, less, a, n)
    while block < n:
        a, b = 0, 2 * block
        while b <= n:
            _sym_merge(data, less, a, a + block, b)
            a, b = b, b + 2 * block
        middle = a + block
        if middle < n:
            _sym_merge(data, less, a, middle, n)
        block *= 2


def _insertion_sort(data: list[Any], less: Callable[[Any, Any], bool], a: int, b: int) -> None:
    for i in range(a + 1, b):
        j = i
        while j > a and less(data[j], data[j - 1]):
            data[j], data[j - 1] = data[j - 1], data[j]
            j -= 1


def _sym_merge(data: list[Any], less: Callable[[Any, Any], bool], a: int, m: int, b: int) -> None:
    if m - a == 1:
        i, j = m, b
        while i < j:
            h = (i + j) // 2
            if less(data[h], data[a]):
                i = h + 1
            else:
                j = h
        for k in range(a, i - 1):
            data[k], data[k + 1] = data[k + 1], data[k]
        return
    if b - m == 1:
        i, j = a, m
        while i < j:
            h = (i + j) // 2
            if not less(data[m], data[h]):
                i = h + 1
            else:
                j = h
        for k in range(m, i, -1):
            data[k], data[k - 1] = data[k - 1], data[k]
        return
    mid = (a + b) // 2
    n = mid + m
    if m > mid:
        start, r = n - b, mid
    else:
        start, r = a, m
    p = n - 1
    while start < r:
        c = (start + r) // 2
        if not less(data[p - c], data[c]):
            start = c + 1
        else:
            r = c
    end = n - start
    if start < m < end:
        _rotate(data, start, m, end)
    if a < start < mid:
        _sym_merge(data, less, a, start, mid)
    if mid < end < b:
        _sym_merge(data, less, mid, end, b)


def _rotate(data: list[Any], a: int, m: int, b: int) -> None:
    i, j = m - a, b - m
    while i != j:
        if i > j:
            _swap_range(data, m - i, m, j)
            i -= j
        else:
            _swap_range(data, m - i, m + j - i, i)
            j -= i
    _swap_range(data, m - i, m, i)


def _swap_range(data: list[Any], a: int, b: int, n: int) -> None:
    for offset in range(n):
        data[a + offset], data[b + offset] = data[b + offset], data[a + offset]
