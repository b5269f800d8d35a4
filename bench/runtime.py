"""Runtime benchmark: our controller runtime against a bare kubernetes-asyncio loop (and kopf, if given).

All operators run the same trivial handler (patch ``.status`` once per change), one at a time, each in its
own process, against one embedded API server started here (or ``--kubeconfig``). Modes: steady 50
changes/s, a burst from 16 writers, a backlog present at start; then idle CPU and RSS with many objects
cached. Prints absolute numbers and ratios to the bare loop from this one run.

The bare loop patches in a task per event (unbounded concurrency); ours runs 64 workers
(``KAITO_BENCH_WORKERS``). kopf runs only with ``--kopf-python`` (a separate venv; never a dependency).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaito.controllers.client import KubeClient
from kaito.controllers.errors import ConflictError, NotFoundError
from kaito.controllers.resource import CRDS, NAMESPACES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_parts.cluster import embedded_cluster, kube_client
from runtime_parts.measure import Observer, Operator, proc_cpu, proc_rss_mb
from runtime_parts.operators import GROUP, PLURAL, VERSION, WIDGETS

WIDGET_CRD: dict[str, Any] = {
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


@dataclass
class Outcome:
    """What one operator did in one mode."""

    changes: int = 0
    handled: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    peak_rss_mb: float = 0.0
    operator_writes: int = 0
    latencies: list[float] = field(default_factory=list)

    def merge(self, other: Outcome) -> None:
        """Pool another round of the same operator and mode into this one."""
        self.changes += other.changes
        self.handled += other.handled
        self.seconds += other.seconds
        self.cpu += other.cpu
        self.peak_rss_mb = max(self.peak_rss_mb, other.peak_rss_mb)
        self.operator_writes += other.operator_writes
        self.latencies += other.latencies

    @property
    def objects_per_s(self) -> float:
        return self.handled / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_change(self) -> float:
        return self.cpu / max(1, self.handled)

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def writes_per_change(self) -> float:
        return self.operator_writes / max(1, self.handled)


async def change(kube: KubeClient, observer: Observer, namespace: str, name: str, value: int) -> None:
    observer.expect(name, value, time.monotonic())
    observer.driver_writes += 1
    await kube.patch(WIDGETS, name, {"spec": {"value": value}}, namespace=namespace)


async def create_widgets(
    kube: KubeClient, namespace: str, count: int, observer: Observer | None = None
) -> None:
    queue = [f"w-{i:05d}" for i in range(count)]

    async def creator() -> None:
        while queue:
            name = queue.pop()
            body: dict[str, Any] = {
                "metadata": {"name": name, "labels": {"bench": "runtime", "shard": str(hash(name) % 8)}},
                "spec": {"value": 0, "payload": "x" * 256},
            }
            if observer is not None:
                observer.expect(name, 0, None)
                observer.driver_writes += 1
            await kube.create(WIDGETS, body, namespace)

    await asyncio.gather(*(creator() for _ in range(16)))


async def run_mode(mode: str, impl: str, ctx: Context) -> Outcome:
    namespace = f"bench-{mode}-{impl}-{uuid.uuid4().hex[:5]}"
    kube = ctx.kube
    await kube.create(NAMESPACES, {"metadata": {"name": namespace}})
    observer = Observer(kube, namespace)
    objects = ctx.backlog if mode == "backlog" else 64
    outcome = Outcome()
    if mode == "backlog":
        await create_widgets(kube, namespace, objects)
        await observer.start()
        for i in range(objects):
            observer.expect(f"w-{i:05d}", 0, None)
    else:
        await observer.start()
        await create_widgets(kube, namespace, objects, observer)
    operator = Operator(impl, ctx.kubeconfig, namespace, ctx.kopf_python)
    started = time.monotonic()
    try:
        await operator.start()
        if mode != "backlog":
            await observer.drained(ctx.drain_limit)  # the initial objects are handled before the clock starts
            observer.latencies.clear()
            observer.driver_writes = observer.events = 0
        cpu_before = proc_cpu(operator.pid)
        begin = time.monotonic() if mode != "backlog" else started
        if mode == "steady":
            total = int(50 * ctx.steady_seconds)
            writes = []
            for i in range(total):
                await asyncio.sleep(max(0.0, begin + i / 50 - time.monotonic()))
                writes.append(
                    asyncio.create_task(change(kube, observer, namespace, f"w-{i % objects:05d}", i + 1))
                )
            await asyncio.gather(*writes)
            outcome.changes = total
        elif mode == "burst":

            async def writer(w: int) -> None:
                for n in range(ctx.burst_changes):
                    await change(kube, observer, namespace, f"w-{(w * 4 + n % 4):05d}", n + 1)

            await asyncio.gather(*(writer(w) for w in range(16)))
            outcome.changes = 16 * ctx.burst_changes
        else:
            outcome.changes = objects
        ok = await observer.drained(ctx.drain_limit)
        outcome.seconds = max(1e-6, observer.last_done - begin)
        outcome.cpu = proc_cpu(operator.pid) - cpu_before
        outcome.peak_rss_mb = proc_rss_mb(operator.pid)
        outcome.handled = outcome.changes - observer.pending
        outcome.operator_writes = observer.events - observer.driver_writes
        outcome.latencies = observer.latencies
        if not ok:
            final = (await kube.list(WIDGETS, namespace))["items"]
            stale = sum(1 for w in final if (w.get("status") or {}).get("observed") != w["spec"]["value"])
            print(
                f"  ! {impl}/{mode}: {observer.pending} changes never handled, {stale} objects stale",
                flush=True,
            )
    finally:
        await operator.stop()
        await observer.stop()
    await kube.delete(NAMESPACES, namespace)
    return outcome


async def idle_and_cached(impl: str, ctx: Context) -> tuple[float, float]:
    """Idle CPU % and current RSS (MB) with ``ctx.cached`` objects in the operator's cache."""
    namespace = f"bench-idle-{impl}-{uuid.uuid4().hex[:5]}"
    if ctx.idle_namespace is None:
        await ctx.kube.create(NAMESPACES, {"metadata": {"name": namespace}})
        await create_widgets(ctx.kube, namespace, ctx.cached)
        # status already observed, so an idle operator has nothing to write
        ctx.idle_namespace = namespace
    operator = Operator(impl, ctx.kubeconfig, ctx.idle_namespace, ctx.kopf_python)
    try:
        await operator.start()
        try:
            async with asyncio.timeout(300):  # first let it finish any start-up writes
                while True:
                    cpu0, t0 = proc_cpu(operator.pid), time.monotonic()
                    await asyncio.sleep(ctx.idle_settle)
                    if 100 * (proc_cpu(operator.pid) - cpu0) / (time.monotonic() - t0) < 5:
                        break
        except TimeoutError:
            print(f"  ! {impl} was still busy after 300 s; measuring anyway", flush=True)
        cpu0, t0 = proc_cpu(operator.pid), time.monotonic()
        await asyncio.sleep(ctx.idle_seconds)
        idle = 100 * (proc_cpu(operator.pid) - cpu0) / (time.monotonic() - t0)
        return idle, proc_rss_mb(operator.pid, "VmRSS")
    finally:
        await operator.stop()


