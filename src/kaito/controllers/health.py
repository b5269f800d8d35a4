"""One small aiohttp server for /healthz, /readyz and /metrics (prometheus-client's default registry)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


class HealthServer:
    """Serves liveness, readiness (as ``ready()`` says) and metrics on ``host:port`` (port 0 picks one)."""

    def __init__(
        self, bind_address: str, ready: Callable[[], bool], healthy: Callable[[], bool] = lambda: True
    ):
        host, _, port = bind_address.rpartition(":")
        self.host = host or "0.0.0.0"
        self.port = int(port)
        self._ready = ready
        self._healthy = healthy
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok") if self._healthy() else web.Response(status=500, text="unhealthy")

    async def _readyz(self, request: web.Request) -> web.Response:
        return (
            web.Response(text="ok") if self._ready() else web.Response(status=503, text="caches not synced")
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
