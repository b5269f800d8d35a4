"""`kaito serve` start-up: configuration, GPUs, engine arguments (checked by vLLM), Ray group, server."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import structlog

from kaito.api.runtime import ConfigError, load_config
from kaito.serving.engine_args import build_engine_args
from kaito.serving.gpus import detect_gpus
from kaito.serving.local_model import adapt_to_node
from kaito.serving.multinode import GroupError, node_role

log = structlog.get_logger(__name__)


def run_serve(config_path: Path, pod_name: str | None = None, print_args: bool = False) -> int:
    """Exit code 2 for a configuration a person must fix (the message says which field and how)."""
    try:
        config = load_config(config_path)
        gpus = detect_gpus()
        config, adaptations = adapt_to_node(config, gpus, os.environ)
        for change in adaptations:
            log.info(
                "local mode", field=change.field, planned=change.planned, used=change.used, why=change.reason
            )
        role = node_role(config.distributed, pod_name)
        engine_args = build_engine_args(config, gpus)
    except (ConfigError, GroupError) as err:
        print(f"kaito serve: {err}", file=sys.stderr)
        return 2
    from kaito.serving.server import prepare_environment, serve, start_ray

    prepare_environment(config, gpus)
    from kaito.serving.vllm_args import parse_engine_args, to_argv

    try:
        namespace = parse_engine_args(engine_args)
    except ConfigError as err:
        print(f"kaito serve: {err}", file=sys.stderr)
        return 2
    if print_args:
        print(shlex.join(to_argv(engine_args)))
        return 0

    async def main() -> None:
        if role.node_count > 1:
            await start_ray(role, gpus)  # workers block here for the pod's life
        await serve(config, namespace, engine_args, role, gpus)

    import uvloop

    uvloop.run(main())
    return 0
