"""Typed views (pydantic) of the parts of Kubernetes objects the built-ins read; unknown fields are kept."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class KubeModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class OwnerReference(KubeModel):
    api_version: str = ""
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(KubeModel):
    name: str = ""
    generate_name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_references: list[OwnerReference] = Field(default_factory=list)
    finalizers: list[str] = Field(default_factory=list)
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None

    def controller_ref(self) -> OwnerReference | None:
        return next((ref for ref in self.owner_references if ref.controller), None)


class LabelSelectorRequirement(KubeModel):
    key: str
    operator: str
    values: list[str] = Field(default_factory=list)


class LabelSelector(KubeModel):
    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)


class NodeSelectorTerm(KubeModel):
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)
    match_fields: list[LabelSelectorRequirement] = Field(default_factory=list)


class NodeSelector(KubeModel):
    node_selector_terms: list[NodeSelectorTerm] = Field(default_factory=list)


class NodeAffinity(KubeModel):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None


class Affinity(KubeModel):
    node_affinity: NodeAffinity | None = None


class Toleration(KubeModel):
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""


class KeyRef(KubeModel):
    name: str = ""
    key: str = ""
    optional: bool | None = None


class FieldRef(KubeModel):
    field_path: str = ""


class EnvVarSource(KubeModel):
    config_map_key_ref: KeyRef | None = None
    secret_key_ref: KeyRef | None = None
    field_ref: FieldRef | None = None


class EnvVar(KubeModel):
    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None


class EnvFromSource(KubeModel):
    prefix: str = ""
    config_map_ref: KeyRef | None = None
    secret_ref: KeyRef | None = None


class ContainerPort(KubeModel):
    container_port: int
    name: str = ""
    protocol: str = "TCP"


class ResourceRequirements(KubeModel):
    requests: dict[str, str | int | float] = Field(default_factory=dict)
    limits: dict[str, str | int | float] = Field(default_factory=dict)


class HTTPGetAction(KubeModel):
    path: str = "/"
    port: int | str = 0
    scheme: str = "HTTP"


class TCPSocketAction(KubeModel):
    port: int | str = 0


class ExecAction(KubeModel):
    command: list[str] = Field(default_factory=list)


class Probe(KubeModel):
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    exec_: ExecAction | None = Field(default=None, alias="exec")
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3


class VolumeMount(KubeModel):
    name: str
    mount_path: str
    sub_path: str = ""
    read_only: bool | None = None


class Container(KubeModel):
    name: str
    image: str = ""
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    working_dir: str = ""
    env: list[EnvVar] = Field(default_factory=list)
    env_from: list[EnvFromSource] = Field(default_factory=list)
    ports: list[ContainerPort] = Field(default_factory=list)
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    readiness_probe: Probe | None = None
    liveness_probe: Probe | None = None
    startup_probe: Probe | None = None
    volume_mounts: list[VolumeMount] = Field(default_factory=list)
    termination_message_path: str = "/dev/termination-log"
    termination_message_policy: str = "File"


class KeyToPath(KubeModel):
    key: str
    path: str


class ConfigMapVolume(KubeModel):
    name: str = ""
    items: list[KeyToPath] = Field(default_factory=list)
    optional: bool | None = None


class SecretVolume(KubeModel):
    secret_name: str = ""
    items: list[KeyToPath] = Field(default_factory=list)
    optional: bool | None = None


class HostPathVolume(KubeModel):
    path: str


class ClaimVolume(KubeModel):
    claim_name: str


class Volume(KubeModel):
    name: str
    config_map: ConfigMapVolume | None = None
    secret: SecretVolume | None = None
    empty_dir: dict[str, Any] | None = None
    host_path: HostPathVolume | None = None
    persistent_volume_claim: ClaimVolume | None = None


class PodSpec(KubeModel):
    containers: list[Container] = Field(default_factory=list)
    init_containers: list[Container] = Field(default_factory=list)
    volumes: list[Volume] = Field(default_factory=list)
    node_name: str = ""
    node_selector: dict[str, str] = Field(default_factory=dict)
    affinity: Affinity | None = None
    tolerations: list[Toleration] = Field(default_factory=list)
    restart_policy: str = "Always"
    termination_grace_period_seconds: int = 30
    active_deadline_seconds: int | None = None
    hostname: str = ""
    subdomain: str = ""
    scheduler_name: str = "default-scheduler"


class PodCondition(KubeModel):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = None


class PodStatus(KubeModel):
    phase: str = "Pending"
    conditions: list[PodCondition] = Field(default_factory=list)
    pod_ip: str | None = Field(default=None, alias="podIP")
    start_time: str | None = None
    container_statuses: list[dict[str, Any]] = Field(default_factory=list)

    def condition(self, kind: str) -> PodCondition | None:
        return next((c for c in self.conditions if c.type == kind), None)


class Pod(KubeModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodSpec = Field(default_factory=PodSpec)
    status: PodStatus = Field(default_factory=PodStatus)

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace}/{self.metadata.name}"

    def is_ready(self) -> bool:
        ready = self.status.condition("Ready")
        return ready is not None and ready.status == "True"

    def is_terminal(self) -> bool:
        return self.status.phase in ("Succeeded", "Failed")

    def is_active(self) -> bool:
        return not self.is_terminal() and self.metadata.deletion_timestamp is None


class Taint(KubeModel):
    key: str
    value: str = ""
    effect: str = "NoSchedule"


class NodeSpecFields(KubeModel):
    unschedulable: bool = False
    taints: list[Taint] = Field(default_factory=list)
    provider_id: str = Field(default="", validation_alias=AliasChoices("providerID", "provider_id"))


class NodeCondition(KubeModel):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    last_heartbeat_time: str | None = None
    last_transition_time: str | None = None


class NodeStatus(KubeModel):
    capacity: dict[str, str | int] = Field(default_factory=dict)
    allocatable: dict[str, str | int] = Field(default_factory=dict)
    conditions: list[NodeCondition] = Field(default_factory=list)


class Node(KubeModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: NodeSpecFields = Field(default_factory=NodeSpecFields)
    status: NodeStatus = Field(default_factory=NodeStatus)

    def is_ready(self) -> bool:
        return any(c.type == "Ready" and c.status == "True" for c in self.status.conditions)


def parse_pod(data: dict[str, Any]) -> Pod:
    return Pod.model_validate(data)


def parse_node(data: dict[str, Any]) -> Node:
    return Node.model_validate(data)
