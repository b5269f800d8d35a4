"""The ARM emulator's request checks for an agent pool PUT, with AKS's error codes and wording."""

from __future__ import annotations

import re
from typing import Any

_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_TAINT = re.compile(r"^[A-Za-z0-9./_-]+(=[A-Za-z0-9._-]*)?:(NoSchedule|PreferNoSchedule|NoExecute)$")
_BAD_TAG_CHARS = re.compile(r"[<>%&\\?/]")
_OS_SKUS = frozenset({"Ubuntu", "AzureLinux", "Ubuntu2204", "Ubuntu2404"})


def invalid_agent_pool(name: str, props: dict[str, Any]) -> tuple[str, str] | None:
    """(code, message) of the first problem with a PUT body, or None when AKS would accept it."""
    if not _POOL_NAME.match(name):
        return (
            "InvalidParameter",
            f"Agent pool name '{name}' is invalid: must start with a lowercase letter, contain only "
            "lowercase letters and numbers, and be at most 12 characters.",
        )
    if not isinstance(props.get("vmSize"), str) or not props["vmSize"]:
        return ("InvalidParameter", "The value of parameter agentPoolProfile.vmSize is invalid.")
    count = props.get("count")
    if not isinstance(count, int) or not 0 <= count <= 1000:
        return ("InvalidParameter", "The value of parameter agentPoolProfile.count is invalid.")
    if props.get("mode") not in ("User", "System"):
        return ("InvalidParameter", "The value of parameter agentPoolProfile.mode is invalid.")
    if props.get("osType", "Linux") != "Linux":
        return ("InvalidParameter", "Only Linux pools are emulated.")
    if "osSKU" in props and props["osSKU"] not in _OS_SKUS:
        return ("InvalidParameter", f"OSSKU '{props['osSKU']}' is invalid.")
    disk = props.get("osDiskSizeGB")
    if disk is not None and (not isinstance(disk, int) or not 0 <= disk <= 2048):
        return ("InvalidParameter", "The value of parameter agentPoolProfile.osDiskSizeGB is invalid.")
    for taint in props.get("nodeTaints", []):
        if not _TAINT.match(taint):
            return ("InvalidParameter", f"Taint '{taint}' is invalid.")
    for key in props.get("tags", {}):
        if _BAD_TAG_CHARS.search(key):
            return (
                "InvalidTagNameCharacters",
                f"The tag names '{key}' have reserved characters '<,>,%,&,\\,?,/' or control characters.",
            )
    for key in props.get("nodeLabels", {}):
        if key.startswith("kubernetes.azure.com/"):
            return ("InvalidParameter", f"Label key '{key}' uses a reserved prefix.")
    if props.get("provisioningState") is not None:
        return ("InvalidParameter", "provisioningState is read-only.")
    return None
