"""The input files sent with every run: the same inputs for every variant of a model.

``timing``: one batch-1 input used for the timed runs; ``eval``: the samples whose outputs are
returned for accuracy and parity (the held-out evaluation split where the model has one, else a
few seeded inputs). Written once per (model source, layout), so the same bytes and sha256 are
reused and a board that has them is not sent them again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .paths import cache_dir

if TYPE_CHECKING:
    from testbed_agent.schema import TensorSpec
    from testbed_zoo import ZooModel


@dataclass
class InputSet:
    path: Path
    sha256: str
    eval_nchw: np.ndarray  # the eval samples in the source layout (for references)
    labels: np.ndarray | None  # ground truth for accuracy, where the model has an evaluation set
    tensors: list[TensorSpec]  # the timing inputs as the run request describes them (the agent checks the file)


def build(model: ZooModel, layout: str) -> InputSet:
    import testbed_zoo

    evalset = model.eval_set()
    x_nchw, labels = evalset if evalset is not None else (model.parity_inputs(8), None)
    dtype = np.dtype(getattr(model.spec, "input_dtype", "float32"))  # token models take int32/int64
    x_nchw = np.ascontiguousarray(x_nchw, dtype=dtype)
    path = cache_dir("inputs") / f"{model.id}-{model.source_hash()[:16]}-{layout}.npz"
    if not path.exists():  # written under a unique temporary name, then renamed: two engines in one
        # process (two threads, one pid) may write it at once - a pid-named temporary file raced there
        from testbed_zoo.cache import write_npz

        write_npz(path, {"timing": testbed_zoo.to_layout(model.example_input("NCHW"), layout).astype(dtype),
                         "eval": np.ascontiguousarray(testbed_zoo.to_layout(x_nchw, layout), dtype=dtype)})
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return InputSet(path=path, sha256=sha, eval_nchw=x_nchw, labels=labels, tensors=_tensors(path))


def _tensors(path: Path) -> list[TensorSpec]:
    """The file's one timing input, named ``input`` (the agent matches it to the model's own name:
    one input is fed by position whatever its name)."""
    from testbed_agent.schema import TensorSpec

    with np.load(path, allow_pickle=False) as npz:
        return [TensorSpec.of("input", npz["timing"])]
