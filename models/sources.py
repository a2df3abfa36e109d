"""What a zoo model's source hash covers: its folder's sources plus the shared modules.

The hash names a model's version: trained weights, data, references, stats and converted
artifacts are cached under it, so editing a file it covers rebuilds them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .spec import SPEC_FILENAME

# Shared modules that shape every zoo model's weights or graph: part of each model's source hash.
SHARED_SOURCES = ("spec.py", "porting.py", "torch_blocks.py", "keras_blocks.py")


def hash_sources(folder: Path, extra: tuple[Path, ...] = ()) -> str:
    """sha256 hex over the ``*.py`` files and ``spec.yaml`` under ``folder`` plus ``extra`` files.

    Paths enter the hash relative to their root so a moved checkout hashes the same.
    """
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and (p.suffix == ".py" or p.name == SPEC_FILENAME)
    )
    entries = [(p.relative_to(folder).as_posix(), p) for p in files]
    entries += [(f"<extra>/{p.name}", p) for p in extra]
    for name, path in entries:
        content = path.read_bytes()
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(str(len(content)).encode("ascii") + b"\0")
        digest.update(content)
    return digest.hexdigest()
