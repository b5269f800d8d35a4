"""The operators bench/runtime.py races, each in its own process: a bare kubernetes-asyncio loop and ours.

Every operator does the same trivial work: when a Widget's ``spec.value`` differs from ``status.observed``,
patch ``status.observed`` through the /status subresource (one write per change). Each prints ``READY``
once its initial list is done and runs until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio import watch
from kubernetes_asyncio.client import ApiClient, Configuration, CustomObjectsApi

from kaito.controllers.controller import Controller, Request, Result
from kaito.controllers.manager import ControllerSetup, Manager
from kaito.controllers.predicates import generation_changed
from kaito.controllers.resource import Resource
from kaito.controllers.settings import ManagerSettings

GROUP, VERSION, PLURAL = "bench.kaito.sh", "v1", "widgets"
WIDGETS = Resource(GROUP, VERSION, PLURAL, "Widget")

KOPF_OPERATOR = """
import os
import kopf

@kopf.on.startup()
def configure(settings, **_):
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    if os.environ.get("KAITO_BENCH_KOPF_STATUS"):
        settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
        settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage()
    print("READY", flush=True)

@kopf.on.resume("bench.kaito.sh", "v1", "widgets")
@kopf.on.create("bench.kaito.sh", "v1", "widgets")
@kopf.on.update("bench.kaito.sh", "v1", "widgets", field="spec")
def observe(spec, status, patch, **_):
    if status.get("observed") != spec.get("value"):
        patch.status["observed"] = spec.get("value")
"""


def needs_write(obj: Any) -> bool:
    return (obj.get("status") or {}).get("observed") != (obj.get("spec") or {}).get("value")


async def bare(kubeconfig: str, namespace: str) -> None:
    """The ceiling: list, then watch, and patch status in a task per event that needs it."""
    configuration = Configuration()
    await kube_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    async with ApiClient(configuration) as api_client:
        api = CustomObjectsApi(api_client)
        pending: set[asyncio.Task[Any]] = set()

        def handle(obj: Any) -> None:
            if needs_write(obj):
                body = {"status": {"observed": obj["spec"].get("value")}}
                name = obj["metadata"]["name"]
                task: asyncio.Task[Any] = asyncio.ensure_future(
                    api.patch_namespaced_custom_object_status(  # type: ignore[call-arg]
                        GROUP,
                        VERSION,
                        namespace,
                        PLURAL,
                        name,
                        body,
                        _content_type="application/merge-patch+json",
                    )
                )
                pending.add(task)
                task.add_done_callback(pending.discard)

        listing = await api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        for item in listing["items"]:
            handle(item)
        resource_version = listing["metadata"]["resourceVersion"]
        print("READY", flush=True)
        while True:
            stream = watch.Watch().stream(
                api.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=300,
            )
            async for event in stream:
                obj = event["object"]
                resource_version = obj["metadata"]["resourceVersion"]
                if event["type"] in ("ADDED", "MODIFIED"):
                    handle(obj)


class Observe:
    """Our runtime: a controller on the shared Widget informer, generation-filtered, N workers."""

    name = "observe"

    def __init__(self, namespace: str, workers: int) -> None:
        self.namespace = namespace
        self.workers = workers

    async def setup(self, manager: Manager) -> None:
        informer = manager.informers.informer_for(WIDGETS, namespace=self.namespace)
        client = manager.client

        async def reconcile(request: Request) -> Result | None:
            obj = informer.store.get(request)
            if obj is None or not needs_write(obj):
                return None
            body = {"status": {"observed": obj["spec"].get("value")}}
            await client.patch(WIDGETS, request.name, body, namespace=request.namespace, subresource="status")
            return None

        manager.add_controller(Controller(self.name, reconcile, workers=self.workers)).for_(
            informer, generation_changed()
        )


async def ours(kubeconfig: str, namespace: str, workers: int) -> None:
    settings = ManagerSettings(
        kubeconfig=kubeconfig, leader_elect=False, bind_address="127.0.0.1:0", log_level="warning"
    )
    setups: list[ControllerSetup] = [Observe(namespace, workers)]
    manager = Manager(settings, setups)
    run = asyncio.create_task(manager.run())
    await manager.leading.wait()
    print("READY", flush=True)
    await run


async def until_stdin_closes(operator: asyncio.Task[None]) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    closed = asyncio.create_task(reader.read())
    await asyncio.wait({operator, closed}, return_when=asyncio.FIRST_COMPLETED)
    if operator.done():
        operator.result()
    operator.cancel()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("impl", choices=["bare", "ours", "kopf-script"])
    parser.add_argument("--kubeconfig", default="")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("KAITO_BENCH_WORKERS", "64")))
    args = parser.parse_args()
    if args.impl == "kopf-script":
        print(KOPF_OPERATOR)
        return 0
    from kaito.cli.logs import configure_logging

    configure_logging("warning")

    async def run() -> None:
        coroutine = (
            bare(args.kubeconfig, args.namespace)
            if args.impl == "bare"
            else (ours(args.kubeconfig, args.namespace, args.workers))
        )
        await until_stdin_closes(asyncio.create_task(coroutine))

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
