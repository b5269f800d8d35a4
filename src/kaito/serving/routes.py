"""kaito's HTTP routes beside vLLM's OpenAI ones: legacy /chat, group-aware /health, adapter status."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from kaito.serving import metrics
from kaito.serving.adapter_manager import AdapterManager
from kaito.serving.legacy_chat import error_body, handle_legacy_chat

INTERNAL_BASE_URL = "http://kaito-serve.internal"
GroupCheck = Callable[[], Awaitable[str | None]]  # None: healthy; else why not


def in_process_dispatch(app: FastAPI) -> Callable[[str, dict[str, Any]], Awaitable[tuple[int, Any]]]:
    """Call the app's own OpenAI routes through ASGI: same validation and errors, no socket, no proxy."""
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=INTERNAL_BASE_URL, timeout=None
    )

    async def dispatch(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        response = await client.post(path, json=body)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    return dispatch


def build_router(
    app: FastAPI,
    base_model: str,
    manager: AdapterManager | None,
    group_check: GroupCheck | None = None,
) -> APIRouter:
    router = APIRouter()
    dispatch = in_process_dispatch(app)

    async def legacy_chat(request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError as err:
            status, answer = 400, error_body(f"the body is not valid JSON: {err}", 400)
        else:
            status, answer = await handle_legacy_chat(body, base_model, dispatch)
        metrics.LEGACY_CHAT_REQUESTS.labels(status=str(status)).inc()
        return JSONResponse(answer, status_code=status)

    async def health(request: Request) -> Response:
        engine = request.app.state.engine_client
        try:
            await engine.check_health()
        except Exception as err:
            return JSONResponse({"status": "unhealthy", "reason": f"engine: {err}"}, status_code=503)
        if group_check is not None:
            problem = await group_check()
            if problem is not None:
                return JSONResponse({"status": "unhealthy", "reason": problem}, status_code=503)
        return Response(status_code=200)

    async def adapters() -> JSONResponse:
        if manager is None:
            return JSONResponse({"model": base_model, "adapters": [], "enabled": False})
        return JSONResponse(manager.report().model_dump(mode="json", by_alias=True))

    router.add_api_route("/chat", legacy_chat, methods=["POST"])
    router.add_api_route("/health", health, methods=["GET"])
    router.add_api_route("/v1/kaito/adapters", adapters, methods=["GET"])
    return router


def install_routes(app: FastAPI, router: APIRouter) -> None:
    """Add kaito's routes ahead of vLLM's, so ours answer paths both define (/health)."""
    before = len(app.router.routes)
    app.include_router(router)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added
