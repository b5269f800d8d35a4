"""SharedInformerFactory: one informer per resource + namespace + selectors, shared by every controller."""

from __future__ import annotations

import asyncio

from kaito.controllers.client import KubeClient
from kaito.controllers.clock import Clock
from kaito.controllers.informer import Informer
from kaito.controllers.resource import Resource

InformerKey = tuple[Resource, str, str, str]


class InformerFactory:
    """Hands out shared informers and starts, syncs and stops them together."""

    def __init__(
        self, client: KubeClient, *, resync_period: float | None = None, clock: Clock | None = None
    ) -> None:
        self.client = client
        self.resync_period = resync_period
        self._clock = clock
        self._informers: dict[InformerKey, Informer] = {}

    def informer_for(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> Informer:
        key = (resource, namespace or "", label_selector, field_selector)
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(
                self.client,
                resource,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                resync_period=self.resync_period,
                clock=self._clock,
            )
            self._informers[key] = informer
        return informer

    @property
    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    def start(self) -> None:
        """Start every informer not yet running (informers created later need another call)."""
        for informer in self._informers.values():
            informer.start()

    @property
    def has_synced(self) -> bool:
        return all(informer.has_synced for informer in self._informers.values())

    async def wait_for_sync(self, max_wait: float | None = None) -> bool:
        results = await asyncio.gather(*(i.wait_for_sync(max_wait) for i in self._informers.values()))
        return all(results)

    async def stop(self) -> None:
        await asyncio.gather(*(informer.stop() for informer in self._informers.values()))
