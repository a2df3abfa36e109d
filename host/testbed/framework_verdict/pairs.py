"""Which paths are paired, and what one side of a pair holds (``Side``, built from its records).

A pair sets a PyTorch-source variant against a Keras-source (TensorFlow) one that differ in nothing
else; the converter registry says which exist (``pair_specs``):

* ``format``: the same format and precision made from each source (``onnx-torch-fp32`` vs
  ``onnx-keras-fp32``): what the source framework costs on one runtime;
* ``native``: each framework's own edge path at one precision, ExecuTorch from PyTorch (XNNPACK
  before the portable kernels) vs TFLite from Keras: what a user of each framework ships;
* ``baseline``: the frameworks themselves on the board (``pytorch-export-fp32`` vs
  ``tensorflow-savedmodel-fp32``).

A variant only one source can make (TFLite fp16 exists from Keras alone) has no pair and is left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

FORMAT, NATIVE, BASELINE = "format", "native", "baseline"
#: The framework each source belongs to (a user's .onnx / .tflite file belongs to neither).
FRAMEWORK = {"pytorch": "pytorch", "keras": "tensorflow"}
FORMAT_NAMES = {"onnx": "ONNX", "tflite": "TFLite", "executorch": "ExecuTorch"}
SOURCE_NAMES = {"pytorch": "PyTorch", "keras": "Keras"}
FRAMEWORK_NAMES = {"pytorch": "PyTorch", "tensorflow": "TensorFlow"}
#: The frameworks' own edge formats (the ``native`` pair).
NATIVE_FORMAT = {"pytorch": "executorch", "tensorflow": "tflite"}
#: Status of a side with no record in the run.
ABSENT = "absent"


@dataclass(frozen=True)
class PairSpec:
    """One pair the registry makes possible: each side's converters, the preferred one first."""

    kind: str  # FORMAT | NATIVE | BASELINE
    format: str  # onnx / tflite (FORMAT), "executorch/tflite" (NATIVE), "framework" (BASELINE)
    precision: str  # the converters' quantization
    pytorch: tuple[str, ...]  # converter names of the PyTorch side, preferred first
    tensorflow: tuple[str, ...]  # of the TensorFlow (Keras-source) side

    def side_format(self, framework: str) -> str:
        """The format of ``framework``'s side: the pair's own, each one's edge format, or the framework."""
        if self.kind == BASELINE:
            return framework
        return NATIVE_FORMAT[framework] if self.kind == NATIVE else self.format

    def label(self) -> str:
        """``fp32 ONNX``, ``int8-static native paths``, ``the frameworks themselves (fp32)``."""
        if self.kind == BASELINE:
            return f"the frameworks themselves ({self.precision})"
        if self.kind == NATIVE:
            return f"{self.precision} native paths"
        return f"{self.precision} {FORMAT_NAMES.get(self.format, self.format)}"


def pair_specs(converters: Iterable[Any] | None = None) -> list[PairSpec]:
    """Every pair the converters (default: the registry's) make possible, in a stable order:
    same-format pairs by format and precision, then the native paths, then the baselines."""
    if converters is None:
        from ..converters import all_converters

        converters = all_converters()
    by_side: dict[tuple[str, str, str], list[str]] = {}
    for conv in converters:
        framework = FRAMEWORK.get(conv.source)
        if framework:
            by_side.setdefault((framework, conv.format, conv.quantization), []).append(conv.name)
    for names in by_side.values():  # XNNPACK before the portable kernels: the path users ship
        names.sort(key=lambda n: ("portable" in n, n))
    specs = []
    for (framework, fmt, quant), names in sorted(by_side.items()):
        other = by_side.get(("tensorflow", fmt, quant))
        if framework == "pytorch" and other and fmt in FORMAT_NAMES:
            specs.append(PairSpec(FORMAT, fmt, quant, tuple(names), tuple(other)))
    for (framework, fmt, quant), names in sorted(by_side.items()):
        other = by_side.get(("tensorflow", NATIVE_FORMAT["tensorflow"], quant))
        if framework == "pytorch" and fmt == NATIVE_FORMAT["pytorch"] and other:
            specs.append(PairSpec(NATIVE, "executorch/tflite", quant, tuple(names), tuple(other)))
    for quant in sorted({q for (f, fmt, q) in by_side if f == "pytorch" and fmt == "pytorch"}):
        tf = by_side.get(("tensorflow", "tensorflow", quant))
        if tf:
            specs.append(PairSpec(BASELINE, "framework", quant, tuple(by_side[("pytorch", "pytorch", quant)]),
                                  tuple(tf)))
    return specs


