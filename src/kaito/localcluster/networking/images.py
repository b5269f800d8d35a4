"""Client-tool images mapped to the host's own tools, so `kubectl run --image=curlimages/curl -- curl ...`
runs the host's curl (which reaches ClusterIPs through the loopback service proxy)."""

from __future__ import annotations

import shutil

from kaito.localcluster.builtins.config import ImageRuntime

# The curlimages/curl ENTRYPOINT's rule: arguments starting with "-" are curl's, anything else is a command.
_CURL_ENTRYPOINT = 'if [ "${1#-}" != "$1" ]; then set -- curl "$@"; fi; exec "$@"'


def client_tool_images() -> dict[str, ImageRuntime]:
    """Mappings for the client images whose tools this host has (none when `curl`/`sh` are missing)."""
    images: dict[str, ImageRuntime] = {}
    shell, curl = shutil.which("sh"), shutil.which("curl")
    if shell and curl:
        images["curlimages/curl"] = ImageRuntime(
            entrypoint=[shell, "-c", _CURL_ENTRYPOINT, "curl-entrypoint"],
            cmd=["curl"],
        )
    return images
