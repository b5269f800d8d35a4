"""`kaito serve`'s process: vLLM's OpenAI server in-process, plus kaito's routes, adapters and metrics."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import structlog

from kaito.api.runtime import RuntimeConfig
from kaito.serving import metrics
from kaito.serving.adapter_manager import AdapterManager
from kaito.serving.adapter_stage import AdapterStager
from kaito.serving.engine_args import EngineArgs
from kaito.serving.gpus import GpuInventory
from kaito.serving.lora_engine import VllmLoraEngine
from kaito.serving.multinode import NodeRole, count_alive_ray_nodes, ray_start_command, wait_for_group
from kaito.serving.routes import GroupCheck, build_router, install_routes

log = structlog.get_logger(__name__)
GROUP_JOIN_TIMEOUT_SECONDS = 900.0
STATUS_FILE_NAME = "status.json"


def build_manager(config: RuntimeConfig, app_state: Any) -> AdapterManager | None:
    settings = config.adapters
    if not settings.enabled:
        return None
    stager = AdapterStager(
        root=settings.directory,
        pull_secrets_dir=settings.pull_secrets_dir,
        max_rank=settings.max_lora_rank,
        plain_http=frozenset(settings.plain_http_registries),
    )
    return AdapterManager(
        VllmLoraEngine(app_state),
        stager,
        desired_file=settings.desired_file,
        status_file=settings.directory / STATUS_FILE_NAME,
        model_name=config.model.name,
        resync_seconds=settings.resync_seconds,
    )


def _group_check(role: NodeRole) -> GroupCheck | None:
    if role.node_count == 1:
        return None

    async def check() -> str | None:
        try:
            alive = await asyncio.to_thread(count_alive_ray_nodes)
        except Exception as err:
            return f"ray cluster unreachable: {err}"
        metrics.GROUP_NODES_READY.set(alive)
        if alive < role.node_count:
            return f"only {alive} of {role.node_count} nodes are in the Ray cluster"
        return None

    return check


async def start_ray(role: NodeRole, gpus: GpuInventory) -> None:
    """Head: start Ray and wait for every worker to join. Worker: join the head and block there."""
    command = ray_start_command(role, gpus.count)
    log.info("starting ray", command=command, ordinal=role.ordinal)
    if not role.is_head:
        process = await asyncio.create_subprocess_exec(*command)
        code = await process.wait()
        raise SystemExit(code)
    await asyncio.to_thread(subprocess.run, command, check=True)

    async def count() -> int:
        return await asyncio.to_thread(count_alive_ray_nodes)

    joined = await wait_for_group(role.node_count, count, GROUP_JOIN_TIMEOUT_SECONDS)
    metrics.GROUP_NODES_READY.set(joined)


async def serve(
    config: RuntimeConfig,
    args: argparse.Namespace,
    engine_args: EngineArgs,
    role: NodeRole,
    gpus: GpuInventory,
) -> None:
    """Start the engine and the HTTP server on one event loop; return when the server stops."""
    from vllm.entrypoints.launchers.api_server.app_state import init_app_state
    from vllm.entrypoints.launchers.api_server.entry import build_async_engine_client
    from vllm.entrypoints.launchers.app import build_app
    from vllm.entrypoints.launchers.launcher import serve_http, setup_server

    listen_address, sock = setup_server(args, reuse_port=False)
    metrics.SERVE_INFO.labels(
        model=config.model.name,
        tensor_parallel_size=str(engine_args.get("tensor-parallel-size", 1)),
        pipeline_parallel_size=str(engine_args.get("pipeline-parallel-size", 1)),
        gpus=str(gpus.count),
    ).set(1)
    try:
        async with build_async_engine_client(args) as engine_client:
            supported_tasks = await engine_client.get_supported_tasks()
            app = build_app(args, supported_tasks, engine_client.model_config)
            await init_app_state(engine_client, app.state, args, supported_tasks)
            manager = build_manager(config, app.state)
            install_routes(app, build_router(app, config.model.name, manager, _group_check(role)))
            manager_task = asyncio.create_task(manager.run()) if manager is not None else None
            log.info("kaito serve listening", address=listen_address, model=config.model.name)
            try:
                shutdown = await serve_http(
                    app,
                    sock=sock,
                    host=args.host,
                    port=args.port,
                    log_level=args.uvicorn_log_level,
                    access_log=not args.disable_uvicorn_access_log,
                    timeout_keep_alive=5,
                )
            finally:
                if manager_task is not None:
                    manager_task.cancel()
                    await asyncio.gather(manager_task, return_exceptions=True)
                if manager is not None:
                    await manager.aclose()
        await shutdown
    finally:
        sock.close()


def prepare_environment(config: RuntimeConfig, gpus: GpuInventory) -> None:
    """Environment vLLM reads at import time; set before importing it."""
    if not gpus.count:
        # CPU engines reserve this many GiB of KV cache; 1 keeps a tiny model's server near 3 GB.
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if config.adapters.enabled:
        config.adapters.directory.mkdir(parents=True, exist_ok=True)
        Path(config.adapters.desired_file).parent.mkdir(parents=True, exist_ok=True)
