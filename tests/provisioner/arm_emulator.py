"""A loopback Azure Resource Manager emulator for AKS agent pools, good enough for the real async SDK.

Serves PUT/GET/DELETE/LIST of `.../managedClusters/{cluster}/agentPools/{name}` with ARM's long-running
operation protocol (`Azure-AsyncOperation` and `Location` status URLs, provisioningState Creating ->
Succeeded/Failed), api-version and bearer-token checks, ARM error bodies, injectable failures and delays.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from .arm_rules import invalid_agent_pool

SUPPORTED_API_VERSIONS = frozenset({"2024-09-01", "2025-01-01", "2025-07-01", "2026-08-01"})

PoolHook = Callable[[dict[str, Any]], Awaitable[None]]
LroStyle = Literal["async-operation", "location", "body"]


@dataclass
class InjectedFailure:
    """Make matching PUTs fail: at once with `status` (synchronous) or later via the operation (async)."""

    code: str
    message: str
    status: int = 400
    asynchronous: bool = False
    vm_size: str | None = None
    pool: str | None = None
    times: int | None = 1  # None: every time

    def matches(self, pool: str, vm_size: str) -> bool:
        return (self.pool is None or self.pool == pool) and (self.vm_size is None or self.vm_size == vm_size)


@dataclass
class Operation:
    id: str
    status: str = "InProgress"
    start_time: str = ""
    end_time: str | None = None
    error: dict[str, str] | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.id,
            "status": self.status,
            "startTime": self.start_time,
        }
        if self.end_time:
            out["endTime"] = self.end_time
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class ArmEmulator:
    """The fake ARM endpoint; tweak its public attributes in a test, read its counters afterwards."""

    subscription_id: str = "00000000-0000-0000-0000-000000000001"
    resource_group: str = "kaito-rg"
    cluster_name: str = "kaito-aks"
    location: str = "eastus"
    valid_tokens: set[str] = field(default_factory=lambda: {"emulator-token"})
    create_delay_s: float = 0.05
    delete_delay_s: float = 0.05
    lro_style: LroStyle = "async-operation"
    page_size: int = 50
    failures: list[InjectedFailure] = field(default_factory=list)
    on_pool_succeeded: PoolHook | None = None
    on_pool_deleted: PoolHook | None = None
    # Observations.
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    put_count: Counter[str] = field(default_factory=Counter)
    delete_count: Counter[str] = field(default_factory=Counter)
    put_times: dict[str, list[float]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    api_versions_seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.base_url = ""

    # ---- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application(middlewares=[self._checks])
        prefix = (
            "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerService"
            "/managedClusters/{cluster}"
        )
        app.router.add_route("PUT", prefix + "/agentPools/{name}", self._put)
        app.router.add_route("GET", prefix + "/agentPools/{name}", self._get)
        app.router.add_route("DELETE", prefix + "/agentPools/{name}", self._delete)
        app.router.add_route("GET", prefix + "/agentPools", self._list)
        ops = "/subscriptions/{sub}/providers/Microsoft.ContainerService/locations/{location}"
        app.router.add_route("GET", ops + "/operations/{op}", self._operation_status)
        app.router.add_route("GET", ops + "/operationresults/{op}", self._operation_result)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    def inject(self, failure: InjectedFailure) -> None:
        self.failures.append(failure)

    def seed_pool(
        self,
        name: str,
        *,
        vm_size: str = "Standard_NC6s_v3",
        state: str = "Succeeded",
        tags: dict[str, str] | None = None,
    ) -> None:
        """Put a pool in place directly, as if created earlier (by kaito or someone else)."""
        self.pools[name] = self._pool_body(
            name,
            {"vmSize": vm_size, "count": 1, "mode": "User", "osType": "Linux", "tags": tags or {}},
            state,
        )

    # ---- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _now() -> str:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    @staticmethod
    def error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"error": {"code": code, "message": message}}, status=status)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _pool_id(self, name: str) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}/providers/"
            f"Microsoft.ContainerService/managedClusters/{self.cluster_name}/agentPools/{name}"
        )

    def _pool_body(self, name: str, properties: dict[str, Any], state: str) -> dict[str, Any]:
        props = dict(properties)
        props.update(
            provisioningState=state,
            orchestratorVersion="1.31.2",
            nodeImageVersion="AKSUbuntu-2204gen2containerd-202411.12.0",
            powerState={"code": "Running"},
        )
        return {
            "id": self._pool_id(name),
            "name": name,
            "type": "Microsoft.ContainerService/managedClusters/agentPools",
            "properties": props,
        }

    def _new_operation(self) -> Operation:
        op = Operation(id=str(uuid.uuid4()), start_time=self._now())
        self.operations[op.id] = op
        return op

    def _lro_headers(self, request: web.Request, op: Operation) -> dict[str, str]:
        base = (
            f"{self.base_url}/subscriptions/{self.subscription_id}/providers/Microsoft.ContainerService"
            f"/locations/{self.location}"
        )
        version = request.query.get("api-version", "")
        headers: dict[str, str] = {}
        if self.lro_style == "async-operation":
            headers["Azure-AsyncOperation"] = f"{base}/operations/{op.id}?api-version={version}"
        if request.method == "DELETE":  # ARM always answers an accepted DELETE with a Location to poll
            headers["Location"] = f"{base}/operationresults/{op.id}?api-version={version}"
        if self.lro_style == "location" and request.method == "PUT":
            headers["Location"] = f"{base}/operationresults/{op.id}?api-version={version}"
        return headers

    def _finish(self, op: Operation, status: str, error: dict[str, str] | None = None) -> None:
        op.status, op.error, op.end_time = status, error, self._now()

    # ---- middleware: auth, api-version, scope ----------------------------------------------------
    @web.middleware
    async def _checks(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self.error(
                401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
            )
        if auth.removeprefix("Bearer ") not in self.valid_tokens:
            return self.error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        version = request.query.get("api-version")
        if version is None:
            return self.error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if version not in SUPPORTED_API_VERSIONS:
            return self.error(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid. The supported versions are "
                f"'{', '.join(sorted(SUPPORTED_API_VERSIONS))}'.",
            )
        self.api_versions_seen.add(version)
        info = request.match_info
        if info.get("sub") not in (None, self.subscription_id):
            return self.error(
                404, "SubscriptionNotFound", f"The subscription '{info.get('sub')}' could not be found."
            )
        if info.get("rg") not in (None, self.resource_group):
            return self.error(
                404, "ResourceGroupNotFound", f"Resource group '{info.get('rg')}' could not be found."
            )
        if info.get("cluster") not in (None, self.cluster_name):
            return self.error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.ContainerService/managedClusters/{info.get('cluster')}' "
                f"under resource group '{self.resource_group}' was not found.",
            )
        return await handler(request)

    # ---- agent pools -----------------------------------------------------------------------------
    async def _get(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        pool = self.pools.get(name)
        if pool is None:
            return self.error(
                404,
                "NotFound",
                f"Agent pool '{name}' was not found in managed cluster '{self.cluster_name}'.",
            )
        return web.json_response(pool)

    async def _list(self, request: web.Request) -> web.Response:
        names = sorted(self.pools)
        start = int(request.query.get("$skipToken", "0"))
        page = names[start : start + self.page_size]
        body: dict[str, Any] = {"value": [self.pools[n] for n in page]}
        if start + self.page_size < len(names):
            body["nextLink"] = (
                f"{self.base_url}{request.path}?api-version={request.query['api-version']}"
                f"&$skipToken={start + self.page_size}"
            )
        return web.json_response(body)

    async def _put(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.put_count[name] += 1
        self.put_times.setdefault(name, []).append(time.monotonic())
        try:
            body = await request.json()
        except ValueError:
            return self.error(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            )
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict):
            return self.error(400, "InvalidRequestContent", "The request content must have 'properties'.")
        invalid = invalid_agent_pool(name, props)
        if invalid is not None:
            return self.error(400, *invalid)
        existing = self.pools.get(name)
        if existing is not None and existing["properties"]["provisioningState"] not in (
            "Succeeded",
            "Failed",
        ):
            state = existing["properties"]["provisioningState"]
            return self.error(
                409,
                "OperationNotAllowed",
                f"Operation is not allowed because there's an in progress {state.lower()} operation "
                f"on agent pool '{name}'.",
            )
        failure = next((f for f in self.failures if f.matches(name, props["vmSize"])), None)
        if failure is not None:
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self.failures.remove(failure)
            if not failure.asynchronous:
                return self.error(failure.status, failure.code, failure.message)
        op = self._new_operation()
        self.pools[name] = self._pool_body(name, props, "Creating" if existing is None else "Updating")
        self._spawn(self._complete_create(name, op, failure))
        return web.json_response(
            self.pools[name], status=201 if existing is None else 200, headers=self._lro_headers(request, op)
        )

    async def _complete_create(self, name: str, op: Operation, failure: InjectedFailure | None) -> None:
        await asyncio.sleep(self.create_delay_s)
        pool = self.pools.get(name)
        if pool is None or pool["properties"]["provisioningState"] == "Deleting":
            self._finish(
                op, "Canceled", {"code": "Canceled", "message": "The operation was canceled by a delete."}
            )
            return
        if failure is not None:
            error = {"code": failure.code, "message": failure.message}
            pool["properties"]["provisioningState"] = "Failed"
            pool["properties"]["status"] = {"provisioningError": error}
            self._finish(op, "Failed", error)
            return
        pool["properties"]["provisioningState"] = "Succeeded"
        pool["properties"].pop("status", None)
        if self.on_pool_succeeded is not None:
            await self.on_pool_succeeded(pool)
        self._finish(op, "Succeeded")

    async def _delete(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.delete_count[name] += 1
        pool = self.pools.get(name)
        if pool is None:
            return web.Response(status=204)
        op = self._new_operation()
        pool["properties"]["provisioningState"] = "Deleting"
        # A create still in flight notices the Deleting state and ends its operation as Canceled.
        self._spawn(self._complete_delete(name, op))
        return web.Response(status=202, headers=self._lro_headers(request, op))

    async def _complete_delete(self, name: str, op: Operation) -> None:
        await asyncio.sleep(self.delete_delay_s)
        pool = self.pools.pop(name, None)
        if pool is not None and self.on_pool_deleted is not None:
            await self.on_pool_deleted(pool)
        self._finish(op, "Succeeded")

    # ---- long-running operation status -----------------------------------------------------------
    async def _operation_status(self, request: web.Request) -> web.Response:
        op = self.operations.get(request.match_info["op"])
        if op is None:
            return self.error(404, "NotFound", "Operation not found.")
        return web.json_response(op.body())

    async def _operation_result(self, request: web.Request) -> web.Response:
        op = self.operations.get(request.match_info["op"])
        if op is None:
            return self.error(404, "NotFound", "Operation not found.")
        if op.status == "InProgress":
            return web.Response(status=202, headers={"Location": str(request.url), "Retry-After": "0"})
        if op.status == "Succeeded":
            return web.Response(status=204)
        error = op.error or {"code": "Failed", "message": "operation failed"}
        return web.json_response({"error": error}, status=400)
