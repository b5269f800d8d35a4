"""Embedded API server throughput: 1,000 creates with 10 concurrent watchers.

Prints creates/s and the create-to-watch-delivery latency (p50/p99) seen by the watchers. The server runs in
its own process (as `kaito local up` runs it), the load generator uses raw aiohttp so the client is not the
bottleneck. Usage: ``python bench/apiserver.py [--objects N] [--watchers N] [--concurrency N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

NAMESPACE = "bench"


def _serve(data_dir: str, ready: Any) -> None:
    from kaito.localcluster.cluster import LocalCluster

    async def main() -> None:
        cluster = LocalCluster(Path(data_dir), persist=False)
        await cluster.start()
        ready.put(cluster.url)
        await asyncio.Event().wait()

    asyncio.run(main())


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _watch(
    session: aiohttp.ClientSession, url: str, rv: str, expected: int, sent: dict[str, float], out: list[float]
) -> None:
    params = {"watch": "true", "resourceVersion": rv, "timeoutSeconds": "120"}
    seen = 0
    async with session.get(f"{url}/api/v1/namespaces/{NAMESPACE}/configmaps", params=params) as response:
        async for line in response.content:
            event = json.loads(line)
            if event["type"] != "ADDED":
                continue
            out.append(time.perf_counter() - sent[event["object"]["metadata"]["name"]])
            seen += 1
            if seen == expected:
                return


async def run(url: str, objects: int, watchers: int, concurrency: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=concurrency + watchers + 4)
    async with aiohttp.ClientSession(connector=connector) as session:
        await session.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}})
        async with session.get(f"{url}/api/v1/namespaces/{NAMESPACE}/configmaps") as listed:
            rv = (await listed.json())["metadata"]["resourceVersion"]
        sent: dict[str, float] = {}
        latencies: list[float] = []
        watch_tasks = [
            asyncio.create_task(_watch(session, url, rv, objects, sent, latencies)) for _ in range(watchers)
        ]
        await asyncio.sleep(0.5)  # let every watch connect
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(objects):
            queue.put_nowait(index)

        async def writer() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                name = f"cm-{index:05d}"
                body = {"metadata": {"name": name, "labels": {"bench": "1"}}, "data": {"index": str(index)}}
                sent[name] = time.perf_counter()
                async with session.post(
                    f"{url}/api/v1/namespaces/{NAMESPACE}/configmaps", json=body
                ) as reply:
                    if reply.status != 201:
                        raise RuntimeError(f"create failed: {reply.status} {await reply.text()}")

        started = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(concurrency)))
        created = time.perf_counter() - started
        await asyncio.wait_for(asyncio.gather(*watch_tasks), 120)
        delivered = time.perf_counter() - started
    return {
        "objects": objects,
        "watchers": watchers,
        "writers": concurrency,
        "creates_per_s": round(objects / created, 1),
        "all_delivered_s": round(delivered, 3),
        "deliveries": len(latencies),
        "delivery_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "delivery_p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--watchers", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    ready: Any = context.Queue()
    with tempfile.TemporaryDirectory() as data_dir:
        server = context.Process(target=_serve, args=(data_dir, ready), daemon=True)
        server.start()
        try:
            url = ready.get(timeout=60)
            assert server.pid is not None
            cpu_before = _cpu_seconds(server.pid)
            result = asyncio.run(run(url, args.objects, args.watchers, args.concurrency))
            result["server_cpu_ms_per_create"] = round(
                (_cpu_seconds(server.pid) - cpu_before) * 1000 / args.objects, 3
            )
        finally:
            server.terminate()
            server.join(10)
    print(
        f"{result['objects']} creates, {result['watchers']} watchers: {result['creates_per_s']} objects/s, "
        f"watch delivery p50 {result['delivery_p50_ms']} ms, p99 {result['delivery_p99_ms']} ms, "
        f"server CPU {result['server_cpu_ms_per_create']} ms per create (incl. 10 watch deliveries)"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
