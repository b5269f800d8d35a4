"""The Workspace resource (kaito.sh v1alpha1/v1beta1): `resource`, `inference` or `tuning`, and `status`.

Only structural rules live here (types, enums, patterns, bounds, exactly-one-of); rules that need the
preset or SKU catalogs belong to the shared validation module above this room.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from kaito.api.base import KubeModel, Opaque, is_empty
from kaito.api.constants import (
    ANNOTATION_ENABLE_LB,
    ANNOTATION_RUNTIME,
    API_VERSION_V1ALPHA1,
    API_VERSION_V1BETA1,
    DEFAULT_ADAPTER_STRENGTH,
    DEFAULT_RUNTIME,
    MAX_ADAPTERS,
    RUNTIMES,
)
from kaito.api.meta import Condition, LabelSelector, ObjectMeta, find_condition

DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS1123_SUBDOMAIN_MAX = 253
# A decimal string from "0" to "1" inclusive: "0", "0.25", "1", "1.0".
STRENGTH_PATTERN = r"^(0(\.[0-9]+)?|1(\.0+)?|\.[0-9]+)$"

NonEmptyStr = Annotated[str, Field(min_length=1)]

_DNS1123_RE = re.compile(DNS1123_SUBDOMAIN)
_STRENGTH_RE = re.compile(STRENGTH_PATTERN)


def _set_fields(model: KubeModel, names: tuple[str, ...]) -> list[str]:
    """The camelCase names of those fields that are set (present and not null), as CEL's has() sees them."""
    fields = type(model).model_fields
    return [fields[n].alias or n for n in names if getattr(model, n) is not None]


def _exactly_one(model: KubeModel, names: tuple[str, ...]) -> None:
    chosen = _set_fields(model, names)
    if len(chosen) != 1:
        options = ", ".join(f"`{type(model).model_fields[n].alias or n}`" for n in names)
        found = ", ".join(f"`{c}`" for c in chosen) if chosen else "none"
        raise ValueError(f"set exactly one of {options}; found {found}")


class ResourceSpec(KubeModel):
    """The GPU nodes a Workspace runs on: how many, which machine type, and how to recognise them."""

    count: int = Field(default=1, ge=1, description="Number of GPU nodes. Immutable.")
    instance_type: str = Field(
        default="",
        exclude_if=is_empty,
        description="Cloud machine type (SKU) to provision, e.g. Standard_NC6s_v3. Empty: use existing "
        "nodes matched by labelSelector (bring your own). Immutable.",
    )
    label_selector: LabelSelector = Field(
        description="Selects the nodes this Workspace runs on; stamped on provisioned nodes. Immutable.",
    )
    preferred_nodes: list[str] = Field(
        default_factory=list,
        exclude_if=is_empty,
        description="Existing nodes, matched by labelSelector, to use before provisioning new ones.",
    )


class PresetOptions(KubeModel):
    """Per-preset knobs: where to find gated weights and how to pull private images."""

    model_access_secret: str | None = Field(
        default=None, description="Secret holding HF_TOKEN for gated model weights."
    )
    image_pull_secrets: list[str] = Field(default_factory=list, exclude_if=is_empty)


class PresetSpec(KubeModel):
    """A model from kaito's catalog, by name."""

    name: str = Field(
        min_length=1, max_length=253, description="Preset (model) name, e.g. phi-3-mini-4k-instruct."
    )
    preset_options: PresetOptions | None = None


class AdapterSource(KubeModel):
    """Where a LoRA adapter comes from: an OCI image or a volume."""

    name: str = Field(
        max_length=DNS1123_SUBDOMAIN_MAX,
        description="Adapter name (DNS-1123 subdomain); the model name clients request.",
        json_schema_extra={"pattern": DNS1123_SUBDOMAIN},
    )
    image: str | None = Field(default=None, min_length=1, description="OCI image holding the adapter.")
    image_pull_secrets: list[str] = Field(default_factory=list, exclude_if=is_empty)
    volume_source: Opaque | None = None

    @field_validator("name")
    @classmethod
    def _name_is_dns_subdomain(cls, value: str) -> str:
        if not _DNS1123_RE.match(value):
            raise ValueError(
                f"{value!r} is not a DNS-1123 subdomain: use lowercase letters, digits, '-' and '.', "
                "starting and ending with a letter or digit"
            )
        return value

    @model_validator(mode="after")
    def _one_origin(self) -> AdapterSource:
        _exactly_one(self, ("image", "volume_source"))
        return self


