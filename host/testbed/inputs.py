"""The input files sent with every run: the same inputs for every variant of a model.

For every model input: ``timing``, one batch-1 sample used for the timed runs; ``eval``, the samples
whose outputs are returned for accuracy and parity - the user's own arrays (``--inputs FILE.npz``,
``ZooModel.user_inputs``),
else the held-out evaluation split where the model has one, else a few seeded inputs fitted to each
input's dtype and role. A single-input model's file holds the unnamed ``timing``/``eval`` pair
every agent reads; a multi-input model's holds ``timing/<name>`` and ``eval/<name>`` per input
(agent wire schema 3; the agent feeds them by name). Written once per (model source, inputs,
layout), so the same bytes and sha256 are reused and a board that has them is not sent them again.
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
    from testbed_zoo.spec import InputDecl


@dataclass
class InputSet:
    path: Path
    sha256: str
    evals: dict[str, np.ndarray]  # every input's eval samples [N, ...] in the source layout (for references)
    labels: np.ndarray | None  # ground truth for accuracy, where the model has an evaluation set
    tensors: list[TensorSpec]  # the timing inputs as the run request describes them (the agent checks the file)

    @property
    def eval_nchw(self) -> np.ndarray:
        """The first input's eval samples (a single-input model's only ones)."""
        return next(iter(self.evals.values()))


def eval_arrays(model: ZooModel) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The samples every variant is judged on, in the source layout, with labels where known: the
    user's ``--inputs`` file (``model.user_inputs``), else the eval split, else seeded samples."""
    user = model.user_inputs
    if user is not None:
        return dict(user), None
    evalset = model.eval_inputs()
    return evalset if evalset is not None else (model.parity_input_sets(8), None)


def build(model: ZooModel, layout: str) -> InputSet:
    from testbed_zoo import tensors
    from testbed_zoo.cache import write_npz

    decls = model.spec.inputs
    evals, labels = eval_arrays(model)
    evals = {d.name: np.ascontiguousarray(evals[d.name], dtype=d.dtype) for d in decls}
    laid = tensors.lay_out(evals, decls, layout)
    timing = {d.name: tensors.sample(d, laid[d.name], 0) for d in decls}
    if model.user_inputs is None:
        # the timed sample: the model's example (its own, or sample 0 of its data), laid out
        example = model.example_inputs(layout)
        timing = {d.name: tensors.sample(d, np.asarray(example[d.name], dtype=d.dtype), 0) for d in decls}
    arrays = ({"timing": timing[decls[0].name], "eval": laid[decls[0].name]} if len(decls) == 1 else
              {**{f"timing/{n}": a for n, a in timing.items()}, **{f"eval/{n}": a for n, a in laid.items()}})
    digest = hashlib.sha256()
    for key, array in arrays.items():
        digest.update(f"{key}\0{array.dtype.str}{list(array.shape)}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    path = cache_dir("inputs") / f"{model.id}-{model.source_hash()[:16]}-{layout}-{digest.hexdigest()[:16]}.npz"
    if not path.exists():  # written under a unique temporary name, then renamed: two engines in one
        # process (two threads, one pid) may write it at once - a pid-named temporary file raced there
        write_npz(path, {k: np.asarray(a, order="C") for k, a in arrays.items()})
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return InputSet(path=path, sha256=sha, evals=evals, labels=labels, tensors=_tensors(decls, timing))


def _tensors(decls: list[InputDecl], timing: dict[str, np.ndarray]) -> list[TensorSpec]:
    """The timing inputs as the request names them (one input: ``input``, which the agent matches to
    the model's own name whatever it is; several: the model's names, fed by name)."""
    from testbed_agent.schema import TensorSpec

    if len(decls) == 1:
        return [TensorSpec.of("input", timing[decls[0].name])]
    return [TensorSpec.of(d.name, timing[d.name]) for d in decls]

