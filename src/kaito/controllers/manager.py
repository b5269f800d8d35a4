"""The manager: wires config, client, shared informers, controllers, leader election and the health server.

Informers warm up on every replica; only the leader runs controllers. SIGTERM drains in-flight reconciles
and releases the lease (exit 0); losing the lease cancels reconciles at once and returns 1 so the process
restarts as a follower.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import aiohttp
import structlog
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import ApiClient, Configuration

from kaito.controllers.client import KubeClient
from kaito.controllers.clock import Clock
from kaito.controllers.controller import Controller
from kaito.controllers.events import EventRecorder
from kaito.controllers.factory import InformerFactory
from kaito.controllers.health import HealthServer
from kaito.controllers.leaderelection import (
    KubeLeaseClient,
    LeaderElectionConfig,
    LeaderElector,
    LeadershipLost,
)
from kaito.controllers.settings import ManagerSettings

log = structlog.get_logger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1


class ControllerSetup(Protocol):
    """Registers one controller (its informers, watches and reconciler) with a manager."""

    name: str

    async def setup(self, manager: Manager) -> None: ...


async def load_api_client(settings: ManagerSettings) -> ApiClient:
    """An ApiClient from the kubeconfig in settings, else in-cluster config, else the default kubeconfig."""
    configuration = Configuration()
    if settings.kubeconfig is not None:
        await kube_config.load_kube_config(
            config_file=str(settings.kubeconfig), context=settings.context, client_configuration=configuration
        )
    else:
        try:
            kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except kube_config.ConfigException:
            await kube_config.load_kube_config(context=settings.context, client_configuration=configuration)
    api = ApiClient(configuration)
    if not any(os.environ.get(name) for name in _PROXY_VARIABLES):
        _skip_environment_lookups(api)
    return api


_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _skip_environment_lookups(api: ApiClient) -> None:
    """kubernetes-asyncio's session trusts the environment, which costs a thread hop per request (proxy and
    netrc lookups). With no proxy configured it can only find nothing, so use a session without it."""
    old: aiohttp.ClientSession = api.rest_client.pool_manager
    connector = old.connector
    old.detach()
    api.rest_client.pool_manager = aiohttp.ClientSession(connector=connector, trust_env=False)


class Manager:
    """Runs a set of controllers against one cluster; :meth:`run` returns the process exit code."""

    def __init__(
        self,
        settings: ManagerSettings,
        setups: Sequence[ControllerSetup] = (),
        *,
        api_client: ApiClient | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.setups = list(setups)
        self._api_client = api_client
        self._owns_api_client = api_client is None
        self._clock = clock
        self._client: KubeClient | None = None
        self._informers: InformerFactory | None = None
        self.controllers: list[Controller] = []
        self._recorders: list[EventRecorder] = []
        self.elector: LeaderElector | None = None
        self.health: HealthServer | None = None
        self.ready = False
        self.leading = asyncio.Event()
        self._log = log.bind(component="manager")

    @property
    def client(self) -> KubeClient:
        if self._client is None:
            raise RuntimeError("the manager is not connected yet; use it from ControllerSetup.setup")
        return self._client

    @property
    def informers(self) -> InformerFactory:
        if self._informers is None:
            raise RuntimeError("the manager is not connected yet; use it from ControllerSetup.setup")
        return self._informers

    def add_controller(self, controller: Controller) -> Controller:
        self.controllers.append(controller)
        return controller

    def recorder(self, component: str) -> EventRecorder:
        recorder = EventRecorder(self.client, component, clock=self._clock)
        self._recorders.append(recorder)
        return recorder

    async def connect(self) -> None:
        if self._api_client is None:
            self._api_client = await load_api_client(self.settings)
        if self._client is None:
            self._client = KubeClient(self._api_client)
            self._informers = InformerFactory(
                self._client, resync_period=self.settings.resync_period, clock=self._clock
            )

    async def run(self, stop: asyncio.Event | None = None) -> int:
        """Run until ``stop`` is set (or SIGTERM/SIGINT), leadership is lost, or a controller crashes."""
        stop = stop or asyncio.Event()
        remove_signals = _install_signal_handlers(stop)
        try:
            return await self._run(stop)
        finally:
            remove_signals()

    async def _run(self, stop: asyncio.Event) -> int:
        settings = self.settings
        stop_wait = asyncio.create_task(stop.wait(), name="manager stop")
        exit_code = EXIT_OK
        hold: asyncio.Task[None] | None = None
        workers: list[asyncio.Task[None]] = []
        try:
            await self.connect()
            for setup in self.setups:
                self._log.info("setting up controller", controller=setup.name)
                await setup.setup(self)
            self.health = HealthServer(settings.bind_address, ready=lambda: self.ready)
            await self.health.start()
            self._log.info("serving health and metrics", port=self.health.port)
            self.informers.start()
            synced = asyncio.create_task(self.informers.wait_for_sync(settings.sync_timeout))
            await asyncio.wait({synced, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                synced.cancel()
                return EXIT_OK
            if not synced.result():
                self._log.error("caches did not sync in time", timeout=settings.sync_timeout)
                return EXIT_FAILED
            self.ready = True
            # Everything alive now (modules, the initial lists) lives as long as the process: exempt it
            # from the cyclic collector's full scans, which otherwise grow with the cache and show up as
            # reconcile latency spikes.
            gc.collect()
            gc.freeze()
            if settings.leader_elect:
                self.elector = LeaderElector(
                    KubeLeaseClient(self.client, settings.lease_namespace, settings.lease_name),
                    LeaderElectionConfig(
                        settings.lease_duration,
                        settings.renew_deadline,
                        settings.retry_period,
                        settings.identity,
                    ),
                    clock=self._clock,
                )
                acquired = asyncio.create_task(self.elector.acquire(), name="leader election")
                await asyncio.wait({acquired, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    acquired.cancel()
                    return EXIT_OK
                acquired.result()
                hold = asyncio.create_task(self.elector.hold(), name="lease renewal")
            self.leading.set()
            self.informers.start()  # informers created after the first start
            workers = [asyncio.create_task(c.run(), name=f"controller {c.name}") for c in self.controllers]
            self._log.info("controllers started", controllers=[c.name for c in self.controllers])
            watched: set[asyncio.Task[object]] = {stop_wait, *workers}
            if hold is not None:
                watched.add(hold)
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            if hold is not None and hold in done:
                # Lost the lease: another replica may be leading already, so stop reconciling *now*.
                for controller in self.controllers:
                    controller.cancel()
                exit_code = EXIT_FAILED
                with contextlib.suppress(LeadershipLost):
                    hold.result()
            elif stop_wait in done:
                self._log.info("stopping: draining in-flight reconciles", timeout=settings.shutdown_timeout)
                await asyncio.gather(*(c.stop(settings.shutdown_timeout) for c in self.controllers))
            else:
                for task in done:
                    if task.exception() is not None:
                        self._log.error("controller crashed", error=repr(task.exception()))
                for controller in self.controllers:
                    controller.cancel()
                exit_code = EXIT_FAILED
            return exit_code
        finally:
            await self._shutdown(stop_wait, hold, workers)

    async def _shutdown(
        self,
        stop_wait: asyncio.Task[bool],
        hold: asyncio.Task[None] | None,
        workers: list[asyncio.Task[None]],
    ) -> None:
        self.leading.clear()
        self.ready = False
        for task in [stop_wait, *workers, *([hold] if hold else [])]:
            task.cancel()
        await asyncio.gather(stop_wait, *workers, *([hold] if hold else []), return_exceptions=True)
        if self.elector is not None and self.elector.is_leader:
            await self.elector.release()
        for recorder in self._recorders:
            await recorder.close()
        if self._informers is not None:
            await self._informers.stop()
        if self.health is not None:
            await self.health.stop()
        if self._owns_api_client and self._api_client is not None:
            await self._api_client.close()
            self._api_client = None
            self._client = None
        self._log.info("manager stopped")


def _install_signal_handlers(stop: asyncio.Event) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):
            pass

    def remove() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return remove


def run_manager(settings: ManagerSettings, setups: Sequence[ControllerSetup]) -> int:
    """Run a manager in a fresh event loop (the ``kaito operator`` entry point); returns the exit code."""
    return asyncio.run(Manager(settings, setups).run())