class AdapterSpec(KubeModel):
    """A LoRA adapter served on top of the preset model."""

    source: AdapterSource
    strength: str = Field(
        default=DEFAULT_ADAPTER_STRENGTH,
        description='Adapter weight scale, a decimal string from "0" to "1".',
        json_schema_extra={"pattern": STRENGTH_PATTERN},
    )

    @field_validator("strength")
    @classmethod
    def _strength_in_range(cls, value: str) -> str:
        if not _STRENGTH_RE.match(value):
            raise ValueError(f'must be a decimal string from "0" to "1" (e.g. "0.5"), got {value!r}')
        return value

    @property
    def name(self) -> str:
        return self.source.name


class InferenceSpec(KubeModel):
    """Serve a model: a preset (optionally with adapters) or a custom pod template."""

    preset: PresetSpec | None = None
    template: Opaque | None = Field(
        default=None, description="Custom PodTemplateSpec used instead of a preset."
    )
    config: str | None = Field(default=None, description="ConfigMap holding runtime parameters.")
    adapters: list[AdapterSpec] = Field(
        default_factory=list,
        max_length=MAX_ADAPTERS,
        exclude_if=is_empty,
        description="LoRA adapters to serve.",
    )

    @field_validator("adapters")
    @classmethod
    def _adapter_names_unique(cls, adapters: list[AdapterSpec]) -> list[AdapterSpec]:
        seen: set[str] = set()
        for adapter in adapters:
            if adapter.name in seen:
                raise ValueError(
                    f"adapter name {adapter.name!r} is used more than once; names must be unique"
                )
            seen.add(adapter.name)
        return adapters

    @model_validator(mode="after")
    def _preset_or_template(self) -> InferenceSpec:
        _exactly_one(self, ("preset", "template"))
        return self


class TuningMethod(StrEnum):
    """Parameter-efficient fine-tuning methods."""

    LORA = "lora"
    QLORA = "qlora"


class TuningInput(KubeModel):
    """The training data: URLs, an OCI image, or a volume (exactly one)."""

    name: str | None = None
    urls: list[NonEmptyStr] | None = Field(default=None, min_length=1, max_length=1000)
    image: str | None = Field(default=None, min_length=1)
    image_pull_secrets: list[str] = Field(default_factory=list, exclude_if=is_empty)
    volume_source: Opaque | None = None

    @model_validator(mode="after")
    def _one_source(self) -> TuningInput:
        _exactly_one(self, ("urls", "image", "volume_source"))
        return self


class TuningOutput(KubeModel):
    """Where the trained adapter goes: an OCI image (pushed with a secret) or a volume (exactly one)."""

    image: str | None = Field(default=None, min_length=1, description="OCI image to push the adapter to.")
    image_push_secret: str | None = Field(default=None, min_length=1)
    volume_source: Opaque | None = None

    @model_validator(mode="after")
    def _one_destination(self) -> TuningOutput:
        _exactly_one(self, ("image", "volume_source"))
        if self.image is not None and self.image_push_secret is None:
            raise ValueError("`imagePushSecret` is required with `image`: the Secret used to push the result")
        if self.image_push_secret is not None and self.image is None:
            raise ValueError("`imagePushSecret` only applies to `image` output")
        return self


class TuningSpec(KubeModel):
    """Fine-tune a preset model on given data and publish the adapter."""

    preset: PresetSpec
    method: TuningMethod = Field(
        default=TuningMethod.LORA, strict=False, description="lora or qlora. Immutable."
    )
    config: str | None = Field(default=None, description="ConfigMap holding training parameters.")
    input: TuningInput
    output: TuningOutput


class ScaleSpec(KubeModel):
    """The scale subresource's target. Kubernetes requires it under `.spec`, so this is the Workspace's
    only `spec` field; everything else stays top-level."""

    replicas: int | None = Field(
        default=None,
        ge=1,
        description="Serving replicas an autoscaler (HPA/KEDA) asks for through the scale subresource; "
        "inference only. Unset: one replica over resource.count nodes.",
    )