def path_name(fmt: str | None, source: str | None, variant: str | None = None) -> str:
    """How a path reads in a sentence: ``TFLite from Keras``, ``ExecuTorch from PyTorch``, ``PyTorch``
    (the framework itself)."""
    if fmt in ("pytorch", "tensorflow"):
        return FRAMEWORK_NAMES[fmt]
    name = f"{FORMAT_NAMES.get(fmt or '', fmt)} from {SOURCE_NAMES.get(source or '', source)}"
    if fmt == "executorch" and variant and "portable" in variant:
        return name + " (portable kernels)"
    return name


@dataclass
class Side:
    """One framework's variant in a pair, as its records say (several records: the repeats of a plan)."""

    framework: str  # pytorch | tensorflow
    variant: str  # the converter (the one expected, when the run has none)
    path: str  # the path in words: "ONNX from PyTorch"
    status: str  # ok | failed | skipped | error | pending (the cell's state) | absent (not in the run)
    reason: str | None = None  # why it was not measured: the failure's whole reason, or why it is absent
    runtime: str | None = None
    p50_ms: float | None = None  # median of the raw samples (every repeat pooled); else of the records' p50
    n_samples: int = 0  # raw samples behind p50_ms (0: a tool's summary, no raw samples)
    repeats: int = 0  # records measured
    size_bytes: int | None = None
    model_memory_mb: float | None = None  # the model's own memory (record v3), median over repeats
    energy_mj_per_inference: float | None = None  # net of idle, median over repeats
    energy_estimated: bool = False  # True: a model of CPU utilisation, not a sensor (ESTIMATED)
    agreement: str | None = None  # the worst output's agreement with the source, in words
    parity: dict[str, Any] | None = None  # that output's parity figures (record ``parity``)
    accuracy: float | None = None  # top-1 on the model's evaluation inputs

    @property
    def measured(self) -> bool:
        return self.status == "ok" and self.p50_ms is not None


def side_of(spec: PairSpec, framework: str, variant: str, records: list[dict], runs: list[np.ndarray],
            absent_reason: str) -> Side:
    """``framework``'s side of the pair: ``variant`` from its records (none: absent, with
    ``absent_reason``) and raw runs (ns, one array per repeat)."""
    first = records[0] if records else {}
    source = "pytorch" if framework == "pytorch" else "keras"
    side = Side(framework=framework, variant=variant, path=path_name(spec.side_format(framework), source, variant),
                status=ABSENT, reason=absent_reason, runtime=first.get("runtime"))
    if not records:
        return side
    ok = [r for r in records if r.get("status") == "ok"]
    side.size_bytes = next((r["size_bytes"] for r in records if r.get("size_bytes")), None)
    if not ok:
        side.status, side.reason = str(first.get("status")), first.get("error") or "no reason recorded"
        return side
    side.status, side.reason, side.repeats = "ok", None, len(ok)
    pooled = np.concatenate(runs) if runs else np.empty(0)
    if pooled.size:
        side.p50_ms, side.n_samples = float(np.median(pooled)) / 1e6, int(pooled.size)
    else:  # a native tool's summary (adb boards): its p50, no raw samples
        side.p50_ms = _median([(r.get("latency_ms") or {}).get("p50") for r in ok])
    side.model_memory_mb = _median([r.get("model_memory_mb") for r in ok])
    powers = [r.get("power") or {} for r in ok]
    side.energy_mj_per_inference = _median([p.get("energy_mj_per_inference") for p in powers])
    side.energy_estimated = side.energy_mj_per_inference is not None and any(p.get("estimated") for p in powers)
    side.parity = next((r["parity"] for r in ok if r.get("parity")), None)
    side.agreement = agreement(side.parity)
    side.accuracy = next((r["accuracy"] for r in ok if r.get("accuracy") is not None), None)
    return side


def agreement(parity: dict[str, Any] | None) -> str | None:
    """The worst output's agreement, short: ``top-1 100.0 %``, ``cos 0.9981``, ``IoU 0.912``."""
    par = parity or {}
    if par.get("cosine_min") is not None:
        return f"cos {par['cosine_min']:.4f}"
    if par.get("iou_min") is not None:
        return f"IoU {par['iou_min']:.3f}"
    if par.get("top1_agreement") is not None:
        return f"top-1 {par['top1_agreement'] * 100:.1f} %"
    return None


def _median(values: list[Any]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return float(np.median(present)) if present else None
