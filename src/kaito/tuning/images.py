"""OCI images on both ends of a tuning job: pull `input.image` data, push the adapter to `output.image`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import structlog

from kaito.oci.adapter_image import adapter_annotations, push_adapter
from kaito.oci.auth import AuthError, Keychain
from kaito.oci.client import RegistryClient, RegistryError
from kaito.oci.image import pull_files
from kaito.oci.layers import LayerError
from kaito.oci.reference import InvalidReferenceError, parse_reference

log = structlog.get_logger(__name__)


class ImageTransferError(RuntimeError):
    """Pulling or pushing an image failed; the message names the image and the reason."""


def _secret_paths(location: Path | None) -> list[Path]:
    """A dockerconfigjson file, a mounted Secret directory, or a directory of mounted Secret directories."""
    if location is None or not location.exists():
        return []
    if location.is_file() or (location / ".dockerconfigjson").is_file():
        return [location]
    return sorted(child for child in location.iterdir() if not child.name.startswith("."))


async def _keychain(location: Path | None) -> Keychain:
    try:
        return await asyncio.to_thread(lambda: Keychain.from_files(_secret_paths(location)))
    except AuthError as err:
        raise ImageTransferError(str(err)) from err


async def pull_data_image(
    image_text: str, dest: Path, secrets: Path | None, plain_http: frozenset[str] = frozenset()
) -> list[str]:
    """Unpack the files under `/data` of `image_text` into `dest`; at least one file must arrive."""
    try:
        image = parse_reference(image_text)
        async with RegistryClient(await _keychain(secrets), plain_http=plain_http) as client:
            files = await pull_files(client, image, dest)
    except (InvalidReferenceError, AuthError, RegistryError, LayerError) as err:
        raise ImageTransferError(f"input image {image_text}: {err}") from err
    except (OSError, httpx.HTTPError) as err:
        raise ImageTransferError(f"input image {image_text}: cannot reach the registry: {err}") from err
    if not files:
        raise ImageTransferError(f"input image {image_text} has no files under /data")
    log.info("pulled input image", image=image_text, files=len(files))
    return files


async def push_adapter_image(
    adapter_dir: Path,
    image_text: str,
    secret: Path | None,
    base_model: str,
    method: str,
    plain_http: frozenset[str] = frozenset(),
) -> str:
    """Push the adapter directory to `image_text` with credentials from `secret`; return the digest."""
    try:
        image = parse_reference(image_text)
        async with RegistryClient(await _keychain(secret), plain_http=plain_http) as client:
            digest = await push_adapter(client, image, adapter_dir, adapter_annotations(base_model, method))
    except (InvalidReferenceError, AuthError, RegistryError) as err:
        raise ImageTransferError(f"output image {image_text}: {err}") from err
    except (OSError, httpx.HTTPError) as err:
        raise ImageTransferError(f"output image {image_text}: cannot reach the registry: {err}") from err
    log.info("pushed adapter image", image=image_text, digest=digest)
    return digest
