"""The ARM shapes kaito exchanges with AKS: an agent pool (Microsoft.ContainerService) and ARM errors."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# Azure tag names may not contain '/', so kaito's ownership tags use '_' after the domain.
TAG_NODECLAIM: Final = "kaito.sh_nodeclaim"
TAG_MANAGED_BY: Final = "kaito.sh_managed-by"
TAG_CREATION_TIMESTAMP: Final = "kaito.sh_creation-timestamp"
MANAGED_BY_KAITO: Final = "kaito"


class ArmModel(BaseModel):
    """An ARM JSON shape: camelCase on the wire; fields kaito does not use are ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_arm(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ArmErrorDetail(ArmModel):
    """`{"code": ..., "message": ...}` as ARM reports failures."""

    code: str = ""
    message: str = ""
    target: str | None = None


class ArmErrorResponse(ArmModel):
    """The body of a failed ARM request: `{"error": {...}}`."""

    error: ArmErrorDetail


class AgentPoolStatus(ArmModel):
    """Read-only status of an agent pool; carries the error of a failed provisioning."""

    provisioning_error: ArmErrorDetail | None = None


class AgentPoolProperties(ArmModel):
    """The agent pool fields kaito sets (and `provisioningState`, which ARM sets)."""

    count: int = 1
    vm_size: str
    os_disk_size_gb: int | None = Field(default=None, alias="osDiskSizeGB")
    os_type: str = "Linux"
    os_sku: str | None = Field(default=None, alias="osSKU")
    mode: str = "User"
    type: str = "VirtualMachineScaleSets"
    node_labels: dict[str, str] = Field(default_factory=dict)
    node_taints: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    provisioning_state: str | None = None
    status: AgentPoolStatus | None = None


class AgentPool(ArmModel):
    """An AKS agent pool resource (`.../managedClusters/{cluster}/agentPools/{name}`)."""

    id: str | None = None
    name: str | None = None
    type: str | None = None
    properties: AgentPoolProperties

    def to_request(self) -> dict[str, Any]:
        """The PUT body: only what a client may set (no id, no read-only state)."""
        properties = self.properties.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude={"provisioning_state", "status"}
        )
        return {"properties": properties}


class AsyncOperation(ArmModel):
    """The body of an `Azure-AsyncOperation` status URL."""

    id: str | None = None
    name: str | None = None
    status: str
    start_time: str | None = None
    end_time: str | None = None
    error: ArmErrorDetail | None = None
