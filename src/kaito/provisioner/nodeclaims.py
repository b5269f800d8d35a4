"""What a provider reads from a kaito NodeClaim: pool name rules, instance type, disk size, labels, taints."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Final

from kaito.api.constants import LABEL_INSTANCE_TYPE, LABEL_WORKSPACE
from kaito.api.nodeclaim import NodeClaim, RequirementOperator, Taint
from kaito.provisioner.cloud import InvalidNodeClaimError

LABEL_MACHINE_TYPE: Final = "kaito.sh/machine-type"
MACHINE_TYPE_GPU: Final = "gpu"
# Nodes of an AKS agent pool carry both; kaito looks a NodeClaim's Node up by either.
LABEL_AGENTPOOL: Final = "agentpool"
LABEL_AKS_AGENTPOOL: Final = "kubernetes.azure.com/agentpool"
# Optional NodeClaim annotation choosing the node OS image family (AKS `osSKU`).
ANNOTATION_IMAGE_FAMILY: Final = "kaito.sh/node-image-family"
IMAGE_FAMILIES: Final = {"ubuntu": "Ubuntu", "azurelinux": "AzureLinux"}
DEFAULT_IMAGE_FAMILY: Final = "Ubuntu"
# Label domains the node's kubelet may not set (node restriction) or that AKS reserves for itself.
_RESERVED_LABEL_DOMAINS: Final = ("kubernetes.io", "k8s.io", "kubernetes.azure.com", "karpenter.sh")

_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_SUFFIX_FACTORS: Final = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def is_kaito_nodeclaim(nodeclaim: NodeClaim) -> bool:
    """Whether kaito owns the NodeClaim: it carries the workspace label (other NodeClaims are Karpenter's)."""
    return LABEL_WORKSPACE in nodeclaim.metadata.labels


def validate_pool_name(name: str) -> None:
    """AKS agent pool names: lowercase letters and digits, starting with a letter, at most 12 characters."""
    if not _POOL_NAME.match(name):
        raise InvalidNodeClaimError(
            "InvalidAgentPoolName",
            f"NodeClaim name {name!r} cannot be an AKS agent pool name: it must start with a lowercase "
            "letter, hold only lowercase letters and digits, and be at most 12 characters long; "
            "recreate the NodeClaim with such a name",
        )


def instance_type(nodeclaim: NodeClaim) -> str:
    """The SKU asked for by the `node.kubernetes.io/instance-type In [sku]` requirement."""
    for requirement in nodeclaim.spec.requirements:
        if (
            requirement.key == LABEL_INSTANCE_TYPE
            and requirement.operator is RequirementOperator.IN
            and requirement.values
        ):
            return requirement.values[0]
    raise InvalidNodeClaimError(
        "MissingInstanceType",
        f"NodeClaim {nodeclaim.metadata.name!r} has no requirement "
        f"`{LABEL_INSTANCE_TYPE} In [<sku>]`; add one naming the GPU VM size",
    )


def parse_quantity(value: str) -> Decimal:
    """A Kubernetes resource quantity ("100Gi", "1.5G", "500m") as a number."""
    match = _QUANTITY.match(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a resource quantity")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a resource quantity") from exc
    return number * _SUFFIX_FACTORS[match.group(2) or ""]


def storage_gib(nodeclaim: NodeClaim) -> int | None:
    """The `resources.requests.storage` request in whole GiB (rounded up), or None when absent."""
    raw = nodeclaim.spec.resources.requests.get("storage")
    if raw is None:
        return None
    try:
        size = parse_quantity(raw)
    except ValueError as exc:
        raise InvalidNodeClaimError(
            "InvalidStorageRequest", f"resources.requests.storage {raw!r} is not a quantity like '100Gi'"
        ) from exc
    return max(1, math.ceil(size / _SUFFIX_FACTORS["Gi"]))


def image_family(nodeclaim: NodeClaim) -> str:
    """The OS image family from the annotation, Ubuntu by default."""
    raw = nodeclaim.metadata.annotations.get(ANNOTATION_IMAGE_FAMILY)
    if raw is None:
        return DEFAULT_IMAGE_FAMILY
    family = IMAGE_FAMILIES.get(raw.lower())
    if family is None:
        raise InvalidNodeClaimError(
            "InvalidImageFamily",
            f"annotation {ANNOTATION_IMAGE_FAMILY}={raw!r} is not one of {sorted(IMAGE_FAMILIES.values())}",
        )
    return family


def _reserved(key: str) -> bool:
    domain = key.split("/", 1)[0] if "/" in key else ""
    return any(domain == d or domain.endswith("." + d) for d in _RESERVED_LABEL_DOMAINS)


def node_labels(nodeclaim: NodeClaim) -> dict[str, str]:
    """Labels the node gets: the NodeClaim's own (minus reserved domains) and `kaito.sh/machine-type=gpu`."""
    labels = {k: v for k, v in nodeclaim.metadata.labels.items() if not _reserved(k)}
    labels[LABEL_MACHINE_TYPE] = MACHINE_TYPE_GPU
    return labels


def taint_string(taint: Taint) -> str:
    """`key=value:Effect` (or `key:Effect`), the form AKS takes for node taints."""
    value = f"={taint.value}" if taint.value else ""
    return f"{taint.key}{value}:{taint.effect.value}"


def node_taints(nodeclaim: NodeClaim) -> list[str]:
    """The NodeClaim's taints in AKS string form."""
    return [taint_string(t) for t in nodeclaim.spec.taints]
