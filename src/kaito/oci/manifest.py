"""The OCI / Docker v2 manifest shapes kaito reads and writes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER_TAR_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MANIFEST_ACCEPT = ", ".join((OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_LIST))
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})


class Platform(BaseModel):
    """The platform an index entry was built for."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    architecture: str = ""
    os: str = ""


class Descriptor(BaseModel):
    """A content-addressed pointer to a blob or manifest."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    media_type: str = Field(alias="mediaType")
    digest: str
    size: int = Field(ge=0)
    platform: Platform | None = None
    annotations: dict[str, str] | None = None


class ImageManifest(BaseModel):
    """An image manifest: one config blob and an ordered list of layers."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    schema_version: int = Field(default=2, alias="schemaVersion")
    media_type: str = Field(default=OCI_MANIFEST, alias="mediaType")
    config: Descriptor
    layers: list[Descriptor]
    annotations: dict[str, str] | None = None


class ImageIndex(BaseModel):
    """A multi-platform index: a list of manifests."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    schema_version: int = Field(default=2, alias="schemaVersion")
    media_type: str = Field(default=OCI_INDEX, alias="mediaType")
    manifests: list[Descriptor]
