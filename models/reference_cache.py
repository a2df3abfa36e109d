"""The source frameworks' reference outputs, cached on disk: a repeated deploy imports no framework.

Computing a reference means building the source model, so importing torch or TensorFlow (10-20 s
on a loaded 2-core machine) for outputs that take milliseconds. They are deterministic in what
the key holds, so they are kept under ``cache_dir("references")``, one ``.npz`` per key:

* the model's id and source hash (zoo models: their source files, which also fix the trained or
  seeded weights; user models: the bytes of their file or factory module),
* the framework and the versions of the packages that run it (``FRAMEWORK_PACKAGES``): a new
  torch or TensorFlow computes them again,
* the inputs' sha256 (dtype, shape and bytes) - the input set the outputs belong to,
* ``REFERENCE_CACHE_VERSION`` (bump it when what ``reference()`` computes changes).

``TESTBED_REFERENCE_CACHE=0`` turns the cache off (always compute). An unreadable file reads as
missing (``cache.read_npz``) and is computed again.
"""

from __future__ import annotations

import hashlib
import os
from importlib import metadata
from pathlib import Path

import numpy as np

from .cache import read_npz, write_npz
from .paths import cache_dir

REFERENCE_CACHE_VERSION = 2  # 2: every output (output_0, output_1, ...), named inputs

#: The distributions whose versions decide a framework's reference outputs (missing ones: "none").
FRAMEWORK_PACKAGES: dict[str, tuple[str, ...]] = {
    "pytorch": ("torch",),
    "keras": ("tensorflow", "tensorflow-cpu", "keras"),
    "onnx": ("onnxruntime",),
    "tflite": ("ai-edge-litert",),
}


def enabled() -> bool:
    return os.environ.get("TESTBED_REFERENCE_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")


def framework_versions(framework: str) -> str:
    """``torch=2.13.0`` (or ``torch=none``), read from package metadata: nothing is imported."""
    parts = []
    for name in FRAMEWORK_PACKAGES.get(framework, ()):
        try:
            parts.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name}=none")
    return ",".join(parts)


def inputs_sha256(xs: dict[str, np.ndarray]) -> str:
    """sha256 over every input's name, dtype, shape and bytes, in order."""
    digest = hashlib.sha256()
    for name, x in xs.items():
        digest.update(f"{name}\0{x.dtype.str}{list(x.shape)}".encode())
        digest.update(np.ascontiguousarray(x).tobytes())
    return digest.hexdigest()


def path_for(model_id: str, source_hash: str, framework: str, x: dict[str, np.ndarray]) -> Path:
    """The cache file of ``framework``'s outputs of model ``model_id`` on the named inputs ``x``."""
    key = "\n".join((f"v{REFERENCE_CACHE_VERSION}", model_id, source_hash, framework,
                     framework_versions(framework), inputs_sha256(x)))
    name = hashlib.sha256(key.encode()).hexdigest()[:40]
    return cache_dir("references") / f"{model_id}-{framework}-{name}.npz"


def load(path: Path) -> list[np.ndarray] | None:
    """Every cached output in order, or None (missing, unreadable, or the cache turned off)."""
    if not enabled():
        return None
    arrays = read_npz(path) or {}
    outs = [arrays[f"output_{i}"] for i in range(len(arrays)) if f"output_{i}" in arrays]
    if not outs or len(outs) != len(arrays):
        return None
    return [o.astype(np.float32, copy=False) for o in outs]


def save(path: Path, outputs: list[np.ndarray]) -> None:
    if enabled():
        write_npz(path, {f"output_{i}": o for i, o in enumerate(outputs)})
