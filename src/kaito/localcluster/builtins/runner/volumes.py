"""Pod volumes as local directories, and the mountPath -> host path mapping handed to processes.

Layout under the runner's data dir:
  pods/<uid>/volumes/<volume>/         configMap, secret, emptyDir (and unknown kinds) contents
  pods/<uid>/containers/<container>/   the container's working directory when it sets none
  claims/<namespace>/<claimName>/      persistentVolumeClaim volumes (kept after the pod goes)
  logs/<namespace>_<pod>_<uid>/<container>/<restartCount>.log   stdout+stderr of each run
hostPath volumes are the host path itself.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from kaito.localcluster.builtins.objects import KeyToPath, Pod, Volume
from kaito.localcluster.builtins.runner.environment import ConfigError, SourceReader


class PodLayout:
    def __init__(self, data_dir: Path, pod: Pod) -> None:
        meta = pod.metadata
        self.root = data_dir / "pods" / meta.uid
        self.volumes = self.root / "volumes"
        self.claims = data_dir / "claims" / meta.namespace
        self.logs = data_dir / "logs" / f"{meta.namespace}_{meta.name}_{meta.uid}"

    def container_dir(self, container: str) -> Path:
        return self.root / "containers" / container

    def log_file(self, container: str, restart_count: int) -> Path:
        return self.logs / container / f"{restart_count}.log"

    async def remove(self) -> None:
        await asyncio.to_thread(shutil.rmtree, self.root, True)


async def materialize(layout: PodLayout, volumes: list[Volume], reader: SourceReader) -> dict[str, Path]:
    """Create every volume's directory and contents; returns volume name -> host path."""
    paths: dict[str, Path] = {}
    for volume in volumes:
        if volume.host_path is not None:
            paths[volume.name] = Path(volume.host_path.path)
            continue
        if volume.persistent_volume_claim is not None:
            target = layout.claims / volume.persistent_volume_claim.claim_name
            await asyncio.to_thread(target.mkdir, parents=True, exist_ok=True)
            paths[volume.name] = target
            continue
        target = layout.volumes / volume.name
        files: dict[str, str] = {}
        if volume.config_map is not None:
            files = await _files(
                reader,
                "configmap",
                volume.config_map.name,
                volume.config_map.items,
                bool(volume.config_map.optional),
            )
        elif volume.secret is not None:
            files = await _files(
                reader, "secret", volume.secret.secret_name, volume.secret.items, bool(volume.secret.optional)
            )
        await asyncio.to_thread(_write_files, target, files)
        paths[volume.name] = target
    return paths


async def _files(
    reader: SourceReader, kind: str, name: str, items: list[KeyToPath], optional: bool
) -> dict[str, str]:
    data = await reader.data(kind, name)
    if data is None:
        if optional:
            return {}
        raise ConfigError(f'MountVolume.SetUp failed: {kind} "{name}" not found')
    if not items:
        return dict(data)
    missing = [item.key for item in items if item.key not in data]
    if missing and not optional:
        raise ConfigError(f"MountVolume.SetUp failed: {kind} {name} has no key {missing[0]}")
    return {item.path: data[item.key] for item in items if item.key in data}


def _write_files(target: Path, files: dict[str, str]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for relative, content in files.items():
        path = (target / relative).resolve()
        if not path.is_relative_to(target.resolve()):
            continue  # a key path escaping the volume is ignored, as the kubelet refuses it
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def mounts_for(container_mounts: list[tuple[str, str, str]], volume_paths: dict[str, Path]) -> dict[str, str]:
    """(volume name, mountPath, subPath) triples -> {mountPath: host path}."""
    mounts: dict[str, str] = {}
    for name, mount_path, sub_path in container_mounts:
        host = volume_paths.get(name)
        if host is None:
            raise ConfigError(f'volume "{name}" not found in the pod')
        if sub_path:
            host = host / sub_path
            host.mkdir(parents=True, exist_ok=True)
        mounts[mount_path.rstrip("/") or "/"] = os.fspath(host)
    return mounts


def rewrite_paths(text: str, mounts: dict[str, str]) -> str:
    """Point a path (or `--flag=path`) under a mountPath at its host directory; other strings are kept."""
    prefix, sep, value = text.partition("=") if text.startswith("-") else ("", "", text)
    for mount_path in sorted(mounts, key=len, reverse=True):
        if value == mount_path or value.startswith(mount_path + "/"):
            return prefix + sep + mounts[mount_path] + value[len(mount_path) :]
    return text
