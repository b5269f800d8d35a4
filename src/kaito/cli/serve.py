"""`kaito serve`: the inference pod's process (vLLM in-process, legacy /chat, hot-loaded LoRA adapters)."""

from __future__ import annotations

import argparse
from pathlib import Path

from kaito.api.runtime import DEFAULT_CONFIG_PATH
from kaito.cli.logs import configure_logging


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="serve a model with vLLM (runs inside inference pods)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, help="runtime configuration YAML")
    parser.add_argument(
        "--pod-name", default=None, help="StatefulSet pod name (default: $POD_NAME, hostname)"
    )
    parser.add_argument("--print-args", action="store_true", help="print the vLLM arguments and exit")
    parser.add_argument("--log-level", default="info")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kaito.serving.main import run_serve

    configure_logging(args.log_level, json=True)
    return run_serve(args.config, args.pod_name, args.print_args)
