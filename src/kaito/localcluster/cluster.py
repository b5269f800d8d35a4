"""``LocalCluster``: the embedded API server, its storage, control loops, kubeconfig and components."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import structlog
from aiohttp import web

from kaito.localcluster.apiserver.access import AccessControl
from kaito.localcluster.apiserver.authn import TokenAuthenticator
from kaito.localcluster.apiserver.errors import ApiError
from kaito.localcluster.apiserver.faults import Faults
from kaito.localcluster.apiserver.objects import WriteOptions
from kaito.localcluster.apiserver.ownerrefs import OwnerReferenceEnforcement
from kaito.localcluster.apiserver.rbac import AccessLog, RbacAuthorizer
from kaito.localcluster.apiserver.server import ApiServer
from kaito.localcluster.apiserver.storage import Storage
from kaito.localcluster.apiserver.tls import ensure_serving_cert, server_context
from kaito.localcluster.apiserver.watchstream import WatchSettings
from kaito.localcluster.kubeconfig import write_kubeconfig

log = structlog.get_logger(__name__)
T = TypeVar("T")
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
STATE_FILE = "apiserver-state.json"


class Component(Protocol):
    """Something that runs alongside the API server (controllers, scheduler, node simulator...)."""

    async def start(self, cluster: LocalCluster) -> None: ...

    async def stop(self) -> None: ...


class LocalCluster:
    """An embedded Kubernetes API server on ``host:port`` (port 0 picks a free one).

    With a ``token`` the server speaks HTTPS (``tls``, default: on exactly when a token is set) with a
    self-signed certificate embedded in the kubeconfig, since clients send bearer tokens only over TLS.

    Lifecycle: ``await start()`` loads ``data_dir/apiserver-state.json`` when ``persist`` and it exists,
    creates the system namespaces, serves HTTP, writes ``kubeconfig_path`` and starts every component in
    order; ``await stop()`` stops components in reverse order, closes watches and (``persist``) saves the
    snapshot; ``await restart()`` stops and starts the HTTP server on the same port keeping all data and
    history (open watches drop). Components are objects with ``async start(cluster)`` / ``async stop()``;
    add them with ``components=[...]`` or ``add_component()`` before ``start()`` (or later: a component
    added to a running cluster is started at once). They reach the server as clients via ``kubeconfig_path``.

    Attributes: ``url``, ``port``, ``kubeconfig_path``, ``token``, ``storage`` (in-process inspection:
    ``storage.copy_of((group, resource), namespace, name)``), ``faults`` (see ``Faults``),
    ``server`` (the ``ApiServer``), ``log_provider`` (optional ``async (namespace, pod, query) -> str``
    answering ``pods/log``).

    ``rbac=True`` turns authorization on: the admin token (generated when ``token`` is None) is a
    ``system:masters`` superuser, ``service_account_kubeconfig()`` mints ServiceAccount tokens, and every
    other request is decided by the Roles, ClusterRoles and bindings stored in the cluster (plus the
    OwnerReferencesPermissionEnforcement admission check). ``access_log`` keeps the decisions made for
    non-superusers; ``server.access`` answers SelfSubjectAccessReviews truthfully.
    """

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        history_size: int = 10_000,
        service_cidr: str = "127.96.0.0/16",
        *,
        bookmark_interval: float = 30.0,
        persist: bool = True,
        tls: bool | None = None,
        components: list[Component] | None = None,
        rbac: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.rbac = rbac
        if rbac and token is None:
            token = secrets.token_urlsafe(32)
        self.token = token
        self.service_cidr = service_cidr
        self.persist = persist
        self.tls = token is not None if tls is None else tls
        self.storage = Storage(history_size)
        self.faults = Faults()
        self.watch_settings = WatchSettings(bookmark_interval=bookmark_interval)
        self.components: list[Component] = list(components or [])
        self.kubeconfig_path = self.data_dir / "kubeconfig"
        self.authenticator = TokenAuthenticator(self.storage, token) if rbac and token else None
        self.access_log = AccessLog()
        self.server: ApiServer | None = None
        self.log_provider: Callable[[str, str, dict[str, str]], Awaitable[str]] | None = None
        self._runner: web.AppRunner | None = None
        self._running = False

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ca_cert_path(self) -> Path | None:
        """The self-signed serving certificate (the kubeconfig embeds it) when serving HTTPS."""
        return self.data_dir / "apiserver.crt" if self.tls else None

    @property
    def state_path(self) -> Path:
        return self.data_dir / STATE_FILE

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.persist and self.state_path.exists() and self.storage.rv == 0:
            data = await asyncio.to_thread(lambda: json.loads(self.state_path.read_text()))
            self.storage.load(data)
        self.server = ApiServer(self.storage, self.faults, self.token, self.service_cidr, self.watch_settings)
        self.server.handlers.log_provider = self._log
        if self.authenticator is not None:
            self._enable_rbac(self.server, self.authenticator)
        await self._ensure_namespaces()
        await self._serve()
        self.server.start_loops()
        ca = self.ca_cert_path.read_bytes() if self.ca_cert_path is not None else None
        write_kubeconfig(self.kubeconfig_path, self.url, self.token, ca_pem=ca)
        self._running = True
        for component in self.components:
            await component.start(self)
        log.info("local cluster started", url=self.url, kubeconfig=str(self.kubeconfig_path))

    def _enable_rbac(self, server: ApiServer, authenticator: TokenAuthenticator) -> None:
        authorizer = RbacAuthorizer(self.storage)
        server.access = AccessControl(authenticator, authorizer, self.access_log)
        server.service.admission = OwnerReferenceEnforcement(
            server.service.admission, server.registry, server.access.check
        )

    def service_account_kubeconfig(self, namespace: str, name: str, path: Path) -> Path:
        """Write a kubeconfig at ``path`` that authenticates as ServiceAccount ``namespace/name``.

        Needs ``rbac=True`` and a started cluster; the token works while the ServiceAccount object exists
        (create it, e.g. from manifests, before using the kubeconfig). Writes one small file.
        """
        if self.authenticator is None:
            raise RuntimeError("ServiceAccount tokens need LocalCluster(rbac=True)")
        if not self._running:
            raise RuntimeError("start the cluster before minting a ServiceAccount kubeconfig")
        token = self.authenticator.add_service_account_token(namespace, name)
        ca = self.ca_cert_path.read_bytes() if self.ca_cert_path is not None else None
        return write_kubeconfig(path, self.url, token, ca_pem=ca)

    async def _log(self, namespace: str, pod: str, query: dict[str, str]) -> str:
        return await self.log_provider(namespace, pod, query) if self.log_provider is not None else ""

    async def _serve(self) -> None:
        assert self.server is not None
        self._runner = web.AppRunner(
            self.server.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        context = None
        if self.tls:
            context = server_context(*ensure_serving_cert(self.data_dir, self.host))
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True, ssl_context=context)
        await site.start()
        sockets = list(getattr(site._server, "sockets", None) or [])
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self.server.server_address = f"{self.host}:{self.port}"
        loop = asyncio.get_running_loop()
        self.faults.bind(loop, self.server.drop_watches, self._expire_next, self.storage.expire_history)

    def _expire_next(self, count: int) -> None:
        self.watch_settings.expire_next += count

    async def _ensure_namespaces(self) -> None:
        assert self.server is not None
        rtype = self.server.registry.get("", "v1", "namespaces")
        assert rtype is not None
        for name in SYSTEM_NAMESPACES:
            if self.storage.get(rtype.store_key, "", name) is None:
                try:
                    await self.server.service.create(
                        rtype, None, {"metadata": {"name": name}}, WriteOptions()
                    )
                except ApiError as err:
                    if err.code != 409:
                        raise

    async def _unserve(self) -> None:
        if self.server is not None:
            self.server.drop_watches(abort=True)
            await asyncio.sleep(0.05)  # let the watch handlers reset their connections
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def stop(self) -> None:
        """Stop components, control loops and serving; save the snapshot. Safe after a failed start."""
        if not self._running and self._runner is None:
            return
        self._running = False
        for component in reversed(self.components):
            try:
                await component.stop()
            except Exception:
                log.exception("component failed to stop", component=type(component).__name__)
        if self.server is not None:
            await self.server.stop_loops()
        await self._unserve()
        if self.persist:
            await self.save()
        log.info("local cluster stopped", url=self.url)

    async def save(self) -> None:
        """Write the JSON snapshot (``data_dir/apiserver-state.json``) now."""
        data = self.storage.dump()
        path = self.state_path

        def write() -> None:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, separators=(",", ":")))
            tmp.replace(path)

        await asyncio.to_thread(write)

    async def restart(self) -> None:
        """Stop serving and serve again on the same port with the same data; open watches drop."""
        await self._unserve()
        await asyncio.sleep(0)
        await self._serve()

    async def add_component(self, component: Component) -> None:
        self.components.append(component)
        if self._running:
            await component.start(self)

    async def wait_idle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until garbage collection and namespace/CRD cleanup have nothing pending."""
        assert self.server is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while not (self.server.gc.queue.idle() and self.server.lifecycle.queue.idle()):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("control loops still busy")
            await asyncio.sleep(0.01)


