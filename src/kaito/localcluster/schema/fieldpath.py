"""Kubernetes-style field paths: ``spec.containers[0].name``, ``metadata.labels[app]``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldPath:
    """An immutable path, rendered the way apimachinery's ``field.Path`` prints."""

    parts: tuple[str, ...] = ()

    @classmethod
    def root(cls) -> FieldPath:
        """The empty path (the object itself)."""
        return cls(())

    def child(self, name: str) -> FieldPath:
        """A named field below this one: ``spec`` → ``spec.replicas``."""
        return FieldPath((*self.parts, "." + name if self.parts else name))

    def index(self, position: int) -> FieldPath:
        """An element of a list: ``spec.containers`` → ``spec.containers[0]``."""
        return FieldPath((*self.parts, f"[{position}]"))

    def key(self, name: str) -> FieldPath:
        """An entry of a map: ``metadata.labels`` → ``metadata.labels[app]``."""
        return FieldPath((*self.parts, f"[{name}]"))

    def render(self) -> str:
        """The path as text; the root renders as the empty string."""
        return "".join(self.parts)

    def __str__(self) -> str:
        return self.render()