class AdapterState(StrEnum):
    """Where one adapter stands in the serving engine."""

    PENDING = "Pending"
    LOADED = "Loaded"
    FAILED = "Failed"


class AdapterStatus(KubeModel):
    """Observed state of one adapter."""

    name: str
    state: AdapterState = Field(strict=False)
    reason: str = Field(default="", exclude_if=is_empty)
    message: str = Field(default="", exclude_if=is_empty)


class WorkspaceStatus(KubeModel):
    """What the operator observed about a Workspace."""

    conditions: list[Condition] = Field(default_factory=list, exclude_if=is_empty)
    worker_nodes: list[str] = Field(default_factory=list, exclude_if=is_empty)
    target_node_count: int | None = Field(default=None, ge=0)
    state: str | None = None
    adapters: list[AdapterStatus] = Field(default_factory=list, exclude_if=is_empty)
    replicas: int | None = Field(
        default=None, ge=0, description="Ready serving replicas (scale subresource)."
    )
    selector: str | None = Field(default=None, description="Label selector of the serving pods, as a string.")

    def condition(self, condition_type: str) -> Condition | None:
        return find_condition(self.conditions, condition_type)


class Workspace(KubeModel):
    """A kaito Workspace: `resource`, `inference` or `tuning`, and `status` are top-level; `spec` holds
    only the scale target (`spec.replicas`)."""

    api_version: Literal["kaito.sh/v1alpha1", "kaito.sh/v1beta1"] = "kaito.sh/v1beta1"
    kind: Literal["Workspace"] = "Workspace"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    resource: ResourceSpec
    inference: InferenceSpec | None = None
    tuning: TuningSpec | None = None
    spec: ScaleSpec | None = Field(default=None, description="Only the scale target: spec.replicas.")
    status: WorkspaceStatus | None = None

    @field_validator("metadata")
    @classmethod
    def _known_runtime(cls, metadata: ObjectMeta) -> ObjectMeta:
        runtime = metadata.annotations.get(ANNOTATION_RUNTIME)
        if runtime is not None and runtime not in RUNTIMES:
            choices = " or ".join(f"`{r}`" for r in RUNTIMES)
            raise ValueError(f"annotation `{ANNOTATION_RUNTIME}` must be {choices}, got {runtime!r}")
        return metadata

    @model_validator(mode="after")
    def _inference_or_tuning(self) -> Workspace:
        _exactly_one(self, ("inference", "tuning"))
        if self.tuning is not None and self.spec is not None and self.spec.replicas is not None:
            raise ValueError("`spec.replicas` (the scale target) applies to inference Workspaces only")
        return self

    @property
    def desired_replicas(self) -> int | None:
        """The autoscaler's target from the scale subresource, if one was set."""
        return self.spec.replicas if self.spec is not None else None

    @property
    def runtime(self) -> str:
        """The inference engine from the `kaito.sh/runtime` annotation: vllm (default) or transformers."""
        return self.metadata.annotations.get(ANNOTATION_RUNTIME, DEFAULT_RUNTIME)

    @property
    def load_balancer_enabled(self) -> bool:
        """Whether `kaito.sh/enablelb` asks for a LoadBalancer Service."""
        return self.metadata.annotations.get(ANNOTATION_ENABLE_LB, "").strip().lower() == "true"

    @property
    def is_inference(self) -> bool:
        return self.inference is not None

    @property
    def is_tuning(self) -> bool:
        return self.tuning is not None

    @property
    def preset_name(self) -> str | None:
        """The preset this Workspace serves or tunes, if it uses one."""
        spec = self.inference or self.tuning
        preset = spec.preset if spec is not None else None
        return preset.name if preset is not None else None

    def with_api_version(self, api_version: str) -> Workspace:
        """The same object as another served version (v1alpha1 and v1beta1 share one schema)."""
        if api_version not in (API_VERSION_V1ALPHA1, API_VERSION_V1BETA1):
            raise ValueError(f"unknown Workspace apiVersion {api_version!r}")
        return self.model_copy(update={"api_version": api_version})