@dataclass
class Context:
    kube: KubeClient
    kubeconfig: Path
    kopf_python: str | None
    steady_seconds: float
    burst_changes: int
    backlog: int
    cached: int
    idle_seconds: float
    idle_settle: float
    drain_limit: float
    idle_namespace: str | None = None


async def install_crd(kube: KubeClient) -> None:
    with contextlib.suppress(ConflictError):
        await kube.create(
            CRDS, {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", **WIDGET_CRD}
        )
    async with asyncio.timeout(30):
        while True:
            try:
                await kube.list(WIDGETS, "default", limit=1)
                return
            except NotFoundError:
                await asyncio.sleep(0.2)


def report(results: dict[str, dict[str, Outcome]], idle: dict[str, tuple[float, float]], cached: int) -> None:
    impls = list(next(iter(results.values()))) if results else []
    print("\n== runtime bench: absolute numbers")
    print(
        f"{'mode':8} {'impl':12} {'obj/s':>8} {'cpu ms/chg':>10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'peakMB':>7} {'writes/chg':>10}"
    )
    for mode, by_impl in results.items():
        for impl, o in by_impl.items():
            print(
                f"{mode:8} {impl:12} {o.objects_per_s:8.1f} {o.cpu_per_change * 1e3:10.3f}"
                + "".join(f"{o.percentile(q) * 1e3:9.1f}" for q in (0.5, 0.9, 0.99, 1.0))
                + f" {o.peak_rss_mb:7.1f} "
                f"{o.writes_per_change:10.2f}"
            )
    print(
        "\n== ratios to the bare loop (targets for ours: obj/s >= 0.9, cpu <= 1.25, p99 <= 1.25, rss <= 1.25)"
    )
    print(f"{'mode':8} {'impl':12} {'obj/s':>8} {'cpu/chg':>8} {'p50':>8} {'p99':>8} {'peakRSS':>8}")
    for mode, by_impl in results.items():
        base = by_impl["bare"]
        for impl in impls:
            if impl == "bare":
                continue
            o = by_impl[impl]
            print(
                f"{mode:8} {impl:12} {o.objects_per_s / base.objects_per_s:8.2f} "
                f"{o.cpu_per_change / base.cpu_per_change:8.2f} "
                f"{o.percentile(0.5) / base.percentile(0.5):8.2f} "
                f"{o.percentile(0.99) / base.percentile(0.99):8.2f} "
                f"{o.peak_rss_mb / base.peak_rss_mb:8.2f}"
            )
    print(
        f"\n== idle with {cached} cached objects (targets for ours: idle CPU < 1 %, RSS < 150 MB at 10,000)"
    )
    for impl, (cpu, rss) in idle.items():
        print(f"{impl:12} idle CPU {cpu:5.2f} %   RSS {rss:6.1f} MB")
    summary = {
        mode: {
            impl: {
                "objects_per_s": o.objects_per_s,
                "cpu_per_change": o.cpu_per_change,
                "p50": o.percentile(0.5),
                "p99": o.percentile(0.99),
                "peak_rss_mb": o.peak_rss_mb,
                "writes_per_change": o.writes_per_change,
                "handled": o.handled,
                "changes": o.changes,
            }
            for impl, o in by_impl.items()
        }
        for mode, by_impl in results.items()
    }
    print("\n" + json.dumps({"modes": summary, "idle": idle, "cached": cached}, default=str))


async def main_async(args: argparse.Namespace) -> int:
    quick = args.quick
    async with embedded_cluster(args.kubeconfig) as kubeconfig:
        kube = await kube_client(kubeconfig)
        try:
            await install_crd(kube)
            kopf_python = args.kopf_python if args.kopf_python and shutil.which(args.kopf_python) else None
            impls = args.impls.split(",")
            if kopf_python:
                impls += ["kopf", "kopf-status"]
            else:
                print(
                    "note: kopf skipped (pass --kopf-python PATH to a venv's python that has kopf installed)"
                )
            ctx = Context(
                kube,
                kubeconfig,
                kopf_python,
                steady_seconds=3 if quick else 20,
                burst_changes=8 if quick else 40,
                backlog=200 if quick else 1000,
                cached=args.cached or (1000 if quick else 10_000),
                idle_seconds=2 if quick else 10,
                idle_settle=1 if quick else 3,
                drain_limit=20 if quick else 120,
            )
            results: dict[str, dict[str, Outcome]] = {}
            rounds = args.rounds or (1 if quick else 2)
            for mode in filter(None, args.modes.split(",")):
                results[mode] = {impl: Outcome() for impl in impls}
                for round_ in range(rounds):
                    # Alternate the order so slow drifts in machine load hit every operator alike.
                    for impl in impls if round_ % 2 == 0 else impls[::-1]:
                        print(f"-- {mode} / {impl} (round {round_ + 1}/{rounds})", flush=True)
                        results[mode][impl].merge(await run_mode(mode, impl, ctx))
            idle = {}
            for impl in impls if args.cached >= 0 else []:
                print(f"-- idle / {impl} ({ctx.cached} objects)", flush=True)
                idle[impl] = await idle_and_cached(impl, ctx)
            report(results, idle, ctx.cached)
        finally:
            await kube.api_client.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes; finishes in under a minute")
    parser.add_argument(
        "--kubeconfig", type=Path, help="use this cluster instead of starting an embedded one"
    )
    parser.add_argument("--kopf-python", help="python of a separate venv with kopf installed")
    parser.add_argument(
        "--cached", type=int, default=0, help="objects cached for the idle/RSS measurement (-1: skip it)"
    )
    parser.add_argument("--impls", default="bare,ours", help="operators to run, in this order (needs bare)")
    parser.add_argument(
        "--rounds", type=int, default=0, help="rounds per mode, order alternating (default 1/2)"
    )
    parser.add_argument("--modes", default="steady,burst,backlog", help="comma-separated subset of the modes")
    args = parser.parse_args()
    unknown = set(filter(None, args.modes.split(","))) - {"steady", "burst", "backlog"}
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
