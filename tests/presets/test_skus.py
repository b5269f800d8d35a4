"""The GPU SKU catalog and GpuFacts read from node labels."""

from __future__ import annotations

import pytest

from kaito.presets import GpuFacts, GpuSku, InvalidNodeLabelsError, UnknownSkuError, get_sku, list_skus

# (name, GPU count, marketed GB per GPU, bf16) from the brief.
BRIEF_SKUS = [
    ("Standard_NC6s_v3", 1, 16, False),
    ("Standard_NC12s_v3", 2, 16, False),
    ("Standard_NC24s_v3", 4, 16, False),
    ("Standard_NC4as_T4_v3", 1, 16, False),
    ("Standard_NC64as_T4_v3", 4, 16, False),
    ("Standard_NV36ads_A10_v5", 1, 24, True),
    ("Standard_NV72ads_A10_v5", 2, 24, True),
    ("Standard_NC24ads_A100_v4", 1, 80, True),
    ("Standard_NC48ads_A100_v4", 2, 80, True),
    ("Standard_NC96ads_A100_v4", 4, 80, True),
    ("Standard_ND96asr_A100_v4", 8, 40, True),
    ("Standard_ND96amsr_A100_v4", 8, 80, True),
    ("Standard_NC40ads_H100_v5", 1, 94, True),
    ("Standard_NC80adis_H100_v5", 2, 94, True),
    ("Standard_ND96isr_H100_v5", 8, 80, True),
    ("Standard_ND96isr_H200_v5", 8, 141, True),
    ("g5.xlarge", 1, 24, True),
    ("g5.16xlarge", 1, 24, True),
    ("g5.12xlarge", 4, 24, True),
    ("g5.48xlarge", 8, 24, True),
    ("g6.xlarge", 1, 24, True),
    ("g6.12xlarge", 4, 24, True),
    ("g6.48xlarge", 8, 24, True),
    ("p4d.24xlarge", 8, 40, True),
    ("p4de.24xlarge", 8, 80, True),
    ("p5.48xlarge", 8, 80, True),
    ("p5e.48xlarge", 8, 141, True),
    ("p5en.48xlarge", 8, 141, True),
    ("p3.2xlarge", 1, 16, False),
    ("g4dn.xlarge", 1, 16, False),
]


@pytest.mark.parametrize(("name", "count", "gb", "bf16"), BRIEF_SKUS)
def test_brief_skus_are_catalogued(name: str, count: int, gb: int, bf16: bool) -> None:
    sku = get_sku(name)
    assert sku.gpu_count == count
    assert sku.gpu.memory_gb == gb
    assert sku.bf16 is bf16
    # The driver-reported size is what sizing uses; it is close to (never above 1.05×) the marketed GiB.
    assert 0.9 * gb * 1024 < sku.gpu.memory_mib < 1.05 * gb * 1024


def test_lookup_is_case_insensitive_and_knows_aliases() -> None:
    assert get_sku("standard_nc6s_v3").name == "Standard_NC6s_v3"
    assert get_sku("Standard_ND96asr_A100_v4").name == "Standard_ND96asr_v4"
    assert get_sku("G5.XLARGE").name == "g5.xlarge"


def test_unknown_sku_suggests_close_names() -> None:
    with pytest.raises(UnknownSkuError) as caught:
        get_sku("Standard_NC6s_v2")
    assert "Standard_NC6s_v3" in caught.value.close_matches
    assert isinstance(caught.value, KeyError)


def test_list_by_cloud() -> None:
    azure, aws = list_skus("azure"), list_skus("aws")
    assert azure
    assert aws
    assert {sku.cloud for sku in azure} == {"azure"}
    assert {sku.cloud for sku in aws} == {"aws"}
    assert len(list_skus()) == len(azure) + len(aws)


def test_facts_of_a_sku() -> None:
    facts = get_sku("Standard_ND96isr_H100_v5").facts()
    assert (facts.gpu_count, facts.sku, facts.cloud, facts.bf16) == (
        8,
        "Standard_ND96isr_H100_v5",
        "azure",
        True,
    )
    assert facts.memory_bytes_per_gpu == 81559 * 2**20


def test_facts_from_full_node_labels() -> None:
    facts = GpuFacts.from_node_labels(
        {
            "nvidia.com/gpu.count": "8",
            "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
            "nvidia.com/gpu.memory": "81559",
            "nvidia.com/gpu.compute.major": "9",
            "nvidia.com/gpu.compute.minor": "0",
        }
    )
    assert (facts.gpu_count, facts.memory_mib_per_gpu, facts.compute_capability) == (8, 81559, 9.0)
    assert facts.bf16
    assert facts.sku is None
    assert facts.source == "nodes with NVIDIA-H100-80GB-HBM3"


@pytest.mark.parametrize(
    ("product", "family", "capability", "bf16"),
    [
        ("Tesla-V100-SXM2-16GB", None, 7.0, False),
        ("Tesla-T4", None, 7.5, False),
        ("NVIDIA-A10G", None, 8.6, True),
        ("NVIDIA-A100-SXM4-40GB", None, 8.0, True),
        ("NVIDIA-L4", None, 8.9, True),
        ("NVIDIA-H200", None, 9.0, True),
        ("Some-New-GPU", "hopper", 9.0, True),
        ("Some-Old-GPU", None, None, False),
    ],
)
def test_compute_capability_from_product_or_family(
    product: str, family: str | None, capability: float | None, bf16: bool
) -> None:
    labels = {
        "nvidia.com/gpu.count": "2",
        "nvidia.com/gpu.product": product,
        "nvidia.com/gpu.memory": "16160",
    }
    if family:
        labels["nvidia.com/gpu.family"] = family
    facts = GpuFacts.from_node_labels(labels)
    assert facts.compute_capability == capability
    assert facts.bf16 is bf16


@pytest.mark.parametrize(
    ("labels", "complaint"),
    [
        ({"nvidia.com/gpu.memory": "16160"}, "nvidia.com/gpu.count is missing"),
        ({"nvidia.com/gpu.count": "1"}, "nvidia.com/gpu.memory is missing"),
        ({"nvidia.com/gpu.count": "one", "nvidia.com/gpu.memory": "16160"}, "not a whole number"),
        ({"nvidia.com/gpu.count": "-1", "nvidia.com/gpu.memory": "16160"}, "negative"),
    ],
)
def test_bad_node_labels_are_named(labels: dict[str, str], complaint: str) -> None:
    with pytest.raises(InvalidNodeLabelsError, match=complaint):
        GpuFacts.from_node_labels(labels)


@pytest.mark.parametrize("sku", list_skus(), ids=lambda sku: sku.name)
def test_node_labels_of_a_sku_give_back_its_facts(sku: GpuSku) -> None:
    gpu = sku.gpu
    major, minor = str(gpu.compute_capability).split(".")
    labels = {
        "nvidia.com/gpu.count": str(sku.gpu_count),
        "nvidia.com/gpu.product": gpu.product,
        "nvidia.com/gpu.memory": str(gpu.memory_mib),
    }
    from_product = GpuFacts.from_node_labels(labels)
    from_capability = GpuFacts.from_node_labels(
        {**labels, "nvidia.com/gpu.compute.major": major, "nvidia.com/gpu.compute.minor": minor}
    )
    expected = sku.facts().model_copy(update={"sku": None, "cloud": None})
    assert from_capability == expected
    assert from_product == expected
