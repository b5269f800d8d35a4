"""Parse image references (`registry/repository:tag` or `@sha256:...`) the way Docker resolves them."""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
_REPOSITORY_RE = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")


class InvalidReferenceError(ValueError):
    """An image reference that cannot be parsed."""


@dataclass(frozen=True)
class ImageReference:
    """A parsed image reference: where the registry is, which repository, which tag or digest."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """The manifest reference to request: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def auth_keys(self) -> tuple[str, ...]:
        """Keys under which a dockerconfigjson may hold this registry's credentials."""
        if self.registry == DOCKER_HUB:
            return ("https://index.docker.io/v1/", "index.docker.io", "docker.io", DOCKER_HUB)
        return (self.registry, f"https://{self.registry}", f"http://{self.registry}")

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageReference:
    """Split `text` into registry, repository, tag and digest; Docker Hub is the default registry."""
    raw = text.strip()
    if not raw or any(c.isspace() for c in raw):
        raise InvalidReferenceError(f"image reference {text!r} is empty or contains whitespace")
    digest = None
    if "@" in raw:
        raw, digest = raw.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise InvalidReferenceError(f"image reference {text!r} has a malformed digest {digest!r}")
    first, sep, rest = raw.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DOCKER_HUB, raw
    if registry in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
    tag = None
    last_slash = path.rfind("/")
    colon = path.rfind(":")
    if colon > last_slash:
        path, tag = path[:colon], path[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise InvalidReferenceError(f"image reference {text!r} has a malformed tag {tag!r}")
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not _REPOSITORY_RE.match(path):
        raise InvalidReferenceError(
            f"image reference {text!r} has a malformed repository {path!r} (lowercase letters, digits, "
            "separators '.', '_', '-', '/')"
        )
    if tag is None and digest is None:
        tag = "latest"
    return ImageReference(registry=registry, repository=path, tag=tag, digest=digest)
