"""Decodes the Kubernetes protobuf request bodies kubectl's typed clients send for a few simple kinds.

kubectl's generated clients (``kubectl create secret|configmap|namespace|serviceaccount``) encode request
bodies as ``application/vnd.kubernetes.protobuf`` and cannot fall back to JSON. Responses stay JSON, which
those clients accept. Only the kinds below (and ObjectMeta) are understood; others answer 415.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from kaito.localcluster.apiserver.errors import ApiError

MAGIC = b"k8s\x00"
Field = tuple[int, int, Any]  # (field number, wire type, value: int for varint, bytes for length-delimited)


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


def fields(data: bytes) -> Iterator[Field]:
    """The wire-format fields of one message, in order."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            yield number, wire, data[pos : pos + length]
            pos += length
        elif wire == 1:
            yield number, wire, data[pos : pos + 8]
            pos += 8
        elif wire == 5:
            yield number, wire, data[pos : pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _text(value: bytes) -> str:
    return value.decode("utf-8")


def _map_entry(value: bytes, as_bytes: bool) -> tuple[str, Any]:
    key, item = "", b""
    for number, _, part in fields(value):
        if number == 1:
            key = _text(part)
        elif number == 2:
            item = part
    return key, base64.b64encode(item).decode() if as_bytes else _text(item)


def _time(value: bytes) -> str:
    seconds = 0
    for number, _, part in fields(value):
        if number == 1:
            seconds = part
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner_reference(value: bytes) -> dict[str, Any]:
    names = {1: "kind", 3: "name", 4: "uid", 5: "apiVersion"}
    ref: dict[str, Any] = {}
    for number, _, part in fields(value):
        if number in names:
            ref[names[number]] = _text(part)
        elif number == 6:
            ref["controller"] = bool(part)
        elif number == 7:
            ref["blockOwnerDeletion"] = bool(part)
    return ref


def object_meta(data: bytes) -> dict[str, Any]:
    strings = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    meta: dict[str, Any] = {}
    for number, _, value in fields(data):
        if number in strings:
            if value:  # proto2 optional strings arrive even when empty
                meta[strings[number]] = _text(value)
        elif number in (11, 12):
            key, item = _map_entry(value, as_bytes=False)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = item
        elif number == 13:
            meta.setdefault("ownerReferences", []).append(_owner_reference(value))
        elif number == 14:
            meta.setdefault("finalizers", []).append(_text(value))
    return meta


def _secret(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, _, value in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(value)
        elif number == 2:
            key, item = _map_entry(value, as_bytes=True)
            obj.setdefault("data", {})[key] = item
        elif number == 3:
            obj["type"] = _text(value)
        elif number == 4:
            key, item = _map_entry(value, as_bytes=False)
            obj.setdefault("stringData", {})[key] = item
        elif number == 5:
            obj["immutable"] = bool(value)
    return obj


def _configmap(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, _, value in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(value)
        elif number in (2, 3):
            key, item = _map_entry(value, as_bytes=number == 3)
            obj.setdefault("data" if number == 2 else "binaryData", {})[key] = item
        elif number == 4:
            obj["immutable"] = bool(value)
    return obj


def _namespace(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, _, value in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(value)
        elif number == 2:
            finalizers = [_text(v) for n, _, v in fields(value) if n == 1]
            obj["spec"] = {"finalizers": finalizers} if finalizers else {}
    return obj


def _service_account(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, _, value in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(value)
        elif number == 4:
            obj["automountServiceAccountToken"] = bool(value)
    return obj


_ATTRIBUTE_NAMES = {
    1: "namespace",
    2: "verb",
    3: "group",
    4: "version",
    5: "resource",
    6: "subresource",
    7: "name",
}


def _attributes(part: bytes) -> dict[str, str]:
    return {_ATTRIBUTE_NAMES[n]: _text(v) for n, _, v in fields(part) if n in _ATTRIBUTE_NAMES and v}


def _access_review(data: bytes) -> dict[str, Any]:
    """SelfSubjectAccessReview: metadata=1, spec=2 {resourceAttributes=1, nonResourceAttributes=2}."""
    spec: dict[str, Any] = {}
    for number, _, value in fields(data):
        if number != 2:
            continue
        for inner, _, part in fields(value):
            if inner == 1:
                spec["resourceAttributes"] = _attributes(part)
            elif inner == 2:
                spec["nonResourceAttributes"] = {
                    ("path" if n == 1 else "verb"): _text(v) for n, _, v in fields(part) if n in (1, 2)
                }
    return {"metadata": {}, "spec": spec}


_DECODERS: dict[tuple[str, str], Callable[[bytes], dict[str, Any]]] = {
    ("v1", "Secret"): _secret,
    ("v1", "ConfigMap"): _configmap,
    ("v1", "Namespace"): _namespace,
    ("v1", "ServiceAccount"): _service_account,
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): _access_review,
    ("authentication.k8s.io/v1", "SelfSubjectReview"): lambda data: {"metadata": {}},
}


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object; 415 for kinds this server cannot read as protobuf."""
    if not body.startswith(MAGIC):
        raise ApiError(415, "protobuf body without the k8s magic prefix", "UnsupportedMediaType")
    api_version = kind = ""
    raw = b""
    try:
        for number, _, value in fields(body[len(MAGIC) :]):
            if number == 1:
                for inner, _, part in fields(value):
                    if inner == 1:
                        api_version = _text(part)
                    elif inner == 2:
                        kind = _text(part)
            elif number == 2:
                raw = value
        decoder = _DECODERS.get((api_version, kind))
        if decoder is None:
            raise ApiError(
                415,
                f"the server cannot decode {kind or 'this kind'} from protobuf; send application/json",
                "UnsupportedMediaType",
            )
        obj = decoder(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise ApiError(400, f"unable to decode protobuf body: {err}", "BadRequest") from None
    return {"apiVersion": api_version, "kind": kind, **obj}
