"""Whole-image operations: pull the files under `/data` of an image, push a directory as a one-layer image."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import tempfile
from pathlib import Path

from kaito.oci.client import RegistryClient
from kaito.oci.layers import extract_prefix, pack_directory
from kaito.oci.manifest import OCI_CONFIG, OCI_LAYER_TAR_GZIP, OCI_MANIFEST, Descriptor, ImageManifest
from kaito.oci.reference import ImageReference

DATA_PREFIX = "data"


async def pull_files(
    client: RegistryClient, image: ImageReference, dest: Path, prefix: str = DATA_PREFIX
) -> list[str]:
    """Download every layer of `image` and unpack the files under `prefix/` into `dest` (in layer order)."""
    manifest = await client.get_manifest(image)
    await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
    written: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="kaito-layer-") as scratch:
        for index, layer in enumerate(manifest.layers):
            blob = Path(scratch) / f"layer-{index}"
            await client.get_blob(image, layer.digest, blob)
            written.update(await asyncio.to_thread(extract_prefix, blob, dest, prefix))
            blob.unlink()
    return sorted(written)


async def push_directory(
    client: RegistryClient, image: ImageReference, source: Path, prefix: str = DATA_PREFIX
) -> str:
    """Publish the files of `source` under `prefix/` as a one-layer image; return the manifest digest."""
    layer = await asyncio.to_thread(pack_directory, source, prefix)
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}},
        separators=(",", ":"),
    ).encode()
    layer_digest = await client.push_blob(image, layer)
    config_digest = await client.push_blob(image, config)
    manifest = ImageManifest(
        schema_version=2,
        media_type=OCI_MANIFEST,
        config=Descriptor(media_type=OCI_CONFIG, digest=config_digest, size=len(config)),
        layers=[Descriptor(media_type=OCI_LAYER_TAR_GZIP, digest=layer_digest, size=len(layer))],
    )
    return await client.put_manifest(image, manifest)
