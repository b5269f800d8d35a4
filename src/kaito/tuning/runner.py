"""`kaito tune`: read the job and user config, train the adapter, write the completion marker, push it.

The adapter is built in a staging directory beside the output and moved into place file by file, with
the completion marker last, so a reader of the output (a volume) never sees a half-written adapter.
A rerun that finds a complete adapter (a Job retry after a failed push) skips straight to publishing.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry, start_http_server
from pydantic import BaseModel, ValidationError

from kaito.api.tuning_job import JobConfig
from kaito.tuning.config import (
    TuningParameters,
    build_parameters,
    read_job_config,
    read_user_sections,
)
from kaito.tuning.dataset import load_examples
from kaito.tuning.images import push_adapter_image
from kaito.tuning.lora_targets import architecture_of
from kaito.tuning.progress import ProgressTracker, TuningMetrics

log = structlog.get_logger(__name__)

COMPLETION_MARKER = "kaito-tuning-complete.json"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
DEFAULT_WEIGHTS_DIR = Path("/workspace/weights")
TERMINATION_LOG = Path("/dev/termination-log")


class CompletionMarker(BaseModel):
    """Written last into the output: the adapter beside it is complete."""

    base_model: str
    method: str
    steps: int
    first_loss: float | None
    final_loss: float | None
    eval_loss: float | None
    train_examples: int
    device: str
    seconds: float
    finished_at: str


@dataclass
class TuneOptions:
    """The command line of `kaito tune` (see `kaito.cli.tune`)."""

    config: Path
    user_config: Path | None = None
    push: str | None = None
    push_secret: Path | None = None
    insecure_registries: frozenset[str] = frozenset()
    weights_dir: Path = DEFAULT_WEIGHTS_DIR
    metrics_port: int = 0
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)


def resolve_model_path(job: JobConfig, weights_dir: Path) -> str:
    """A local model directory when there is one (the path itself, or the weights volume), else the repo."""
    if Path(job.model.path).is_dir():
        return job.model.path
    if (weights_dir / "config.json").is_file():
        return str(weights_dir)
    return job.model.path


def read_marker(output_dir: Path) -> CompletionMarker | None:
    marker = output_dir / COMPLETION_MARKER
    if not marker.is_file() or not all((output_dir / name).is_file() for name in ADAPTER_FILES):
        return None
    try:
        return CompletionMarker.model_validate_json(marker.read_text())
    except (OSError, ValidationError):
        return None


def _publish_files(staging: Path, output_dir: Path, marker: CompletionMarker) -> None:
    for path in sorted(staging.iterdir()):
        shutil.move(str(path), output_dir / path.name)
    scratch = output_dir / f".{COMPLETION_MARKER}.tmp"
    scratch.write_text(marker.model_dump_json(indent=2))
    scratch.replace(output_dir / COMPLETION_MARKER)


def train_to_output(
    job: JobConfig, params: TuningParameters, model_path: str, tracker: ProgressTracker
) -> CompletionMarker:
    """Train on the data directory and place the adapter and its marker in the output directory."""
    from kaito.tuning.train import train_adapter  # torch, transformers, peft: only when training

    examples = load_examples(job.data_dir, params.dataset)
    job.output_dir.mkdir(parents=True, exist_ok=True)
    base_model_id = job.model.path if not Path(job.model.path).is_dir() else job.model.name
    with tempfile.TemporaryDirectory(prefix=".kaito-staging-", dir=job.output_dir) as staging:
        result = train_adapter(
            params,
            examples,
            model_path,
            Path(staging),
            tracker,
            revision=job.model.revision,
            base_model_id=base_model_id,
        )
        losses = [loss for _, loss in result.losses]
        marker = CompletionMarker(
            base_model=job.model.name,
            method=params.method,
            steps=result.steps,
            first_loss=losses[0] if losses else None,
            final_loss=losses[-1] if losses else None,
            eval_loss=result.eval_loss,
            train_examples=result.train_examples,
            device=result.device,
            seconds=round(result.seconds, 3),
            finished_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        _publish_files(Path(staging), job.output_dir, marker)
    log.info("adapter saved", output=str(job.output_dir), **marker.model_dump(exclude={"finished_at"}))
    return marker


def run_tune(options: TuneOptions) -> CompletionMarker:
    """The whole job; raises the module errors (config, dataset, training, image) with clear messages."""
    job = read_job_config(options.config)
    sections = read_user_sections(options.user_config)
    model_path = resolve_model_path(job, options.weights_dir)
    local = Path(model_path) if Path(model_path).is_dir() else None
    params = build_parameters(job, sections, architecture_of(job.model.name, local))
    metrics = TuningMetrics(options.registry)
    if options.metrics_port:
        try:
            start_http_server(options.metrics_port, registry=options.registry)
        except OSError as err:  # metrics are a view on progress, never a reason to fail the job
            log.warning("cannot serve metrics", port=options.metrics_port, error=str(err))
    marker = read_marker(job.output_dir)
    if marker is not None:
        log.info("a complete adapter is already in the output; not training again", steps=marker.steps)
        metrics.completed.set(1)
    else:
        marker = train_to_output(job, params, model_path, ProgressTracker(metrics))
    image = options.push or job.output_image
    if image:
        asyncio.run(
            push_adapter_image(
                job.output_dir, image, options.push_secret, job.model.name, params.method,
                options.insecure_registries,
            )
        )  # fmt: skip
    return marker


def report_failure(message: str) -> None:
    """Log the reason, and leave it where Kubernetes shows it in the pod status (termination message)."""
    log.error("tuning failed", error=message)
    if TERMINATION_LOG.is_file():  # the kubelet mounts it; never create one outside a pod
        with contextlib.suppress(OSError):
            TERMINATION_LOG.write_text(message[:4000])
