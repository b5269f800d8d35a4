"""Pack a directory into a tar+gzip layer, and unpack the files under one prefix from a layer, safely."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path, PurePosixPath


class LayerError(RuntimeError):
    """A layer that is not a readable tar archive, or holds unsafe paths."""


def pack_directory(source: Path, prefix: str = "data") -> bytes:
    """A reproducible tar+gzip of the regular files in `source`, stored under `prefix/`."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(str(PurePosixPath(prefix, path.relative_to(source).as_posix())))
            info.size = path.stat().st_size
            info.mode = 0o644
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    return gzip.compress(raw.getvalue(), mtime=0)


def extract_prefix(layer: Path, dest: Path, prefix: str = "data") -> list[str]:
    """Copy regular files under `prefix/` in the layer into `dest` (paths relative to the prefix)."""
    wanted = PurePosixPath(prefix)
    written: list[str] = []
    try:
        with tarfile.open(layer, mode="r:*") as tar:
            for member in tar:
                name = PurePosixPath(member.name.removeprefix("./").lstrip("/"))
                if not member.isfile() or wanted not in name.parents:
                    continue
                relative = name.relative_to(wanted)
                if ".." in relative.parts:
                    raise LayerError(f"layer entry {member.name!r} escapes its directory")
                target = dest.joinpath(*relative.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    continue
                with source, target.open("wb") as out:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
                written.append(relative.as_posix())
    except (tarfile.TarError, OSError, EOFError) as err:
        raise LayerError(f"cannot read layer {layer.name}: {err}") from err
    return written
