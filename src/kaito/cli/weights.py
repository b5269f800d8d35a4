"""`kaito weights fetch`: the init container that puts a model's weights in the cache volume, once."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path

from prometheus_client import start_http_server

from kaito.cli.logs import configure_logging
from kaito.presets import UnknownPresetError
from kaito.weights import WeightsError, WeightsRequest, fetch_weights, read_token

DEFAULT_TERMINATION_LOG = Path("/dev/termination-log")
DEFAULT_PULL_SECRETS = Path("/etc/kaito/pull-secrets")
# The local cluster's stand-in model (as `kaito serve` honours it): there it replaces the hub, which
# `kaito local up` cannot reach.
LOCAL_MODEL_DIR_ENV = "KAITO_LOCAL_MODEL_DIR"
EXIT_USAGE = 2
PROGRESS_INTERVAL_ENV = "KAITO_WEIGHTS_PROGRESS_INTERVAL"
DEFAULT_PROGRESS_INTERVAL_S = 2.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("weights", help="fetch and cache model weights (runs in init containers)")
    actions = parser.add_subparsers(dest="weights_action", metavar="ACTION")
    actions.required = True
    fetch = actions.add_parser(
        "fetch", help="download (or verify the cached copy of) a model's weights into --cache"
    )
    source = fetch.add_mutually_exclusive_group()
    source.add_argument("--preset", help="a catalog preset: its hub repository at the catalog's revision")
    source.add_argument("--repo", help="a hub repository, e.g. microsoft/phi-4")
    fetch.add_argument("--revision", default="main", help="with --repo: the branch, tag or commit")
    fetch.add_argument("--cache", type=Path, help="the cache directory (a PVC or an emptyDir)")
    fetch.add_argument("--image", help="take the weights from this OCI image's /data instead of the hub")
    fetch.add_argument(
        "--pull-secrets",
        type=Path,
        action="append",
        help=f"a mounted dockerconfigjson Secret, file or directory (repeatable; {DEFAULT_PULL_SECRETS})",
    )
    fetch.add_argument(
        "--local",
        type=Path,
        help=f"use the model directory already at this path (default ${LOCAL_MODEL_DIR_ENV}, which then "
        "stands in for any other source)",
    )
    fetch.add_argument("--token-file", type=Path, help="a file holding the hub token (else $HF_TOKEN)")
    fetch.add_argument(
        "--token-secret",
        default=os.environ.get("KAITO_MODEL_ACCESS_SECRET"),
        help="name of the Secret the token comes from, for error messages ($KAITO_MODEL_ACCESS_SECRET)",
    )
    fetch.add_argument("--hub-endpoint", help="the model hub's base URL ($HF_ENDPOINT, else huggingface.co)")
    fetch.add_argument(
        "--verify", choices=("full", "size"), default="full", help="how cached files are checked"
    )
    fetch.add_argument("--parallel", type=int, default=4, help="files downloaded at once")
    fetch.add_argument(
        "--progress-interval",
        type=float,
        default=_default_progress_interval(),
        help=f"seconds between JSON progress lines (${PROGRESS_INTERVAL_ENV}, else "
        f"{DEFAULT_PROGRESS_INTERVAL_S:g}); the operator reads the newest into the Workspace status",
    )
    fetch.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus /metrics here (0: off)")
    fetch.add_argument(
        "--termination-log",
        type=Path,
        default=DEFAULT_TERMINATION_LOG,
        help="where the failure reason goes (the container's terminationMessagePath)",
    )
    fetch.add_argument("--log-level", default="info")
    fetch.set_defaults(func=run)


def _default_progress_interval() -> float:
    try:
        value = float(os.environ.get(PROGRESS_INTERVAL_ENV, ""))
    except ValueError:
        return DEFAULT_PROGRESS_INTERVAL_S
    return value if value > 0 else DEFAULT_PROGRESS_INTERVAL_S


def _local_model_dir() -> Path | None:
    value = os.environ.get(LOCAL_MODEL_DIR_ENV, "").strip()
    return Path(value) if value else None


def _request(args: argparse.Namespace) -> WeightsRequest:
    if args.local is None:
        args.local = _local_model_dir()
    cache = args.cache or (args.local if args.local is not None else None)
    if cache is None:
        raise ValueError("--cache is required unless --local names the weights")
    pull_secrets = args.pull_secrets or ([DEFAULT_PULL_SECRETS] if args.image else [])
    options = {
        "image": args.image,
        "pull_secrets": pull_secrets,
        "local": args.local,
        "token": read_token(args.token_file),
        "token_secret": args.token_secret,
        "hub_endpoint": args.hub_endpoint,
        "verify": args.verify,
        "parallel": max(1, args.parallel),
        "progress_interval": args.progress_interval,
    }
    if args.preset:
        return WeightsRequest.for_preset(args.preset, cache, **options)
    if not (args.repo or args.image or args.local):
        raise ValueError("name the weights: --preset, --repo, --image or --local")
    return WeightsRequest(cache_dir=cache, repo=args.repo, revision=args.revision, **options)


def _terminate(path: Path, message: str) -> None:
    # In a pod the kubelet has created the file; outside one (the local cluster runs the command as a host
    # process) never create files under /dev. Stderr carries the message either way.
    if path.parent == Path("/dev") and not path.is_file():
        return
    with contextlib.suppress(OSError):
        path.write_text(message[:4000])  # the kubelet keeps at most 4 KiB


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level, json=True)
    try:
        request = _request(args)
    except (ValueError, UnknownPresetError) as err:
        message = f"InvalidArguments: {err}"
        print(message, file=sys.stderr)
        _terminate(args.termination_log, message)
        return EXIT_USAGE
    if args.metrics_port:
        start_http_server(args.metrics_port)
    try:
        result = asyncio.run(fetch_weights(request))
    except WeightsError as err:
        message = err.termination_message()
        print(message, file=sys.stderr)
        _terminate(args.termination_log, message)
        return err.exit_code
    print(result.model_dir)
    return 0
