"""Azure cloud provider: one AKS agent pool per NodeClaim, through the async azure-mgmt-containerservice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

import structlog
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.mgmt.containerservice import models
from azure.mgmt.containerservice.aio import ContainerServiceClient

from kaito.api.nodeclaim import NodeClaim
from kaito.provisioner import nodeclaims
from kaito.provisioner.arm import (
    MANAGED_BY_KAITO,
    TAG_CREATION_TIMESTAMP,
    TAG_MANAGED_BY,
    TAG_NODECLAIM,
    AgentPool,
    AgentPoolProperties,
)
from kaito.provisioner.azure_errors import classify_azure_error, classify_error_code
from kaito.provisioner.cloud import CloudError, Instance, InstanceError, InstanceState
from kaito.provisioner.settings import ProvisionerSettings

log = structlog.get_logger(__name__)

# provisioningState values that will change on their own; anything else is settled.
_TRANSITIONAL: Final = frozenset({"Creating", "Updating", "Scaling", "Upgrading", "Deleting", "Starting"})
_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})


def agent_pool_for(nodeclaim: NodeClaim, *, now: datetime | None = None) -> AgentPool:
    """The agent pool a NodeClaim asks for; raises InvalidNodeClaimError when it cannot be one."""
    name = nodeclaim.metadata.name
    nodeclaims.validate_pool_name(name)
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return AgentPool(
        name=name,
        properties=AgentPoolProperties(
            count=1,
            vm_size=nodeclaims.instance_type(nodeclaim),
            os_disk_size_gb=nodeclaims.storage_gib(nodeclaim),
            os_type="Linux",
            os_sku=nodeclaims.image_family(nodeclaim),
            mode="User",
            node_labels=nodeclaims.node_labels(nodeclaim),
            node_taints=nodeclaims.node_taints(nodeclaim),
            tags={TAG_NODECLAIM: name, TAG_MANAGED_BY: MANAGED_BY_KAITO, TAG_CREATION_TIMESTAMP: stamp},
        ),
    )


def is_kaito_pool(pool: AgentPool) -> bool:
    return pool.properties.tags.get(TAG_MANAGED_BY) == MANAGED_BY_KAITO


def _parse_stamp(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _state(raw: str | None) -> InstanceState:
    if raw in {"Creating", "Starting"}:
        return InstanceState.CREATING
    if raw == "Deleting":
        return InstanceState.DELETING
    if raw == "Failed" or raw == "Canceled":
        return InstanceState.FAILED
    if raw in {"Updating", "Scaling", "Upgrading"}:
        return InstanceState.UPDATING
    return InstanceState.SUCCEEDED


def instance_of(pool: AgentPool) -> Instance:
    """The provider-neutral view of an agent pool."""
    props = pool.properties
    error = props.status.provisioning_error if props.status else None
    return Instance(
        name=pool.name or "",
        instance_type=props.vm_size,
        state=_state(props.provisioning_state),
        nodeclaim=props.tags.get(TAG_NODECLAIM),
        created_at=_parse_stamp(props.tags.get(TAG_CREATION_TIMESTAMP)),
        error=InstanceError(code=error.code, message=error.message) if error else None,
        labels=dict(props.node_labels),
    )


def _allows_plain_http(base_url: str | None) -> bool:
    # Bearer tokens over http are only allowed to a loopback ARM (the test emulator), never elsewhere.
    if not base_url:
        return False
    parts = urlsplit(base_url)
    return parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK_HOSTS


class AzureProvider:
    """Creates, adopts, lists and deletes kaito's AKS agent pools in one managed cluster."""

    name = "azure"

    def __init__(
        self,
        *,
        credential: AsyncTokenCredential,
        subscription_id: str,
        resource_group: str,
        cluster_name: str,
        location: str = "",
        base_url: str | None = None,
        poll_interval_s: float = 10.0,
        owns_credential: bool = False,
        **client_options: Any,
    ) -> None:
        self._credential = credential
        self._owns_credential = owns_credential
        self._resource_group = resource_group
        self._cluster = cluster_name
        self._location = location
        self._poll_interval_s = poll_interval_s
        self._client = ContainerServiceClient(
            credential,
            subscription_id,
            base_url=base_url or None,
            polling_interval=poll_interval_s,
            **client_options,
        )
        self._request_options: dict[str, Any] = (
            {"enforce_https": False} if _allows_plain_http(base_url) else {}
        )

    @classmethod
    def from_settings(cls, settings: ProvisionerSettings) -> AzureProvider:
        """The production provider: DefaultAzureCredential (workload identity in-cluster)."""
        from azure.identity.aio import DefaultAzureCredential

        return cls(
            credential=DefaultAzureCredential(),
            owns_credential=True,
            subscription_id=settings.azure_subscription_id,
            resource_group=settings.azure_resource_group,
            cluster_name=settings.azure_cluster_name,
            location=settings.azure_location,
            base_url=settings.azure_endpoint or None,
            poll_interval_s=settings.azure_poll_interval_s,
        )

    async def close(self) -> None:
        await self._client.close()
        if self._owns_credential:
            await self._credential.close()

    def _error(self, exc: AzureError, vm_size: str = "") -> CloudError:
        return classify_azure_error(exc, vm_size=vm_size, location=self._location)

    async def _get_pool(self, name: str) -> AgentPool | None:
        try:
            raw = await self._client.agent_pools.get(
                self._resource_group, self._cluster, name, **self._request_options
            )
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise self._error(exc) from exc
        return AgentPool.model_validate(raw.as_dict())

    async def get(self, name: str) -> Instance | None:
        pool = await self._get_pool(name)
        return instance_of(pool) if pool is not None else None

    async def list(self) -> list[Instance]:
        pools: list[Instance] = []
        try:
            async for raw in self._client.agent_pools.list(
                self._resource_group, self._cluster, **self._request_options
            ):
                pool = AgentPool.model_validate(raw.as_dict())
                if is_kaito_pool(pool):
                    pools.append(instance_of(pool))
        except AzureError as exc:
            raise self._error(exc) from exc
        return pools

    async def create(self, nodeclaim: NodeClaim) -> Instance:
        wanted = agent_pool_for(nodeclaim)
        name = nodeclaim.metadata.name
        vm_size = wanted.properties.vm_size
        existing = await self._get_pool(name)
        if existing is not None:
            self._check_owned(existing, name)
            state = existing.properties.provisioning_state
            if state == "Succeeded":
                return instance_of(existing)
            if state in _TRANSITIONAL:
                log.info("adopting agent pool in progress", pool=name, provisioning_state=state)
                return await self._wait_settled(name, vm_size)
            log.info("recreating failed agent pool", pool=name, provisioning_state=state)
        log.info("creating agent pool", pool=name, vm_size=vm_size)
        try:
            poller = await self._client.agent_pools.begin_create_or_update(
                self._resource_group,
                self._cluster,
                name,
                models.AgentPool(wanted.to_request()),
                **self._request_options,
            )
            result = await poller.result()
        except AzureError as exc:
            # A pool that failed asynchronously says why in its status; prefer that to the poller's summary.
            failed = await self._failed_pool(name)
            if failed is not None:
                return self._settled_instance(failed, vm_size)
            raise self._error(exc, vm_size) from exc
        # Location-style polling ends on an empty 204: read the pool itself then.
        pool = (
            AgentPool.model_validate(result.as_dict()) if result is not None else await self._get_pool(name)
        )
        if pool is None:
            raise CloudError(
                "AgentPoolVanished", f"agent pool {name!r} disappeared right after being created"
            )
        return self._settled_instance(pool, vm_size)

    async def _failed_pool(self, name: str) -> AgentPool | None:
        try:
            pool = await self._get_pool(name)
        except CloudError:
            return None
        if pool is None or pool.properties.provisioning_state != "Failed":
            return None
        return pool if pool.properties.status and pool.properties.status.provisioning_error else None

    def _check_owned(self, pool: AgentPool, name: str) -> None:
        if not is_kaito_pool(pool):
            raise CloudError(
                "AgentPoolNotOwned",
                f"agent pool {name!r} already exists in cluster {self._cluster!r} and kaito did not create "
                "it; kaito will not adopt or delete it. Rename the workspace or remove that pool",
                retryable=False,
            )

    def _settled_instance(self, pool: AgentPool, vm_size: str) -> Instance:
        instance = instance_of(pool)
        if instance.state is InstanceState.FAILED:
            error = instance.error or InstanceError(code="ProvisioningFailed", message="agent pool failed")
            raise classify_error_code(error.code, error.message, vm_size=vm_size, location=self._location)
        return instance

    async def _wait_settled(self, name: str, vm_size: str) -> Instance:
        """Poll an agent pool another process (or an earlier run of this one) is creating until it settles."""
        while True:
            pool = await self._get_pool(name)
            if pool is None:
                raise CloudError("AgentPoolVanished", f"agent pool {name!r} disappeared while being created")
            if pool.properties.provisioning_state not in _TRANSITIONAL:
                return self._settled_instance(pool, vm_size)
            await asyncio.sleep(self._poll_interval_s)

    async def delete(self, name: str) -> None:
        try:
            nodeclaims.validate_pool_name(name)
        except CloudError:
            return  # no agent pool can have this name, so none was ever created for it
        pool = await self._get_pool(name)
        if pool is None:
            return
        self._check_owned(pool, name)
        if pool.properties.provisioning_state == "Deleting":
            log.info("adopting agent pool deletion in progress", pool=name)
        else:
            log.info("deleting agent pool", pool=name)
            try:
                poller = await self._client.agent_pools.begin_delete(
                    self._resource_group, self._cluster, name, **self._request_options
                )
                await poller.result()
            except ResourceNotFoundError:
                return
            except AzureError as exc:
                raise self._error(exc) from exc
        # Wait for the pool to leave GET (the operation may also report success a moment before that).
        while True:
            if await self._get_pool(name) is None:
                return
            await asyncio.sleep(self._poll_interval_s)