class ThreadedLocalCluster:
    """Runs a LocalCluster on its own event loop in a daemon thread, so blocking callers never starve it."""

    def __init__(self, data_dir: Path, **kwargs: Any) -> None:
        self.cluster = LocalCluster(data_dir, **kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="kaito-local-apiserver", daemon=True
        )

    @property
    def faults(self) -> Faults:
        return self.cluster.faults

    @property
    def storage(self) -> Storage:
        return self.cluster.storage

    @property
    def url(self) -> str:
        return self.cluster.url

    @property
    def kubeconfig_path(self) -> Path:
        return self.cluster.kubeconfig_path

    def start(self) -> LocalCluster:
        self._thread.start()
        self.call(self.cluster.start)
        return self.cluster

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 60.0) -> T:
        """Run ``await fn()`` on the cluster's loop and return its result (blocking)."""

        async def run() -> T:
            return await fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    async def acall(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Like ``call`` but awaitable from another event loop."""

        async def run() -> T:
            return await fn()

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), self._loop))

    def restart(self) -> None:
        """Blocking ``LocalCluster.restart()``: same port and data, open watches drop."""
        self.call(self.cluster.restart)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Blocking ``LocalCluster.wait_idle()``."""
        self.call(lambda: self.cluster.wait_idle(timeout), timeout + 5)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.call(self.cluster.stop)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> ThreadedLocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def run_in_thread(data_dir: Path, **kwargs: Any) -> Iterator[ThreadedLocalCluster]:
    """``with run_in_thread(tmp) as threaded: threaded.cluster.kubeconfig_path ...``"""
    threaded = ThreadedLocalCluster(data_dir, **kwargs)
    threaded.start()
    try:
        yield threaded
    finally:
        threaded.stop()
