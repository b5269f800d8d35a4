"""`kaito manifests`: write the CRDs kaito needs (Workspace, NodeClaim) as YAML."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kaito.api.crd import KUSTOMIZATION_FILE, render_files


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "manifests", help="generate the CustomResourceDefinitions (stdout, or files in --output)"
    )
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        metavar="DIR",
        help="write one file per CRD plus kustomization.yaml into DIR instead of printing",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    files = render_files()
    output: Path | None = args.output
    if output is None:
        crds = [text for name, text in files.items() if name != KUSTOMIZATION_FILE]
        sys.stdout.write("---\n".join(crds))
        return 0
    output.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = output / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path}")
    return 0
