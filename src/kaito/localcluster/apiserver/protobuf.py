"""Decodes the Kubernetes protobuf request bodies that kubectl's typed clients send, into their JSON form.

kubectl's generated clients (``kubectl create deployment|job|service|role|secret|...``) encode request
bodies as ``application/vnd.kubernetes.protobuf`` and do not fall back to JSON. Responses stay JSON, which
those clients accept. The messages understood are the tables of ``protobuf_schema``; a kind without a
table answers 415, and so does a set field the tables do not know (dropping it would silently change
what the user asked for), while unknown fields holding their zero value are ignored.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from kaito.localcluster.apiserver.errors import ApiError
from kaito.localcluster.apiserver.protobuf_schema import (
    INT_OR_STRING,
    KINDS,
    MESSAGES,
    QUANTITY,
    SCALARS,
    Field,
)

MAGIC = b"k8s\x00"
WireField = tuple[int, int, Any]  # (field number, wire type, value: int for varint, bytes otherwise)
_UNSUPPORTED = "UnsupportedMediaType"


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Iterator[WireField]:
    """The wire-format fields of one message, in order."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire in (1, 2, 5):
            if wire == 2:
                length, pos = _varint(data, pos)
            else:
                length = 8 if wire == 1 else 4
            if pos + length > len(data):
                raise ValueError("truncated field")
            yield number, wire, data[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _is_zero(wire: int, value: Any) -> bool:
    """Whether an unknown field carries only a zero value (proto2 Go structs send those for every field)."""
    if wire == 0:
        return bool(value == 0)
    if not value or not any(value):
        return True
    if wire != 2:
        return False
    try:
        return all(_is_zero(w, v) for _, w, v in fields(value))
    except ValueError:
        return False


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(value: Any) -> str:
    if not isinstance(value, bytes):
        raise ValueError("a string field arrived as a number")
    return value.decode("utf-8")


def _scalar(kind: str, wire: int, value: Any) -> Any:
    if kind == "string":
        return _text(value)
    if kind == "bytes":
        if not isinstance(value, bytes):
            raise ValueError("a bytes field arrived as a number")
        return base64.b64encode(value).decode()
    if wire != 0:
        raise ValueError(f"a {kind} field arrived with wire type {wire}")
    return _signed(value) if kind == "int" else bool(value)


def _is_zero_value(value: Any) -> bool:
    """A scalar Go's omitempty leaves out of JSON (decoded messages, even empty, are always kept)."""
    return not isinstance(value, dict) and value in ("", 0, False)


def _int_or_string(data: bytes) -> int | str:
    kind, number, string = 0, 0, ""
    for field_number, wire, value in fields(data):
        if field_number == 1:
            kind = _scalar("int", wire, value)
        elif field_number == 2:
            number = _scalar("int", wire, value)
        elif field_number == 3:
            string = _text(value)
    return string if kind == 1 else number


def _quantity(data: bytes) -> str:
    return next((_text(value) for number, _, value in fields(data) if number == 1), "")


def _special(message: str, data: bytes) -> Any:
    return _quantity(data) if message == QUANTITY else _int_or_string(data)


def _map_entry(field: Field, data: bytes, path: str) -> tuple[str, Any]:
    key, raw, wire = "", b"", 2
    for number, entry_wire, value in fields(data):
        if number == 1:
            key = _text(value)
        elif number == 2:
            raw, wire = value, entry_wire
    if field.map_value in SCALARS:
        return key, _scalar(field.map_value, wire, raw)
    return key, _decode(field.map_value, _bytes(raw), f"{path}[{key}]")


def _bytes(value: Any) -> bytes:
    if not isinstance(value, bytes):
        raise ValueError("a message field arrived as a number")
    return value


def _items(field: Field, wire: int, value: Any, path: str) -> list[Any]:
    """The decoded value(s) one wire field holds: several for a packed repeated number field."""
    if field.type not in SCALARS:
        return [_decode(field.type, _bytes(value), path)]
    if field.type in ("int", "bool") and wire == 2:  # packed
        decoded, pos = [], 0
        while pos < len(value):
            item, pos = _varint(value, pos)
            decoded.append(_scalar(field.type, 0, item))
        return decoded
    return [_scalar(field.type, wire, value)]


def _decode(message: str, data: bytes, path: str) -> Any:
    if message in (QUANTITY, INT_OR_STRING):
        return _special(message, data)
    table = MESSAGES[message]
    obj: dict[str, Any] = {}
    for number, wire, value in fields(data):
        field = table.get(number)
        if field is None:
            if _is_zero(wire, value):
                continue
            raise ApiError(
                415,
                f"{path or message}: protobuf field {number} of {message} is not understood by this server; "
                "send the object as application/json",
                _UNSUPPORTED,
            )
        if field.server_set:
            continue
        where = f"{path}.{field.name}" if path else field.name
        if field.map_value:
            key, item = _map_entry(field, _bytes(value), where)
            obj.setdefault(field.name, {})[key] = item
            continue
        items = _items(field, wire, value, where)
        if field.repeated:
            obj.setdefault(field.name, []).extend(items)
        elif field.keep_zero or not _is_zero_value(items[0]):
            obj[field.name] = items[0]
    return obj


def decode_message(message: str, data: bytes) -> dict[str, Any]:
    """The JSON form of one message of ``protobuf_schema.MESSAGES`` (e.g. ``ObjectMeta``)."""
    try:
        decoded = _decode(message, data, "")
    except (ValueError, UnicodeDecodeError) as err:
        raise ApiError(400, f"unable to decode protobuf body: {err}", "BadRequest") from None
    if not isinstance(decoded, dict):
        raise TypeError(f"{message} does not decode to an object")
    return decoded


def object_meta(data: bytes) -> dict[str, Any]:
    return decode_message("ObjectMeta", data)


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object; 415 for kinds this server cannot read as protobuf."""
    if not body.startswith(MAGIC):
        raise ApiError(415, "protobuf body without the k8s magic prefix", _UNSUPPORTED)
    api_version = kind = ""
    raw = b""
    try:
        for number, _, value in fields(body[len(MAGIC) :]):
            if number == 1:
                for inner, _, part in fields(_bytes(value)):
                    if inner == 1:
                        api_version = _text(part)
                    elif inner == 2:
                        kind = _text(part)
            elif number == 2:
                raw = _bytes(value)
    except (ValueError, UnicodeDecodeError) as err:
        raise ApiError(400, f"unable to decode protobuf body: {err}", "BadRequest") from None
    message = KINDS.get((api_version, kind))
    if message is None:
        raise ApiError(
            415,
            f"the server cannot decode {kind or 'this kind'} from protobuf; send application/json",
            _UNSUPPORTED,
        )
    return {"apiVersion": api_version, "kind": kind, **decode_message(message, raw)}
