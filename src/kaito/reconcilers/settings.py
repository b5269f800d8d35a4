"""Configuration of the workspace reconciler (images, storage, node class), from KAITO_* variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_INFERENCE_IMAGE = "ghcr.io/kaito-py/kaito-serve:0.1.0"
DEFAULT_TUNING_IMAGE = "ghcr.io/kaito-py/kaito-tune:0.1.0"


class WorkspaceSettings(BaseSettings):
    """What the workspace reconciler needs beyond the Workspace itself.

    | setting | environment | default |
    |---|---|---|
    | inference_image | `KAITO_INFERENCE_IMAGE` | `ghcr.io/kaito-py/kaito-serve:0.1.0` |
    | tuning_image | `KAITO_TUNING_IMAGE` | `ghcr.io/kaito-py/kaito-tune:0.1.0` |
    | image_pull_secrets | `KAITO_IMAGE_PULL_SECRETS` | `[]` (JSON list) |
    | node_class_group/kind/name | `KAITO_NODE_CLASS_*` | `karpenter.azure.com` / `AKSNodeClass` / `default` |
    | template_disk_gib | `KAITO_TEMPLATE_DISK_GIB` | 100 (node disk for custom pod templates) |
    | config_recheck_s | `KAITO_CONFIG_RECHECK_S` | 60 (missing/invalid inference.config) |
    | workspace_workers | `KAITO_WORKSPACE_WORKERS` | 16 (concurrent reconciles; mostly API waits) |
    | weights_storage_class | `KAITO_WEIGHTS_STORAGE_CLASS` | unset (see below) |
    | weights_progress_poll_s | `KAITO_WEIGHTS_PROGRESS_POLL_S` | 5 (re-read a downloading pod's progress) |
    | weights_log_timeout_s | `KAITO_WEIGHTS_LOG_TIMEOUT_S` | 2 (one progress log read, at most) |

    Weights volume: unset, an emptyDir (every new inference pod fetches the weights again); set, a PVC per
    inference pod of this storage class, sized to the plan's disk, which keeps the weights across restarts.
    """

    model_config = SettingsConfigDict(env_prefix="KAITO_", extra="ignore", populate_by_name=True)

    inference_image: str = DEFAULT_INFERENCE_IMAGE
    tuning_image: str = DEFAULT_TUNING_IMAGE
    image_pull_secrets: list[str] = Field(default_factory=list)
    node_class_group: str = "karpenter.azure.com"
    node_class_kind: str = "AKSNodeClass"
    node_class_name: str = "default"
    template_disk_gib: int = Field(default=100, ge=1)
    weights_storage_class: str | None = Field(default=None, min_length=1)
    workspace_workers: int = Field(default=16, ge=1, le=256)
    # How often a Workspace whose inference.config ConfigMap is missing or invalid looks at it again.
    config_recheck_s: float = Field(default=60.0, gt=0)
    # Seconds of startup budget per GiB of weights (loading from the cache volume), on top of a fixed base.
    startup_base_s: int = Field(default=600, ge=30)
    startup_s_per_weight_gib: int = Field(default=30, ge=0)
    # While a weights init container downloads: how often its log is read into InferenceReady, and how long
    # one read may take (a slow or failing read leaves the generic message).
    weights_progress_poll_s: float = Field(default=5.0, gt=0)
    weights_log_timeout_s: float = Field(default=2.0, gt=0)
