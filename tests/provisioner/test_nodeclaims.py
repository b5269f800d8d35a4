"""What providers read from a NodeClaim (name rules, SKU, disk, OS family, labels, taints); error mapping."""

from __future__ import annotations

from decimal import Decimal

import pytest
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

from kaito.provisioner import nodeclaims
from kaito.provisioner.arm import TAG_CREATION_TIMESTAMP, TAG_MANAGED_BY, TAG_NODECLAIM
from kaito.provisioner.azure import _allows_plain_http, agent_pool_for
from kaito.provisioner.azure_errors import classify_azure_error, classify_error_code
from kaito.provisioner.cloud import InvalidNodeClaimError

from .conftest import make_nodeclaim


@pytest.mark.parametrize("name", ["ws0abc12", "a", "abcdefghijkl", "phi3mini"])
def test_valid_pool_names(name: str) -> None:
    nodeclaims.validate_pool_name(name)


@pytest.mark.parametrize("name", ["Workspace1", "1abc", "abcdefghijklm", "ab-c", "", "ws_1"])
def test_invalid_pool_names_are_permanent_errors(name: str) -> None:
    with pytest.raises(InvalidNodeClaimError) as info:
        nodeclaims.validate_pool_name(name)
    assert info.value.code == "InvalidAgentPoolName"
    assert not info.value.retryable
    assert "at most 12 characters" in info.value.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("100Gi", Decimal(100 * 2**30)),
        ("1.5G", Decimal("1.5e9")),
        ("500m", Decimal("0.5")),
        ("1e3", Decimal(1000)),
    ],
)
def test_parse_quantity(raw: str, expected: Decimal) -> None:
    assert nodeclaims.parse_quantity(raw) == expected


def test_storage_is_rounded_up_to_whole_gib() -> None:
    assert nodeclaims.storage_gib(make_nodeclaim(storage="120Gi")) == 120
    assert nodeclaims.storage_gib(make_nodeclaim(storage="100G")) == 94  # 93.13 GiB
    assert nodeclaims.storage_gib(make_nodeclaim(storage=None)) is None
    with pytest.raises(InvalidNodeClaimError, match="quantity"):
        nodeclaims.storage_gib(make_nodeclaim(storage="lots"))


def test_agent_pool_mapping() -> None:
    claim = make_nodeclaim(
        "ws1",
        sku="Standard_NC24ads_A100_v4",
        labels={
            "kaito.sh/workspace": "w",
            "kaito.sh/workspacenamespace": "default",
            "apps": "phi-3",
            "node.kubernetes.io/instance-type": "x",  # reserved domains never reach AKS
            "karpenter.sh/nodepool": "kaito",
        },
        annotations={nodeclaims.ANNOTATION_IMAGE_FAMILY: "azurelinux"},
    )
    pool = agent_pool_for(claim).properties
    assert pool.vm_size == "Standard_NC24ads_A100_v4"
    assert (pool.count, pool.mode, pool.os_type, pool.os_sku) == (1, "User", "Linux", "AzureLinux")
    assert pool.os_disk_size_gb == 120
    assert pool.node_labels == {
        "kaito.sh/workspace": "w",
        "kaito.sh/workspacenamespace": "default",
        "apps": "phi-3",
        "kaito.sh/machine-type": "gpu",
    }
    assert pool.node_taints == ["sku=gpu:NoSchedule"]
    assert pool.tags[TAG_NODECLAIM] == "ws1"
    assert pool.tags[TAG_MANAGED_BY] == "kaito"
    assert pool.tags[TAG_CREATION_TIMESTAMP].endswith("Z")
    assert all("/" not in key for key in pool.tags)  # Azure rejects '/' in tag names


def test_missing_instance_type_and_bad_image_family() -> None:
    claim = make_nodeclaim()
    claim.spec.requirements.clear()
    with pytest.raises(InvalidNodeClaimError, match="instance-type"):
        nodeclaims.instance_type(claim)
    with pytest.raises(InvalidNodeClaimError, match="AzureLinux"):
        nodeclaims.image_family(make_nodeclaim(annotations={nodeclaims.ANNOTATION_IMAGE_FAMILY: "windows"}))


def test_plain_http_only_to_loopback() -> None:
    assert _allows_plain_http("http://127.0.0.1:8080")
    assert _allows_plain_http("http://localhost:1")
    assert not _allows_plain_http("http://management.example.com")
    assert not _allows_plain_http("https://management.azure.com")
    assert not _allows_plain_http(None)


def test_error_codes_keep_azure_code_and_say_what_to_do() -> None:
    quota = classify_error_code(
        "QuotaExceeded", "exceeds cores quota.", vm_size="Standard_NC6s_v3", location="eastus"
    )
    assert quota.code == "QuotaExceeded"
    assert quota.retryable
    assert "quota increase" in quota.message
    assert "Standard_NC6s_v3" in quota.message
    assert "eastus" in quota.message
    sku = classify_error_code("SkuNotAvailable", "no capacity", vm_size="Standard_ND96isr_H100_v5")
    assert "choose another instanceType" in sku.message
    invalid = classify_error_code("InvalidParameter", "bad")
    assert not invalid.retryable
    auth = classify_azure_error(ClientAuthenticationError("no token from workload identity"))
    assert auth.code == "AuthenticationFailed"
    assert "workload identity" in auth.message
    network = classify_azure_error(ServiceRequestError("connection refused"))
    assert network.code == "ServiceUnavailable"
    assert network.retryable
