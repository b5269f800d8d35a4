"""Serving benchmark: `kaito serve` against plain vLLM (`python -m vllm.entrypoints.openai.api_server`).

Both servers run the tiny model with the same engine flags, side by side; measurement rounds alternate
between them (same machine load), and ratios are of the medians. Then adapters are hot-(un)loaded on
`kaito serve` while a load generator runs: hot-load latency and failed requests. Exits 0 with a note when
vLLM is not installed. Usage: ``python bench/serve.py [--requests N] [--concurrency N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

MODEL = "tiny-llama"
PROMPTS = ["Hello, how are you today?", "Write a short poem about the sea.", "What is the capital of France?"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


async def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, limit: float = 400) -> None:
    deadline = time.monotonic() + limit
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = await asyncio.to_thread(log.read_text)
                raise SystemExit(f"server exited:\n{tail[-3000:]}")
            try:
                if (await http.get(f"{url}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit(f"server at {url} not healthy after {limit}s")


async def one_request(
    http: httpx.AsyncClient, model: str, prompt: str, tokens: int
) -> tuple[bool, float, int]:
    """Streamed completion: (ok, time to first token, output tokens)."""
    body = {"model": model, "prompt": prompt, "max_tokens": tokens, "temperature": 0, "ignore_eos": True}
    body |= {"stream": True, "stream_options": {"include_usage": True}}
    started = time.perf_counter()
    first = 0.0
    produced = 0
    async with http.stream("POST", "/v1/completions", json=body) as response:
        if response.status_code != 200:
            await response.aread()
            return False, 0.0, 0
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if not first and chunk.get("choices") and chunk["choices"][0].get("text"):
                first = time.perf_counter() - started
            if chunk.get("usage"):
                produced = int(chunk["usage"]["completion_tokens"])
    return True, first, produced


async def load_round(url: str, model: str, requests: int, concurrency: int, tokens: int) -> dict[str, float]:
    queue = list(range(requests))
    ttfts: list[float] = []
    produced = 0
    failures = 0
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:

        async def worker() -> None:
            nonlocal produced, failures
            while queue:
                index = queue.pop()
                ok, ttft, count = await one_request(http, model, PROMPTS[index % len(PROMPTS)], tokens)
                if ok:
                    ttfts.append(ttft)
                    produced += count
                else:
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "tokens_per_s": produced / elapsed,
        "ttft_p50_ms": statistics.median(ttfts) * 1000,
        "failed": failures,
    }


async def adapter_swaps(
    url: str, desired_file: Path, adapters: list[dict[str, Any]], swaps: int, concurrency: int
) -> dict[str, Any]:
    """Add and remove an adapter `swaps` times under load; time each load until /v1/models lists it."""
    statuses: list[int] = []
    stop = asyncio.Event()
    load_ms: list[float] = []
    unload_ms: list[float] = []

    def write(entries: list[dict[str, Any]]) -> None:
        scratch = desired_file.with_name(".tmp")
        scratch.write_text(yaml.safe_dump({"adapters": entries}))
        scratch.replace(desired_file)

    async with httpx.AsyncClient(base_url=url, timeout=120) as http:

        async def models() -> set[str]:
            return {m["id"] for m in (await http.get("/v1/models")).json()["data"]}

        async def until(condition: Any) -> float:
            started = time.perf_counter()
            while not condition(await models()):
                if time.perf_counter() - started > 120:
                    raise SystemExit("adapter change not visible after 120 s")
                await asyncio.sleep(0.01)
            return (time.perf_counter() - started) * 1000

        async def worker(model: str) -> None:
            while not stop.is_set():
                body = {"model": model, "prompt": "Hello", "max_tokens": 16, "temperature": 0}
                statuses.append((await http.post("/v1/completions", json=body)).status_code)

        workers = [asyncio.create_task(worker(MODEL)) for _ in range(concurrency)]
        try:
            for index in range(swaps):
                entry = adapters[index % len(adapters)]
                write([entry])
                load_ms.append(await until(lambda served, name=entry["name"]: name in served))
                write([])
                unload_ms.append(await until(lambda served, name=entry["name"]: name not in served))
        finally:
            stop.set()
            await asyncio.gather(*workers)
    return {
        "hot_load_ms": load_ms,
        "hot_load_ms_max": max(load_ms),
        "unload_ms_max": max(unload_ms),
        "requests_during_swaps": len(statuses),
        "failed_during_swaps": sum(1 for s in statuses if s != 200),
    }


async def push_images(
    root: Path, sources: dict[str, Path]
) -> tuple[subprocess.Popen[bytes] | None, dict[str, str]]:
    """Push each adapter to a local registry when `docker-registry` exists; else serve them from paths."""
    binary = shutil.which("docker-registry")
    if binary is None:
        return None, dict.fromkeys(sources, "")
    from kaito.oci.client import RegistryClient
    from kaito.oci.image import push_directory
    from kaito.oci.reference import parse_reference

    port = free_port()
    config = root / "registry.yml"
    config.write_text(
        f"version: 0.1\nlog: {{level: error, accesslog: {{disabled: true}}}}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'registry'}}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n"
    )
    process = start([binary, "serve", str(config)], root / "registry.log")
    images: dict[str, str] = {}
    async with RegistryClient() as client:
        for _ in range(100):
            try:
                await client.blob_exists(parse_reference(f"127.0.0.1:{port}/probe:1"), "sha256:" + "0" * 64)
                break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        for name, source in sources.items():
            images[name] = f"127.0.0.1:{port}/bench/{name}:1"
            await push_directory(client, parse_reference(images[name]), source)
    return process, images


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from kaito.api.runtime import parse_config
    from kaito.serving.engine_args import build_engine_args
    from kaito.serving.gpus import CPU_ONLY
    from kaito.serving.tinymodel import build_tiny_adapter, build_tiny_model
    from kaito.serving.vllm_args import to_argv

    root = Path(tempfile.mkdtemp(prefix="kaito-bench-serving-"))
    model = build_tiny_model(root / "model")
    sources = {
        f"bench-{i}": build_tiny_adapter(model, root / f"adapter-{i}", rank=8, seed=i) for i in range(2)
    }
    registry, images = await push_images(root, sources)
    kaito_port, plain_port = free_port(), free_port()
    config_text = yaml.safe_dump(
        {
            "model": {"name": MODEL, "path": str(model)},
            "plan": {"maxModelLen": 512},
            "adapters": {
                "enabled": True,
                "maxLoras": 2,
                "maxLoraRank": 16,
                "desiredFile": str(root / "desired.yaml"),
                "directory": str(root / "staged"),
            },
            "server": {"host": "127.0.0.1", "port": kaito_port},
        }
    )
    (root / "config.yaml").write_text(config_text)
    engine_args = build_engine_args(parse_config(config_text), CPU_ONLY)
    plain_args = {k: v for k, v in engine_args.items() if k != "port"} | {"port": plain_port}
    plain_command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", *to_argv(plain_args)]
    kaito_command = [sys.executable, "-m", "kaito.cli", "serve", "--config", str(root / "config.yaml")]
    servers = {
        "vllm": (
            f"http://127.0.0.1:{plain_port}",
            start(plain_command, root / "vllm.log"),
            root / "vllm.log",
        ),
        "kaito": (
            f"http://127.0.0.1:{kaito_port}",
            start(kaito_command, root / "kaito.log"),
            root / "kaito.log",
        ),
    }
    try:
        for url, process, log in servers.values():
            await wait_healthy(url, process, log)
        for url, _, _ in servers.values():  # warm-up
            await load_round(url, MODEL, 8, 4, 8)
        rounds: dict[str, list[dict[str, float]]] = {"vllm": [], "kaito": []}
        for index in range(args.rounds):
            order = ("vllm", "kaito") if index % 2 == 0 else ("kaito", "vllm")
            for name in order:
                url = servers[name][0]
                rounds[name].append(
                    await load_round(url, MODEL, args.requests, args.concurrency, args.tokens)
                )
        summary: dict[str, Any] = {}
        for name, results in rounds.items():
            summary[name] = {
                "tokens_per_s_median": statistics.median(r["tokens_per_s"] for r in results),
                "ttft_p50_ms_median": statistics.median(r["ttft_p50_ms"] for r in results),
                "failed": sum(r["failed"] for r in results),
                "rounds": results,
            }
        summary["throughput_ratio"] = (
            summary["kaito"]["tokens_per_s_median"] / summary["vllm"]["tokens_per_s_median"]
        )
        summary["ttft_p50_ratio"] = (
            summary["kaito"]["ttft_p50_ms_median"] / summary["vllm"]["ttft_p50_ms_median"]
        )
        entries = [
            {"name": name, "image": images[name]} if images[name] else {"name": name, "path": str(source)}
            for name, source in sources.items()
        ]
        summary["adapters"] = await adapter_swaps(
            servers["kaito"][0], root / "desired.yaml", entries, args.swaps, args.concurrency
        )
        summary["adapters"]["source"] = "registry" if registry is not None else "path"
        return summary
    finally:
        for _, process, _ in servers.values():
            process.terminate()
        for _, process, _ in servers.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        if registry is not None:
            registry.terminate()
            registry.wait()
        shutil.rmtree(root, ignore_errors=True)


def report(summary: dict[str, Any]) -> None:
    vllm, kaito, adapters = summary["vllm"], summary["kaito"], summary["adapters"]
    print(f"{'':24}{'plain vLLM':>14}{'kaito serve':>14}{'ratio':>10}")
    print(
        f"{'output tokens/s':24}{vllm['tokens_per_s_median']:>14.1f}{kaito['tokens_per_s_median']:>14.1f}"
        f"{summary['throughput_ratio']:>10.3f}   (target >= 0.99)"
    )
    print(
        f"{'TTFT p50 (ms)':24}{vllm['ttft_p50_ms_median']:>14.1f}{kaito['ttft_p50_ms_median']:>14.1f}"
        f"{summary['ttft_p50_ratio']:>10.3f}"
    )
    print(f"{'failed requests':24}{vllm['failed']:>14}{kaito['failed']:>14}")
    print(
        f"adapter hot-load ({adapters['source']}): max {adapters['hot_load_ms_max']:.0f} ms "
        f"(target < 2000), all {[round(x) for x in adapters['hot_load_ms']]}; unload max "
        f"{adapters['unload_ms_max']:.0f} ms; {adapters['failed_during_swaps']} of "
        f"{adapters['requests_during_swaps']} requests failed during swaps (target 0)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--swaps", type=int, default=6)
    parser.add_argument("--json", action="store_true", help="print the full results as JSON")
    options = parser.parse_args()
    if importlib.util.find_spec("vllm") is None:
        print("bench/serve.py: vLLM is not installed (the `serving-cpu` extra); skipped")
        sys.exit(0)
    result = asyncio.run(main(options))
    report(result)
    if options.json:
        print(json.dumps(result, indent=2))
