"""Publish a trained LoRA adapter as an OCI image: its files under `/data`, annotated with the base model.

The image is what `inference.adapters[].source.image` pulls (`kaito.oci.image.pull_files`).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from kaito.oci.client import RegistryClient
from kaito.oci.image import DATA_PREFIX
from kaito.oci.layers import pack_directory
from kaito.oci.manifest import OCI_CONFIG, OCI_LAYER_TAR_GZIP, OCI_MANIFEST, Descriptor, ImageManifest
from kaito.oci.reference import ImageReference

BASE_MODEL_ANNOTATION = "kaito.sh/base-model"
METHOD_ANNOTATION = "kaito.sh/tuning-method"
TITLE_ANNOTATION = "org.opencontainers.image.title"
CREATED_ANNOTATION = "org.opencontainers.image.created"
DESCRIPTION_ANNOTATION = "org.opencontainers.image.description"


def adapter_annotations(base_model: str, method: str, created: datetime | None = None) -> dict[str, str]:
    """The manifest annotations (and config labels) of an adapter image."""
    stamp = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        BASE_MODEL_ANNOTATION: base_model,
        METHOD_ANNOTATION: method,
        TITLE_ANNOTATION: "kaito LoRA adapter",
        DESCRIPTION_ANNOTATION: f"{method} adapter for {base_model}; files under /{DATA_PREFIX}",
        CREATED_ANNOTATION: stamp,
    }


async def push_adapter(
    client: RegistryClient, image: ImageReference, source: Path, annotations: Mapping[str, str]
) -> str:
    """Push the files of `source` under `/data` as a one-layer image; return the manifest digest."""
    layer = await asyncio.to_thread(pack_directory, source, DATA_PREFIX)
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": annotations.get(CREATED_ANNOTATION),
            "config": {"Labels": dict(annotations)},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    layer_digest = await client.push_blob(image, layer)
    config_digest = await client.push_blob(image, config)
    manifest = ImageManifest(
        schema_version=2,
        media_type=OCI_MANIFEST,
        config=Descriptor(media_type=OCI_CONFIG, digest=config_digest, size=len(config)),
        layers=[Descriptor(media_type=OCI_LAYER_TAR_GZIP, digest=layer_digest, size=len(layer))],
        annotations=dict(annotations),
    )
    return await client.put_manifest(image, manifest)
