"""`kaito plan`: explain how a Workspace (or a preset on an instance type) is sized, before provisioning."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kaito.api import Workspace
from kaito.api.errors import field_errors
from kaito.presets import (
    GpuFacts,
    InvalidNodeLabelsError,
    Plan,
    PlanError,
    get_preset,
    list_presets,
    list_skus,
    plan,
    plan_tuning,
    plan_workspace,
    workspace_gpus,
)
from kaito.presets.plan_types import gib

EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2


class InputError(Exception):
    """The command line or the manifest is unusable; the message says where."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="explain GPU sizing (nodes, parallelism, context, memory) for a Workspace",
        description="Size a Workspace's model on its GPUs without provisioning anything: nodes, tensor/"
        "pipeline parallelism, dtype, max context and the per-GPU memory budget; or refuse with the fix.",
    )
    source = parser.add_argument_group("what to plan (a manifest, or a preset and GPUs)")
    source.add_argument("-f", "--filename", help="Workspace manifest (YAML or JSON; '-' for stdin)")
    source.add_argument("--preset", help="preset name, e.g. phi-3-mini-4k-instruct")
    source.add_argument("--instance-type", help="GPU instance type, e.g. Standard_NC6s_v3")
    source.add_argument("--count", type=int, default=None, help="node count (default: 1)")
    source.add_argument("--tuning", choices=["lora", "qlora"], help="plan a tuning job instead of inference")
    source.add_argument(
        "--node-label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="GPU label of a bring-your-own node (nvidia.com/gpu.count, .product, .memory MiB); repeatable",
    )
    options = parser.add_argument_group("sizing options")
    options.add_argument("--max-model-len", type=int, help="require this context length")
    options.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="default: 0.9")
    options.add_argument(
        "--allow-more-nodes", action="store_true", help="raise the node count to the fewest that fit"
    )
    parser.add_argument("-o", "--output", choices=["table", "json"], default="table")
    listing = parser.add_argument_group("catalogs")
    listing.add_argument("--list-presets", action="store_true", help="list the model presets")
    listing.add_argument("--list-skus", action="store_true", help="list the GPU instance types")
    listing.add_argument("--cloud", choices=["azure", "aws"], help="with --list-skus: one cloud only")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list_presets or args.list_skus:
        _print_catalogs(args)
        return 0
    try:
        result = _make_plan(args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except PlanError as err:
        code = EXIT_BAD_INPUT if err.reason == "InvalidRequest" else EXIT_REFUSED
        if args.output == "json":
            print(json.dumps({"error": err.to_refusal().model_dump(mode="json")}, indent=2))
        else:
            print(_format_refusal(err), file=sys.stderr)
        return code
    if args.output == "json":
        print(json.dumps(_plan_json(result), indent=2))
    else:
        print(_format_plan(result, args.workspace_name))
    return 0


def _make_plan(args: argparse.Namespace) -> Plan:
    args.workspace_name = None
    node_gpus = _node_gpus(args.node_label)
    sizing: dict[str, Any] = {"gpu_memory_utilization": args.gpu_memory_utilization}
    if args.filename:
        if args.preset or args.instance_type or args.tuning:
            raise InputError("give either -f FILE or --preset/--instance-type, not both")
        workspace = _load_workspace(args.filename)
        args.workspace_name = workspace.metadata.name
        if args.count is not None:
            raise InputError("--count does not apply to a manifest: edit resource.count instead")
        if workspace.tuning is None:
            sizing.update(max_model_len=args.max_model_len, allow_more_nodes=args.allow_more_nodes)
        return plan_workspace(workspace, node_gpus=node_gpus, **sizing)
    if not args.preset:
        raise InputError("give -f FILE, or --preset NAME with --instance-type SKU (or --node-label ...)")
    workspace = _workspace_from_flags(args)
    gpus = workspace_gpus(workspace, node_gpus)
    count = workspace.resource.count
    if args.tuning:
        return plan_tuning(args.preset, gpus, args.tuning, count, **sizing)
    return plan(
        args.preset,
        gpus,
        count,
        max_model_len=args.max_model_len,
        allow_more_nodes=args.allow_more_nodes,
        **sizing,
    )


def _workspace_from_flags(args: argparse.Namespace) -> Workspace:
    """A minimal Workspace from flags, so flag and manifest input pass the same validation."""
    raw = {
        "metadata": {"name": "plan"},
        "resource": {
            "count": 1 if args.count is None else args.count,
            "instanceType": args.instance_type or "",
            "labelSelector": {"matchLabels": {"kaito.sh/plan": "true"}},
        },
        "inference": {"preset": {"name": args.preset}},
    }
    try:
        return Workspace.model_validate(raw)
    except ValidationError as err:
        raise InputError(_describe(err, flags=True)) from None


def _node_gpus(pairs: list[str]) -> GpuFacts | None:
    if not pairs:
        return None
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--node-label {pair!r}: expected KEY=VALUE")
        labels[key.strip()] = value.strip()
    try:
        return GpuFacts.from_node_labels(labels)
    except InvalidNodeLabelsError as err:
        raise InputError(f"--node-label: {err}") from None


def _load_workspace(filename: str) -> Workspace:
    try:
        text = sys.stdin.read() if filename == "-" else Path(filename).read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(f"cannot read {filename}: {err.strerror or err}") from None
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as err:
        where = ""
        mark = getattr(err, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(err, "problem", None) or str(err)
        raise InputError(f"{filename}: not valid YAML{where}: {problem}") from None
    workspaces = [doc for doc in documents if isinstance(doc, dict) and doc.get("kind") == "Workspace"]
    if not workspaces:
        raise InputError(f"{filename}: no Workspace (kind: Workspace) found")
    try:
        return Workspace.model_validate(workspaces[0])
    except ValidationError as err:
        raise InputError(f"{filename}: invalid Workspace\n{_describe(err)}") from None


def _describe(err: ValidationError, *, flags: bool = False) -> str:
    lines = [f"  {problem}" for problem in field_errors(err)]
    if flags:
        lines = [line.replace("resource.instanceType", "--instance-type") for line in lines]
    return "\n".join(lines)


def _plan_json(result: Plan) -> dict[str, Any]:
    data = result.model_dump(mode="json")
    data["memory_gib"] = result.memory.in_gib()
    data["vllm_args"] = result.vllm_args() if result.mode == "inference" else []
    return data


def _format_plan(result: Plan, workspace_name: str | None) -> str:
    where = result.sku or f"nodes with {result.gpu_product}"
    title = f"{result.preset} on {where} ({result.mode}"
    title += f", {result.tuning_method})" if result.tuning_method else ")"
    if workspace_name:
        title = f"Workspace {workspace_name}: {title}"
    replicas = f"{result.data_parallel_replicas} replica" + (
        "s" if result.data_parallel_replicas != 1 else ""
    )
    gpus = f"{result.gpus_per_node} × {result.gpu_product} ({result.gpus_in_use_per_node} in use)"
    split = f"tensor {result.tensor_parallel_size} × pipeline {result.pipeline_parallel_size}, {replicas}"
    rows = [
        ("nodes", f"{result.nodes} (requested {result.requested_nodes})"),
        ("GPUs per node", gpus),
        ("parallelism", split),
        ("dtype", result.dtype + (f" ({result.quantization} weights)" if result.quantization else "")),
    ]
    limit = get_preset(result.preset).context_limit
    if result.mode == "inference":
        rows.append(("max context", f"{result.max_model_len:,} tokens (model limit {limit:,})"))
        per_token = f"{result.kv_bytes_per_token_per_gpu / 1024:g} KiB/token per GPU"
        rows.append(("KV cache", f"{per_token}, {result.max_kv_tokens:,} tokens"))
    else:
        rows.append(("sequence length", f"{result.max_model_len:,} tokens"))
    rows.append(("disk", f"{result.disk_gib} GiB per node"))
    memory = result.memory
    budget_rows = [
        ("total", memory.total_bytes),
        (f"usable (× {result.gpu_memory_utilization:g})", memory.usable_bytes),
        ("weights", memory.weights_bytes),
        ("runtime overhead", memory.overhead_bytes),
    ]
    if result.mode == "inference":
        budget_rows += [("KV cache", memory.kv_cache_bytes), ("  one full sequence", memory.kv_needed_bytes)]
    else:
        budget_rows.append(("adapter+optimizer+activations", memory.training_bytes))
    lines = [title, ""]
    lines += [f"  {name:<16} {value}" for name, value in rows]
    lines += ["", "  memory per GPU (GiB)"]
    lines += [f"    {name:<30} {gib(value):>8.2f}" for name, value in budget_rows]
    lines += ["", "  why"]
    lines += [f"    - {sentence}" for sentence in result.explanation]
    if result.mode == "inference":
        lines += ["", f"  vllm: {' '.join(result.vllm_args())}"]
    return "\n".join(lines)


def _format_refusal(err: PlanError) -> str:
    lines = [f"error: {err.field}: {err.message}"]
    if err.shortfall is not None:
        short = err.shortfall.in_gib()
        lines.append(
            f"  short by {short['short_per_gpu']} GiB per GPU (needs {short['needed_per_gpu']}, "
            f"has {short['available_per_gpu']})"
        )
    if err.suggested_skus:
        lines.append(f"  instance types that fit: {', '.join(err.suggested_skus)}")
    if err.min_node_count is not None:
        lines.append(f"  or resource.count: {err.min_node_count} on this instance type")
    return "\n".join(lines)


def _print_catalogs(args: argparse.Namespace) -> None:
    if args.list_presets:
        print(f"{'PRESET':<30} {'WEIGHTS GiB':>11} {'CONTEXT':>8} {'TUNING':<7} HF REPO")
        for preset in list_presets():
            tuning = "yes" if preset.tuning else "no"
            print(
                f"{preset.name:<30} {preset.weights_gib:>11.2f} {preset.context_limit:>8} {tuning:<7} "
                f"{preset.hf_repo}"
            )
    if args.list_skus:
        print(f"{'INSTANCE TYPE':<28} {'CLOUD':<6} {'GPUS':>4} {'GPU':<24} {'GiB/GPU':>8} BF16")
        for sku in list_skus(args.cloud):
            bf16 = "yes" if sku.bf16 else "no"
            print(
                f"{sku.name:<28} {sku.cloud:<6} {sku.gpu_count:>4} {sku.gpu.product:<24} "
                f"{sku.gpu.memory_mib / 1024:>8.2f} {bf16}"
            )
