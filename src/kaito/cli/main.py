"""Entry point of the `kaito` command: one subcommand per module in COMMANDS."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol, cast


class CommandModule(Protocol):
    """What each subcommand module provides."""

    def register(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


# Each module registers its subcommand(s) and sets `func` (args -> exit code) on its parser.
COMMANDS: tuple[str, ...] = (
    "kaito.cli.version",
    "kaito.cli.manifests",
    "kaito.cli.plan",
    "kaito.cli.serve",
    "kaito.cli.tune",
    "kaito.cli.local",
    "kaito.cli.operator",
    "kaito.cli.weights",
    "kaito.cli.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kaito",
        description="Run LLM inference and fine-tuning on Kubernetes GPU nodes from one Workspace manifest.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        module = cast(CommandModule, importlib.import_module(name))
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code = args.func(args)
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
