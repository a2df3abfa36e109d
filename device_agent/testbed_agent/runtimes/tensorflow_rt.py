"""TensorFlow itself, the baseline the edge runtimes are compared with: a SavedModel (the
``tensorflow-savedmodel-fp32`` converter's artifact, a folder packed as one tar so it travels by
sha256 like every artifact) loaded with ``tf.saved_model.load`` and called through its ``serve``
endpoint. Needs TensorFlow on the board (``tensorflow`` or ``tensorflow-cpu``).

The tar is unpacked once per artifact into ``<store>/unpacked/<sha256>`` (beside the agent's
store; ``<file>.unpacked`` for a file elsewhere) and reused; the result's ``settings`` say whether
this load unpacked it (then ``load_ms`` includes the unpacking).

Settings (``runtime_settings.tensorflow``): ``threads`` (intra-op) overrides the profile's thread
count, ``inter_op_threads`` the threads between independent ops; None = TensorFlow's defaults.
"""

from __future__ import annotations

import functools
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .base import Probe, Runtime, Session, check_keys, dist_version, module_present, positional_names, positive
from .registry import register


@dataclass
class TensorFlowSettings:
    """``runtime_settings.tensorflow``."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}
    threads: int | None = None  # intra-op threads; overrides the profile's threads for TensorFlow
    inter_op_threads: int | None = None  # threads between independent ops; null = TensorFlow's default

    def __post_init__(self) -> None:
        positive("tensorflow", threads=self.threads, inter_op_threads=self.inter_op_threads)


class TensorFlowSession(Session):
    """The SavedModel's ``serve`` function, called with tensors made from the numpy inputs, by
    position (``input_names``: the names in its input signature where every input has one)."""

    def __init__(self, loaded: Any, fn: Any, tf: Any, threads: int | None, settings: dict[str, Any]) -> None:
        self._loaded = loaded  # the restored object owns the variables ``fn`` reads: keep it alive
        self._fn = fn
        self._tf = tf
        self._nesting, self.input_names = _signature(fn)
        self.threads = threads
        self.settings = settings

    def _args(self, xs: Sequence[np.ndarray]) -> list[Any]:
        """``serve``'s arguments: one tensor per input, or - a multi-input Keras model's export takes
        one argument - all of them in one list (or dict by name)."""
        tensors = [self._tf.constant(x) for x in xs]
        if self._nesting == "list":
            return [tensors]
        if self._nesting == "dict":
            return [dict(zip(self.input_names, tensors, strict=True))]
        return tensors

    def run(self, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One call; every output as a numpy array."""
        return _outputs(self._fn(*self._args(xs)))

    def bind(self, xs: Sequence[np.ndarray]) -> Callable[[], Any]:
        """``serve(...)`` itself; the tensors made once."""
        return functools.partial(self._fn, *self._args(xs))


def _signature(fn: Any) -> tuple[str | None, list[str]]:
    """How ``fn`` takes its inputs (None: one argument each; "list"/"dict": all in one argument, as
    a multi-input Keras model's export takes them) and their names from its input signature;
    positional names where any is missing or two are the same."""
    specs = list(getattr(fn, "input_signature", None) or [])
    nesting = None
    if len(specs) == 1 and isinstance(specs[0], (list, tuple)):
        nesting, specs = "list", list(specs[0])
    elif len(specs) == 1 and isinstance(specs[0], dict):
        return "dict", [str(k) for k in specs[0]]
    names = [str(getattr(s, "name", "") or "") for s in specs]
    if names and all(names) and len(set(names)) == len(names):
        return nesting, names
    return nesting, positional_names(len(specs) or 1)


@register
class TensorFlow(Runtime):
    """TensorFlow, running a Keras model's SavedModel."""

    name = "tensorflow"
    formats = ("tensorflow",)
    Settings = TensorFlowSettings

    def __init__(self) -> None:
        self._tf: Any = None

    def probe(self) -> Probe:
        if not module_present("tensorflow"):
            return Probe(False, None, "python module tensorflow is not installed; pip install tensorflow-cpu")
        return Probe(True, dist_version("tensorflow") or dist_version("tensorflow-cpu"), None)

    def check_settings(self, settings: Mapping[str, Any] | None) -> dict[str, Any]:
        settings = settings or {}
        check_keys(self.name, settings, ("inter_op_threads",))  # the intra-op count travels as threads
        positive(self.name, inter_op_threads=settings.get("inter_op_threads"))
        return {"inter_op_threads": settings.get("inter_op_threads")}

    def prepare(self) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        self._tf = tf

    def load(self, path: str, threads: int | None) -> Session:
        if self._tf is None:
            self.prepare()
        tf = self._tf
        inter = self.check_settings(self.options)["inter_op_threads"]
        try:  # only before TensorFlow's first op in this process
            if threads is not None:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
            if inter is not None:
                tf.config.threading.set_inter_op_parallelism_threads(inter)
        except RuntimeError as exc:
            raise ValueError(f"TensorFlow's thread counts cannot be changed in this process: {exc}") from exc
        folder, unpacked = unpack(Path(path))
        loaded = tf.saved_model.load(str(folder))
        fn = getattr(loaded, "serve", None)
        if fn is None:
            raise ValueError("the SavedModel has no 'serve' endpoint (export it with keras Model.export)")
        settings = {
            "api": "tf.saved_model.load(folder).serve(tensor), eager",
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or
            "0 = TensorFlow's default (one per core)",
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or
            "0 = TensorFlow's default",
            "unpacked": "by this load (load_ms includes it)" if unpacked else "cached from an earlier load",
        }
        return TensorFlowSession(loaded, fn, tf, threads, settings)


def unpack_dir(path: Path) -> Path:
    """Where the tar at ``path`` is unpacked: ``<store>/unpacked/<sha256>`` for an artifact in an
    agent store (``<store>/artifacts/<sha256>``), else ``<path>.unpacked``."""
    path = path.resolve()
    if path.parent.name == "artifacts":
        return path.parent.parent / "unpacked" / path.name
    return path.with_name(path.name + ".unpacked")


def unpack(path: Path) -> tuple[Path, bool]:
    """The SavedModel folder of the tar at ``path`` and whether this call unpacked it (unpacked
    into a temporary folder and renamed into place: a half-unpacked folder is never used)."""
    target = unpack_dir(path)
    if target.is_dir():
        return target, False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        with tarfile.open(path) as tar:
            members = tar.getmembers()
            for member in members:  # no absolute paths, no '..', no links out of the folder
                if member.name.startswith("/") or ".." in Path(member.name).parts or member.issym() or member.islnk():
                    raise ValueError(f"{path.name}: unsafe entry {member.name!r} in the SavedModel tar")
            tar.extractall(tmp, members=members)  # noqa: S202 - every member checked above
        try:
            tmp.rename(target)
        except OSError:  # another worker unpacked it first
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target, True


def _outputs(out: Any) -> list[np.ndarray]:
    """Every output of a SavedModel call (a tensor, a list or a dict of them) as numpy arrays."""
    if isinstance(out, dict):
        out = [out[key] for key in sorted(out)]
    elif not isinstance(out, (list, tuple)):
        out = [out]
    return [np.array(o.numpy() if hasattr(o, "numpy") else o, copy=True) for o in out]
