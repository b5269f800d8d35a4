"""`kaito tune`: the tuning Job's process; `kaito tune fetch` (its data step) and `kaito tune push`."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path

from kaito.cli.logs import configure_logging

DEFAULT_CONFIG = Path("/etc/kaito/tuning/config.yaml")
DEFAULT_PUSH_SECRET = Path("/etc/kaito/push-secret")
DEFAULT_PULL_SECRETS = Path("/etc/kaito/pull-secrets")
DEFAULT_METRICS_PORT = 9090


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "tune", help="fine-tune a LoRA/QLoRA adapter and publish it (runs inside tuning Jobs)"
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the job's config.yaml")
    parser.add_argument("--user-config", type=Path, help="the user's tuning ConfigMap (directory or file)")
    parser.add_argument("--push", metavar="IMAGE", help="push the adapter to this OCI image when done")
    parser.add_argument("--push-secret", type=Path, default=DEFAULT_PUSH_SECRET, help="dockerconfigjson")
    parser.add_argument("--weights-dir", type=Path, default=Path("/workspace/weights"))
    parser.add_argument(
        "--metrics-port", type=int, default=DEFAULT_METRICS_PORT, help="serve Prometheus /metrics (0: off)"
    )
    _common(parser)
    parser.set_defaults(func=run, tune_action=None)
    actions = parser.add_subparsers(dest="tune_action", metavar="ACTION")

    fetch = actions.add_parser("fetch", help="download input.urls or pull input.image into the data dir")
    fetch.add_argument("--output", type=Path, required=True, help="the data directory")
    source = fetch.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", action="append", dest="urls", help="an http(s) URL (repeatable)")
    source.add_argument("--image", help="an OCI image whose /data holds the data")
    fetch.add_argument("--pull-secrets", type=Path, default=DEFAULT_PULL_SECRETS)
    fetch.add_argument("--max-bytes", type=int, default=20 * 2**30, help="per-file size limit")
    fetch.add_argument("--attempts", type=int, default=3, help="tries per URL on transient failures")
    fetch.add_argument(
        "--allow-network", action="append", default=[], metavar="CIDR",
        help="also allow downloads from this private network (e.g. a local cluster's)",
    )  # fmt: skip
    _common(fetch)

    push = actions.add_parser("push", help="publish an adapter directory to an OCI image or a directory")
    push.add_argument("--adapter", type=Path, required=True, help="directory holding the adapter files")
    target = push.add_mutually_exclusive_group(required=True)
    target.add_argument("--image", help="OCI image to push to")
    target.add_argument("--to-dir", type=Path, help="copy the adapter into this directory (a volume)")
    push.add_argument("--secret", type=Path, default=DEFAULT_PUSH_SECRET, help="dockerconfigjson")
    push.add_argument("--base-model", default="", help="base model named in the image annotations")
    push.add_argument("--method", default="lora", choices=["lora", "qlora"])
    _common(push)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--insecure-registry", action="append", default=[], metavar="HOST",
        help="talk plain HTTP to this registry (loopback registries always are)",
    )  # fmt: skip
    parser.add_argument("--log-level", default="info")


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level, json=True)
    if args.tune_action == "fetch":
        return _fetch(args)
    if args.tune_action == "push":
        return _push(args)
    return _train(args)


def _fail(message: str) -> int:
    from kaito.tuning.runner import report_failure

    report_failure(message)
    print(f"kaito tune: {message}", file=sys.stderr)
    return 1


def _train(args: argparse.Namespace) -> int:
    from kaito.tuning.config import TuningConfigError
    from kaito.tuning.dataset import DatasetError
    from kaito.tuning.errors import TuningError
    from kaito.tuning.images import ImageTransferError
    from kaito.tuning.runner import TuneOptions, run_tune

    options = TuneOptions(
        config=args.config,
        user_config=args.user_config,
        push=args.push,
        push_secret=args.push_secret,
        insecure_registries=frozenset(args.insecure_registry),
        weights_dir=args.weights_dir,
        metrics_port=args.metrics_port,
    )
    try:
        run_tune(options)
    except (TuningConfigError, DatasetError, ImageTransferError, TuningError) as err:
        return _fail(str(err))
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from kaito.tuning.address_guard import AddressPolicy, ForbiddenAddressError
    from kaito.tuning.fetch import FetchError, FetchSettings, download_urls
    from kaito.tuning.images import ImageTransferError, pull_data_image

    try:
        if args.urls:
            settings = FetchSettings(
                policy=AddressPolicy.allowing(args.allow_network),
                max_bytes=args.max_bytes,
                attempts=max(1, args.attempts),
            )
            asyncio.run(download_urls(args.urls, args.output, settings))
        else:
            plain = frozenset(args.insecure_registry)
            asyncio.run(pull_data_image(args.image, args.output, args.pull_secrets, plain))
    except (FetchError, ForbiddenAddressError, ImageTransferError, ValueError) as err:
        return _fail(str(err))
    return 0


def _push(args: argparse.Namespace) -> int:
    from kaito.tuning.images import ImageTransferError, push_adapter_image
    from kaito.tuning.runner import ADAPTER_FILES

    missing = [name for name in ADAPTER_FILES if not (args.adapter / name).is_file()]
    if missing:
        return _fail(f"{args.adapter} is not an adapter: {', '.join(missing)} missing")
    if args.to_dir is not None:
        shutil.copytree(args.adapter, args.to_dir, dirs_exist_ok=True)
        return 0
    try:
        asyncio.run(
            push_adapter_image(
                args.adapter, args.image, args.secret, args.base_model or "unknown", args.method,
                frozenset(args.insecure_registry),
            )
        )  # fmt: skip
    except ImageTransferError as err:
        return _fail(str(err))
    return 0
