"""`kaito version`: print the package version."""

from __future__ import annotations

import argparse

from kaito import __version__


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("version", help="print kaito's version")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(f"kaito {__version__}")
    return 0
