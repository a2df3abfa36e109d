"""Files the zoo caches under ``testbed_zoo.paths.cache_dir`` (trained weights, model stats).

Writes are atomic (temp file + rename) so concurrent loaders never see half a file; an
unreadable cached file reads as missing, so the caller recomputes it.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np


def read_npz(path: Path) -> dict[str, np.ndarray] | None:
    """Arrays of a cached ``.npz``, or None when it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an ``.npz`` atomically."""
    _write_atomic(path, lambda fh: np.savez(fh, **arrays))  # type: ignore[arg-type]  # mypy: **arrays might hold allow_pickle


def read_json(path: Path) -> Any | None:
    """A cached JSON document, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON atomically."""
    _write_atomic(path, lambda fh: fh.write(json.dumps(data, indent=1, sort_keys=True).encode("utf-8")))


def _write_atomic(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
