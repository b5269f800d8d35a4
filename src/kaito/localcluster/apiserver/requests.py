"""Parsing of resource URLs, query options and Accept headers; JSON responses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from kaito.localcluster.apiserver import protobuf
from kaito.localcluster.apiserver.errors import ApiError, bad_request
from kaito.localcluster.apiserver.storage import encode_json

_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass
class ResourcePath:
    """What a resource URL names: /api/v1[/watch][/namespaces/{ns}]/{resource}[/{name}[/{sub}]]."""

    group: str
    version: str
    resource: str
    namespace: str | None
    name: str | None
    subresource: str
    legacy_watch: bool = False


def parse_resource_path(group: str, version: str, segments: list[str]) -> ResourcePath | None:
    """Parse the segments after the group/version; None when the path is the version root."""
    if not segments:
        return None
    legacy_watch = False
    if segments[0] == "watch":
        legacy_watch = True
        segments = segments[1:]
    namespace: str | None = None
    if len(segments) >= 3 and segments[0] == "namespaces" and segments[2] not in _NAMESPACE_SUBRESOURCES:
        namespace = segments[1]
        segments = segments[2:]
    if not segments or len(segments) > 3:
        raise ApiError(404, "the server could not find the requested resource", "NotFound")
    return ResourcePath(
        group=group,
        version=version,
        resource=segments[0],
        namespace=namespace,
        name=segments[1] if len(segments) > 1 else None,
        subresource=segments[2] if len(segments) > 2 else "",
        legacy_watch=legacy_watch,
    )


def wants(request: web.Request, as_kind: str) -> bool:
    """Whether the Accept header asks for ``as=<as_kind>`` (e.g. Table) in JSON."""
    accept = request.headers.get("Accept", "")
    for option in accept.split(","):
        params = [p.strip() for p in option.split(";")]
        if params[0] not in ("application/json", "*/*") or f"as={as_kind}" not in params:
            continue
        version = next((p[2:] for p in params if p.startswith("v=")), "v1")
        group = next((p[2:] for p in params if p.startswith("g=")), "meta.k8s.io")
        if group == "meta.k8s.io" and version in ("v1", "v1beta1"):
            return True
    return False


def table_version(request: web.Request) -> str:
    accept = request.headers.get("Accept", "")
    for option in accept.split(","):
        if "as=Table" in option and "v=v1beta1" in option and "v=v1;" not in option + ";":
            return "meta.k8s.io/v1beta1"
    return "meta.k8s.io/v1"


def query_bool(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "")
    return value.lower() in ("true", "1")


def query_int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"invalid value for {name}: {value!r}") from None


def dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise bad_request(f'Invalid value: "{value}": supported values: "All"')
    return bool(values)


def field_validation(request: web.Request) -> str:
    value = request.query.get("fieldValidation", "")
    if value and value not in ("Ignore", "Warn", "Strict"):
        raise bad_request(
            f'fieldValidation: Unsupported value: "{value}": supported values: "Ignore", "Strict", "Warn"'
        )
    return value or "Warn"


def encode(obj: Any) -> bytes:
    return encode_json(obj)


def json_response(obj: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    response = web.Response(body=encode(obj), status=status, content_type="application/json")
    for warning in warnings or ():
        response.headers.add("Warning", f'299 - "{warning}"'.replace('\\"', '"'))
    return response


async def read_json(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        raise bad_request("the body of the request was empty")
    media = request.content_type
    if media in ("application/yaml", "application/x-yaml"):
        import yaml

        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise bad_request(f"error decoding YAML: {err}") from None
    if media == "application/vnd.kubernetes.protobuf":
        return protobuf.decode(raw)
    try:
        return json.loads(raw)
    except ValueError as err:
        raise bad_request(f"couldn't get version/kind; json parse error: {err}") from None
