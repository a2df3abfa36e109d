"""Arrays in and out of a measurement: the inputs ``.npz`` the host sends, and outputs as base64
``.npy`` inside the result JSON. Used by ``measure`` and by runtimes that measure by themselves.

The inputs ``.npz`` holds, for every model input, its batch-1 timing array and optionally its
evaluation samples ``[N, ...]`` (sample ``i`` is ``eval[i:i + 1]``), under one of two key schemes:

* one input, unnamed: ``timing`` and ``eval`` (the form of schema 1 and 2 hosts);
* named inputs: ``timing/<name>`` and ``eval/<name>`` for each input (any number, in any order in
  the file; the order is the request's ``inputs`` list, else the file's).

When the request describes its inputs (``inputs``: name, shape, dtype each), the file must hold
exactly those, with those shapes and dtypes: a mismatch is one line naming the input.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .schema import TensorSpec

TIMING, EVAL = "timing", "eval"


def npy_b64(array: np.ndarray) -> str:
    """base64 of ``np.save`` bytes, the form arrays travel in inside JSON."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass
class Inputs:
    """A model's inputs for one run: per input (in the model's order) its name, its batch-1 timing
    array and its evaluation samples ``[N, ...]`` (``evals`` None when none were sent)."""

    names: list[str]
    timing: list[np.ndarray]
    evals: list[np.ndarray] | None = None

    @property
    def n_eval(self) -> int:
        return 0 if self.evals is None else int(self.evals[0].shape[0])

    def eval_sample(self, i: int) -> list[np.ndarray]:
        """Sample ``i`` of every input, shaped as its timing array (batch-1 ``[1, ...]``, or a
        scalar input's ``()``: the eval array is ``[N, ...]`` with one timing array's values per row)."""
        assert self.evals is not None
        return [np.asarray(e[i].reshape(t.shape), order="C") for e, t in zip(self.evals, self.timing, strict=True)]

    def specs(self) -> list[TensorSpec]:
        return [TensorSpec.of(n, a) for n, a in zip(self.names, self.timing, strict=True)]

    def conform(self, dtypes: Sequence[str | None] | None, order: Sequence[int]) -> dict[str, list[str]]:
        """Cast integer inputs to the integer type the artifact takes where a converter changed it
        (litert-torch makes int64 token ids int32) and every value fits; ``{name: [sent, fed]}`` for
        each input cast (the record's ``input_dtype_changes``). ``dtypes``: the runtime's input
        types in its order (None: unknown); ``order``: :meth:`ordered`'s positions."""
        casts: dict[str, list[str]] = {}
        for want, i in zip(dtypes or [], order, strict=False):
            have = self.timing[i].dtype
            if want is None or have == np.dtype(want):
                continue
            target = np.dtype(want)
            arrays = [self.timing[i], *([self.evals[i]] if self.evals is not None else [])]
            if have.kind not in "iub" or target.kind not in "iu" or not all(_fits(a, target) for a in arrays):
                continue  # not a safe cast: the runtime's own error says what it wants
            self.timing[i] = self.timing[i].astype(target)
            if self.evals is not None:
                self.evals[i] = self.evals[i].astype(target)
            casts[self.names[i]] = [have.name, target.name]
        return casts

    def ordered(self, names: Sequence[str]) -> list[int]:
        """The positions of these inputs in a runtime's input order ``names``: by name when the
        names are the same set, else by position when the counts agree (a format that keeps no
        names, such as ExecuTorch's methods); otherwise ValueError naming both sides."""
        if list(names) == self.names:
            return list(range(len(names)))
        if sorted(names) == sorted(self.names) and len(set(names)) == len(names):
            return [self.names.index(n) for n in names]
        if len(names) == len(self.names) and not set(names) & set(self.names):
            return list(range(len(names)))
        raise ValueError(f"the model takes inputs {list(names)}, the request sends {self.names}: "
                         "send one array per model input, named as the model names them")


def _fits(array: np.ndarray, dtype: np.dtype) -> bool:
    """Whether every value of an integer/bool array is representable in integer ``dtype``."""
    if array.size == 0:
        return True
    info = np.iinfo(dtype)
    return bool(array.min() >= info.min and array.max() <= info.max)


def _arrays(npz: np.lib.npyio.NpzFile, specs: list[TensorSpec] | None) -> Inputs:
    files = list(npz.files)
    if TIMING in files:  # one unnamed input
        if any(f.startswith(TIMING + "/") for f in files):
            raise ValueError("the inputs .npz mixes 'timing' with 'timing/<name>' arrays: use one form")
        name = specs[0].name if specs and len(specs) == 1 else "input"
        timing = {name: npz[TIMING]}
        evals = {name: npz[EVAL]} if EVAL in files else {}
    else:
        timing = {f.split("/", 1)[1]: npz[f] for f in files if f.startswith(TIMING + "/")}
        evals = {f.split("/", 1)[1]: npz[f] for f in files if f.startswith(EVAL + "/")}
        if not timing:
            raise ValueError(f"the inputs .npz has no 'timing' or 'timing/<name>' arrays (keys: {files})")
    names = [s.name for s in specs] if specs else list(timing)
    missing = [n for n in names if n not in timing]
    extra = [n for n in timing if n not in names]
    if missing or extra:
        raise ValueError(f"the inputs .npz holds inputs {list(timing)}, the request names {names}"
                         + (f" (missing: {', '.join(missing)})" if missing else ""))
    if evals and sorted(evals) != sorted(names):
        raise ValueError(f"the inputs .npz has eval arrays for {sorted(evals)}, not for every input {names}")
    return Inputs(names, [np.asarray(timing[n], order="C") for n in names],
                  [np.asarray(evals[n], order="C") for n in names] if evals else None)


def _check(inputs: Inputs, specs: list[TensorSpec] | None) -> None:
    if inputs.evals is not None:
        counts = {int(e.shape[0]) if e.ndim else -1 for e in inputs.evals}
        if -1 in counts or len(counts) != 1:
            raise ValueError("the inputs .npz eval arrays must be [N, ...] samples, the same N for every input")
        for name, e, t in zip(inputs.names, inputs.evals, inputs.timing, strict=True):
            if e.shape[0] and e[0].size != t.size:
                raise ValueError(f"input {name}: an eval sample holds {e[0].size} values, its timing array {t.size}")
    for spec, array in zip(specs or [], inputs.timing, strict=False):
        if tuple(array.shape) != tuple(spec.shape) or str(array.dtype) != spec.dtype:
            raise ValueError(f"input {spec.name}: the .npz holds {array.dtype}{list(array.shape)}, the request "
                             f"says {spec.dtype}{list(spec.shape)}")


def load_inputs(path: str, specs: list[TensorSpec] | None = None) -> Inputs:
    """Every input's timing (and eval) arrays from an inputs .npz, checked against ``specs``."""
    with np.load(path, allow_pickle=False) as npz:
        inputs = _arrays(npz, specs)
    _check(inputs, specs)
    return inputs
