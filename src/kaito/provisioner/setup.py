"""Wires the provisioner into a Manager: the NodeClaim controller, the garbage collector, the chosen provider.

`kaito operator --controllers=provisioner` (or the operator's default set) passes
`setup_provisioner(settings)` to the Manager; tests pass a ready provider instead of settings' choice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from kaito.api.constants import LABEL_WORKSPACE
from kaito.controllers.client import KubeClient
from kaito.controllers.controller import Controller
from kaito.controllers.manager import Manager
from kaito.controllers.objects import ObjectKey, labels_of
from kaito.controllers.predicates import Predicate
from kaito.controllers.resource import NODES
from kaito.provisioner.cloud import CloudProvider
from kaito.provisioner.gc import GC_KEY, GarbageCollector
from kaito.provisioner.local import LocalProvider
from kaito.provisioner.nodeclaims import LABEL_MACHINE_TYPE, MACHINE_TYPE_GPU
from kaito.provisioner.operations import OperationTracker
from kaito.provisioner.reconciler import NODECLAIMS, NodeClaimReconciler, nodeclaim_keys_of_node
from kaito.provisioner.settings import ProvisionerSettings

COMPONENT: Final = "kaito-provisioner"
_KAITO_ONLY: Final = Predicate(
    create=lambda obj: LABEL_WORKSPACE in labels_of(obj),
    update=lambda old, new: LABEL_WORKSPACE in labels_of(new),
    delete=lambda obj: LABEL_WORKSPACE in labels_of(obj),
)


def make_provider(settings: ProvisionerSettings, client: KubeClient) -> CloudProvider:
    """The provider settings ask for."""
    if settings.provider == "local":
        return LocalProvider(client, delay_s=settings.local_node_delay_s)
    # Imported here so local mode never loads the Azure SDK.
    from kaito.provisioner.azure import AzureProvider

    return AzureProvider.from_settings(settings)


class _ProvisionerController(Controller):
    """The NodeClaim controller; when it stops, in-flight cloud waits stop too and the provider closes."""

    on_stop: Callable[[], Awaitable[None]] | None = None

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            if self.on_stop is not None:
                await self.on_stop()


class ProvisionerSetup:
    """A ControllerSetup for the Manager: registers the NodeClaim controller and the garbage collector."""

    name = "provisioner"

    def __init__(self, settings: ProvisionerSettings, provider: CloudProvider | None = None) -> None:
        self.settings = settings
        self.provider = provider
        self.tracker: OperationTracker | None = None
        self.reconciler: NodeClaimReconciler | None = None
        self.collector: GarbageCollector | None = None
        self.controller: Controller | None = None
        self._closed = False

    async def setup(self, manager: Manager) -> None:
        settings = self.settings
        provider = self.provider or make_provider(settings, manager.client)
        self.provider = provider
        nodeclaim_informer = manager.informers.informer_for(NODECLAIMS)
        node_informer = manager.informers.informer_for(
            NODES, label_selector=f"{LABEL_MACHINE_TYPE}={MACHINE_TYPE_GPU}"
        )
        recorder = manager.recorder(COMPONENT)
        self.tracker = OperationTracker(
            self._wake, retry_base_s=settings.retry_base_s, retry_max_s=settings.retry_max_s
        )
        self.reconciler = NodeClaimReconciler(
            client=manager.client,
            provider=provider,
            nodeclaim_informer=nodeclaim_informer,
            node_informer=node_informer,
            tracker=self.tracker,
            recorder=recorder,
            node_poll_interval_s=settings.node_poll_interval_s,
        )
        controller = _ProvisionerController(
            "nodeclaim", self.reconciler.reconcile, workers=settings.workers, recorder=recorder
        )
        controller.on_stop = self.close
        controller.for_(nodeclaim_informer, _KAITO_ONLY).watch(node_informer, nodeclaim_keys_of_node)
        self.controller = manager.add_controller(controller)

        self.collector = GarbageCollector(
            client=manager.client,
            provider=provider,
            nodeclaim_informer=nodeclaim_informer,
            tracker=self.tracker,
            recorder=recorder,
            interval_s=settings.gc_interval_s,
            grace_s=settings.gc_grace_s,
        )
        collector = Controller("nodeclaim-gc", self.collector.reconcile, workers=1)
        collector.queue.add(GC_KEY)  # runs once the manager starts controllers (on the leader only)
        manager.add_controller(collector)

    def _wake(self, name: str) -> None:
        """A cloud operation for NodeClaim `name` finished: reconcile it now."""
        if self.controller is not None:
            self.controller.queue.add(ObjectKey("", name))

    async def close(self) -> None:
        """Stop waiting on cloud operations and release the provider's connections (idempotent)."""
        if self._closed:
            return
        if self.tracker is not None:
            await self.tracker.close()
        if self.provider is not None:
            await self.provider.close()
        self._closed = True


def setup_provisioner(
    settings: ProvisionerSettings | None = None, provider: CloudProvider | None = None
) -> ProvisionerSetup:
    """The provisioner's ControllerSetup; settings default to the environment (kaito.provisioner.settings)."""
    return ProvisionerSetup(settings or ProvisionerSettings(), provider)
