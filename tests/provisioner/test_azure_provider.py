"""The Azure provider through the real async SDK against the loopback ARM emulator."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from kaito.provisioner.azure import AzureProvider
from kaito.provisioner.cloud import CloudError, InstanceState, InvalidNodeClaimError

from .arm_emulator import ArmEmulator, InjectedFailure, LroStyle
from .conftest import make_nodeclaim, provider_for
from .fakes import StaticTokenCredential
from .waiting import wait_until


async def test_create_puts_one_agent_pool_shaped_from_the_nodeclaim(
    arm: ArmEmulator, azure: AzureProvider
) -> None:
    instance = await azure.create(make_nodeclaim("ws1"))
    assert instance.state is InstanceState.SUCCEEDED
    assert (instance.name, instance.instance_type, instance.nodeclaim) == ("ws1", "Standard_NC6s_v3", "ws1")
    assert instance.created_at is not None
    assert arm.put_count == {"ws1": 1}
    props = arm.pools["ws1"]["properties"]
    assert props["vmSize"] == "Standard_NC6s_v3"
    assert (props["count"], props["mode"], props["osType"], props["osSKU"], props["osDiskSizeGB"]) == (
        1,
        "User",
        "Linux",
        "Ubuntu",
        120,
    )
    assert props["nodeLabels"]["kaito.sh/machine-type"] == "gpu"
    assert props["nodeLabels"]["apps"] == "phi-3"
    assert props["nodeTaints"] == ["sku=gpu:NoSchedule"]
    assert props["tags"]["kaito.sh_managed-by"] == "kaito"
    assert arm.api_versions_seen == {"2026-08-01"}


async def test_create_of_an_existing_pool_adopts_it_without_a_put(
    arm: ArmEmulator, azure: AzureProvider
) -> None:
    await azure.create(make_nodeclaim("ws1"))
    again = await azure.create(make_nodeclaim("ws1"))
    assert again.state is InstanceState.SUCCEEDED
    assert arm.put_count["ws1"] == 1


async def test_restart_mid_create_adopts_the_pool_instead_of_creating_another(arm: ArmEmulator) -> None:
    arm.create_delay_s = 0.6
    first = provider_for(arm)
    launch = asyncio.create_task(first.create(make_nodeclaim("ws1")))
    await wait_until(lambda: arm.put_count["ws1"] == 1)
    launch.cancel()  # the operator dies while ARM is still creating the pool
    with pytest.raises(asyncio.CancelledError):
        await launch
    await first.close()
    assert arm.pools["ws1"]["properties"]["provisioningState"] == "Creating"

    second = provider_for(arm)
    try:
        instance = await second.create(make_nodeclaim("ws1"))
    finally:
        await second.close()
    assert instance.state is InstanceState.SUCCEEDED
    assert arm.put_count["ws1"] == 1, "the restarted provider must adopt, never PUT again"


@pytest.mark.parametrize("name", ["Workspace1", "abcdefghijklm", "ws-1"])
async def test_invalid_names_fail_before_any_request(
    arm: ArmEmulator, azure: AzureProvider, name: str
) -> None:
    with pytest.raises(InvalidNodeClaimError) as info:
        await azure.create(make_nodeclaim(name))
    assert not info.value.retryable
    assert arm.requests == []


@pytest.mark.parametrize("style", ["async-operation", "location", "body"])
async def test_async_quota_failure_carries_the_azure_code_and_a_retry_succeeds(
    arm: ArmEmulator, style: LroStyle
) -> None:
    arm.lro_style = style
    arm.inject(
        InjectedFailure(
            "QuotaExceeded",
            "Operation could not be completed as it results in exceeding approved standardNCSv3Family "
            "Cores quota.",
            asynchronous=True,
        )
    )
    provider = provider_for(arm)
    try:
        with pytest.raises(CloudError) as info:
            await provider.create(make_nodeclaim("ws1"))
        assert info.value.code == "QuotaExceeded"
        assert info.value.retryable
        assert "standardNCSv3Family" in info.value.message
        assert "quota increase" in info.value.message
        failed = await provider.get("ws1")
        assert failed is not None
        assert failed.state is InstanceState.FAILED
        assert failed.error is not None
        assert failed.error.code == "QuotaExceeded"
        # Quota granted: the next attempt re-PUTs the failed pool and succeeds.
        instance = await provider.create(make_nodeclaim("ws1"))
        assert instance.state is InstanceState.SUCCEEDED
        assert arm.put_count["ws1"] == 2
        await provider.delete("ws1")
        assert "ws1" not in arm.pools
    finally:
        await provider.close()


async def test_synchronous_errors_keep_their_code(arm: ArmEmulator, azure: AzureProvider) -> None:
    arm.inject(InjectedFailure("OperationNotAllowed", "Insufficient regional vcpu quota left.", status=409))
    with pytest.raises(CloudError) as info:
        await azure.create(make_nodeclaim("ws1"))
    assert info.value.code == "OperationNotAllowed"
    assert "quota" in info.value.message
    arm.inject(
        InjectedFailure(
            "SkuNotAvailable", "Standard_NC6s_v3 is not available in eastus.", vm_size="Standard_NC6s_v3"
        )
    )
    with pytest.raises(CloudError) as info:
        await azure.create(make_nodeclaim("ws1"))
    assert info.value.code == "SkuNotAvailable"
    assert "choose another instanceType" in info.value.message
    assert "ws1" not in arm.pools


async def test_bad_token_is_an_authentication_error(arm: ArmEmulator) -> None:
    provider = provider_for(arm, credential=StaticTokenCredential("expired"))
    try:
        with pytest.raises(CloudError) as info:
            await provider.create(make_nodeclaim("ws1"))
    finally:
        await provider.close()
    assert info.value.code == "InvalidAuthenticationToken"
    assert "workload identity" in info.value.message


async def test_wrong_cluster_says_to_check_the_settings(arm: ArmEmulator) -> None:
    provider = provider_for(arm, cluster_name="other-aks")
    try:
        with pytest.raises(CloudError) as info:
            await provider.create(make_nodeclaim("ws1"))
    finally:
        await provider.close()
    assert info.value.code == "ResourceNotFound"
    assert "Azure settings" in info.value.message


async def test_delete_waits_until_the_pool_is_gone_and_is_idempotent(
    arm: ArmEmulator, azure: AzureProvider
) -> None:
    await azure.create(make_nodeclaim("ws1"))
    arm.delete_delay_s = 0.2
    await azure.delete("ws1")
    assert "ws1" not in arm.pools
    assert await azure.get("ws1") is None
    await azure.delete("ws1")  # already gone: no error, no DELETE sent
    assert arm.delete_count["ws1"] == 1


async def test_restart_mid_delete_waits_for_the_deletion_in_progress(arm: ArmEmulator) -> None:
    first = provider_for(arm)
    await first.create(make_nodeclaim("ws1"))
    arm.delete_delay_s = 0.6
    deleting = asyncio.create_task(first.delete("ws1"))
    await wait_until(lambda: arm.delete_count["ws1"] == 1)
    deleting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await deleting
    await first.close()
    second = provider_for(arm)
    try:
        await second.delete("ws1")
    finally:
        await second.close()
    assert "ws1" not in arm.pools
    assert arm.delete_count["ws1"] == 1


async def test_delete_during_create_cancels_the_create(arm: ArmEmulator, azure: AzureProvider) -> None:
    arm.create_delay_s = 0.5
    launch = asyncio.create_task(azure.create(make_nodeclaim("ws1")))
    await wait_until(lambda: "ws1" in arm.pools)
    await azure.delete("ws1")
    with pytest.raises(CloudError):
        await launch
    assert "ws1" not in arm.pools


async def test_list_returns_only_kaito_pools_across_pages(arm: ArmEmulator, azure: AzureProvider) -> None:
    arm.page_size = 2
    for name in ("ws1", "ws2", "ws3"):
        await azure.create(make_nodeclaim(name))
    arm.seed_pool("nodepool1", tags={})
    arm.seed_pool("userpool", tags={"team": "ml"})
    listed = await azure.list()
    assert sorted(i.name for i in listed) == ["ws1", "ws2", "ws3"]
    assert all(i.nodeclaim == i.name for i in listed)


async def test_foreign_pools_are_never_adopted_or_deleted(arm: ArmEmulator, azure: AzureProvider) -> None:
    arm.seed_pool("nodepool1", tags={"team": "ml"})
    with pytest.raises(CloudError) as info:
        await azure.create(make_nodeclaim("nodepool1"))
    assert info.value.code == "AgentPoolNotOwned"
    assert not info.value.retryable
    with pytest.raises(CloudError):
        await azure.delete("nodepool1")
    assert arm.put_count["nodepool1"] == 0
    assert arm.delete_count["nodepool1"] == 0
    assert "nodepool1" in arm.pools


async def test_the_emulator_rejects_what_aks_rejects(arm: ArmEmulator) -> None:
    """The mapping tests mean something only if the emulator refuses bodies AKS would refuse."""
    url = (
        f"{arm.base_url}/subscriptions/{arm.subscription_id}/resourceGroups/{arm.resource_group}"
        f"/providers/Microsoft.ContainerService/managedClusters/{arm.cluster_name}/agentPools/ws1"
    )
    good = {"properties": {"vmSize": "Standard_NC6s_v3", "count": 1, "mode": "User", "osType": "Linux"}}
    auth = {"Authorization": "Bearer emulator-token"}
    cases = [
        (
            {"api-version": "2026-08-01"},
            auth,
            {"properties": {**good["properties"], "tags": {"kaito.sh/x": "y"}}},
            400,
            "InvalidTagNameCharacters",
        ),
        (
            {"api-version": "2026-08-01"},
            auth,
            {"properties": {**good["properties"], "nodeTaints": ["sku=gpu"]}},
            400,
            "InvalidParameter",
        ),
        (
            {"api-version": "2026-08-01"},
            auth,
            {"properties": {**good["properties"], "mode": "Spot"}},
            400,
            "InvalidParameter",
        ),
        ({"api-version": "2019-01-01"}, auth, good, 400, "InvalidApiVersionParameter"),
        ({}, auth, good, 400, "MissingApiVersionParameter"),
        ({"api-version": "2026-08-01"}, {}, good, 401, "AuthenticationFailed"),
    ]
    async with aiohttp.ClientSession() as session:
        for query, headers, body, status, code in cases:
            async with session.put(url, params=query, headers=headers, json=body) as response:
                assert response.status == status, (code, await response.text())
                assert (await response.json())["error"]["code"] == code
    assert "ws1" not in arm.pools
