"""Fetch an adapter (OCI image or volume path) into the adapters dir; scale its LoRA B weights by strength."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import uuid
from pathlib import Path

from kaito.api.adapters import DesiredAdapter
from kaito.oci.auth import AuthError, Keychain
from kaito.oci.client import RegistryClient, RegistryError
from kaito.oci.image import pull_files
from kaito.oci.layers import LayerError
from kaito.oci.reference import InvalidReferenceError, parse_reference

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


class AdapterStageError(RuntimeError):
    """The adapter could not be staged; `reason` is a CamelCase word for Workspace status."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def stage_key(adapter: DesiredAdapter) -> str:
    """Content key of a staged copy: a new source or strength is a new directory (and a new load path)."""
    return hashlib.sha256(f"{adapter.source}\n{adapter.strength}".encode()).hexdigest()[:16]


def check_adapter_files(directory: Path, max_rank: int) -> None:
    config_file = directory / ADAPTER_CONFIG
    if not config_file.is_file():
        raise AdapterStageError(
            "InvalidAdapter", f"no {ADAPTER_CONFIG} (an adapter image keeps it under /data)"
        )
    if not (directory / ADAPTER_WEIGHTS).is_file():
        raise AdapterStageError(
            "InvalidAdapter", f"no {ADAPTER_WEIGHTS} (an adapter image keeps it under /data)"
        )
    try:
        config = json.loads(config_file.read_text())
    except ValueError as err:
        raise AdapterStageError("InvalidAdapter", f"{ADAPTER_CONFIG} is not JSON: {err}") from err
    rank = config.get("r") if isinstance(config, dict) else None
    if not isinstance(rank, int) or rank < 1:
        raise AdapterStageError("InvalidAdapter", f"{ADAPTER_CONFIG} has no positive LoRA rank `r`")
    if rank > max_rank:
        raise AdapterStageError(
            "RankTooLarge",
            f"LoRA rank {rank} exceeds the server's max LoRA rank {max_rank}; "
            "retrain with a smaller rank or raise adapters.maxLoraRank",
        )


def scale_lora_b(source: Path, dest: Path, strength: float) -> None:
    """Copy the adapter with every lora_B tensor times `strength` (the LoRA delta B·A scales with it)."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_file() and item.name != ADAPTER_WEIGHTS:
            shutil.copy2(item, dest / item.name)
    if strength == 1.0:
        shutil.copy2(source / ADAPTER_WEIGHTS, dest / ADAPTER_WEIGHTS)
        return
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(source / ADAPTER_WEIGHTS))
    scaled = {
        key: (tensor * strength).to(tensor.dtype) if "lora_B" in key else tensor
        for key, tensor in tensors.items()
    }
    save_file(scaled, str(dest / ADAPTER_WEIGHTS), metadata={"format": "pt"})


class AdapterStager:
    """Stages adapters under `root/<name>/<key>/`; a staged copy is reused (container restarts, resyncs)."""

    def __init__(self, root: Path, pull_secrets_dir: Path, max_rank: int, plain_http: frozenset[str]) -> None:
        self._root = root
        self._secrets = pull_secrets_dir
        self._max_rank = max_rank
        self._plain_http = plain_http

    def staged_path(self, adapter: DesiredAdapter) -> Path:
        return self._root / adapter.name / stage_key(adapter)

    def _keychain(self, adapter: DesiredAdapter) -> Keychain:
        return Keychain.from_files(self._secrets / secret for secret in adapter.image_pull_secrets)

    async def stage(self, adapter: DesiredAdapter) -> Path:
        final = self.staged_path(adapter)
        if (final / ADAPTER_WEIGHTS).is_file():
            return final
        scratch = self._root / f".staging-{adapter.name}-{uuid.uuid4().hex[:8]}"
        raw = scratch / "raw"
        try:
            if adapter.image is not None:
                await self._pull(adapter, adapter.image, raw)
            else:
                raw = Path(adapter.path or "")
                if not raw.is_dir():
                    raise AdapterStageError("AdapterNotFound", f"adapter directory {raw} does not exist")
            await asyncio.to_thread(check_adapter_files, raw, self._max_rank)
            scaled = scratch / "scaled"
            await asyncio.to_thread(scale_lora_b, raw, scaled, adapter.strength_value)
            final.parent.mkdir(parents=True, exist_ok=True)
            scaled.replace(final)
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)
        return final

    async def _pull(self, adapter: DesiredAdapter, image_text: str, dest: Path) -> None:
        try:
            image = parse_reference(image_text)
            keychain = await asyncio.to_thread(self._keychain, adapter)
            async with RegistryClient(keychain, plain_http=self._plain_http) as client:
                await pull_files(client, image, dest)
        except InvalidReferenceError as err:
            raise AdapterStageError("InvalidImage", str(err)) from err
        except AuthError as err:
            raise AdapterStageError("ImagePullUnauthorized", str(err)) from err
        except (RegistryError, LayerError) as err:
            raise AdapterStageError("ImagePullFailed", str(err)) from err
        except OSError as err:
            raise AdapterStageError("ImagePullFailed", f"cannot reach the registry: {err}") from err
        except Exception as err:  # httpx transport errors and the like
            raise AdapterStageError("ImagePullFailed", f"{type(err).__name__}: {err}") from err

    async def remove_other_versions(self, name: str, keep: Path | None) -> None:
        directory = self._root / name
        if not directory.is_dir():
            return
        for child in directory.iterdir():
            if child != keep:
                await asyncio.to_thread(shutil.rmtree, child, True)
