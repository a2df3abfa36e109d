"""The framework verdict of one run: per (model, board) every PyTorch-vs-TensorFlow pair, judged.

Latency: the ratio of the medians, ``ratio`` = median(TensorFlow path) / median(PyTorch path), so
above 1 the PyTorch path is faster. Its confidence interval (default 95 %) is the same seeded
two-stage bootstrap of the ratio of medians that judges regressions
(``verdicts.bootstrap_median_ratio``: repeats, then the raw samples inside each; one repeat: the
samples alone). An interval that covers 1 is "no clear difference"; otherwise the faster side is
``speedup`` times faster (the ratio or its inverse, always >= 1) with the interval turned the same
way. Fewer than ``verdicts.MIN_SAMPLES`` raw samples on a side (a native tool's summary has none):
the ratio of the records' medians is given, not judged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..verdicts import MIN_SAMPLES, bootstrap_median_ratio
from .pairs import ABSENT, BASELINE, FORMAT_NAMES, FRAMEWORK_NAMES, NATIVE, PairSpec, Side, pair_specs, side_of

PYTORCH_FASTER, TENSORFLOW_FASTER = "pytorch faster", "tensorflow faster"
NO_DIFFERENCE, NOT_JUDGED, NOT_COMPARED = "no clear difference", "not judged", "not compared"
CONFIDENCE = 0.95
SEED = 0  # the bootstrap's: the same samples give the same interval
#: Why a side is absent when nothing better is known (``for_run`` knows the run's filters).
NOT_IN_RUN = "not in this run"


@dataclass
class PathPair:
    """A PyTorch-source and a TensorFlow (Keras-source) variant that differ only in their source."""

    kind: str  # format | native | baseline (pairs.py)
    format: str  # onnx / tflite; executorch/tflite (native); framework (baseline)
    precision: str  # fp32 / fp16 / int8-dynamic / int8-static
    label: str  # the pair in words: "fp32 ONNX"
    threads: int | None  # the records' threads when the run measured several settings, else None
    pytorch: Side
    tensorflow: Side
    verdict: str  # pytorch faster | tensorflow faster | no clear difference | not judged | not compared
    reason: str  # the verdict in a sentence, with the figures
    ratio: float | None = None  # median(TensorFlow path) / median(PyTorch path)
    ci: tuple[float, float] | None = None  # its interval
    confidence: float = CONFIDENCE
    speedup: float | None = None  # how many times faster the faster side is (>= 1)
    speedup_ci: tuple[float, float] | None = None

    @property
    def family(self) -> str:
        """The pair's kind in a word: the format (``ONNX``, ``TFLite``), ``native`` or ``frameworks``."""
        return {NATIVE: "native", BASELINE: "frameworks"}.get(self.kind, FORMAT_NAMES.get(self.format, self.format))

    def faster_slower(self) -> tuple[Side, Side]:
        """(faster, slower) by the point estimate; PyTorch first when equal or not measured."""
        return ((self.tensorflow, self.pytorch) if self.ratio is not None and self.ratio < 1
                else (self.pytorch, self.tensorflow))


@dataclass
class FrameworkVerdict:
    """Which framework's path wins on one board for one model, pair by pair."""

    model: str
    device: str
    run_id: str | None = None  # the run (or deployment) the records come from
    pairs: list[PathPair] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types (tuples as lists), with the summary paragraph."""
        return asdict(self) | {"summary": self.summary()}

    def ordered(self) -> list[PathPair]:
        """The pairs by what matters: confident differences (largest first), no clear difference,
        not judged, then the pairs a side is missing from."""
        rank = {PYTORCH_FASTER: 0, TENSORFLOW_FASTER: 0, NO_DIFFERENCE: 1, NOT_JUDGED: 2, NOT_COMPARED: 3}
        return sorted(self.pairs, key=lambda p: (rank[p.verdict], -(p.speedup or 0.0)))

    def summary(self) -> str:
        """One paragraph, pairs in ``ordered()`` order: ``On pi4, digits_cnn — int8-static TFLite: Keras is
        1.30x [1.25-1.35] faster than PyTorch (2.00 ms vs 2.60 ms median); fp32 ONNX: no clear
        difference (...); ...``."""
        if not self.pairs:
            return (f"On {self.device}, {self.model} — no PyTorch/TensorFlow pair in this run (each pair needs "
                    "a variant of the same format and precision from each source, or both frameworks' baselines).")
        several = len({p.threads for p in self.pairs}) > 1
        clauses = [(f"t{p.threads} " if several and p.threads is not None else "") + f"{p.label}: {p.reason}"
                   for p in self.ordered()]
        tail = f" Ratios of median latency, {CONFIDENCE:.0%} bootstrap CI in brackets."
        judged = [s for p in self.pairs if p.ci for s in (p.pytorch, p.tensorflow)]
        once = [s for s in judged if s.repeats == 1]
        if once:  # the bootstrap has no runs to resample: run-to-run noise (load, heat) is not in the interval
            who = "One run per variant" if len(once) == len(judged) else "Some variants ran once"
            tail += (f" {who}: the intervals hold the noise within a run, not between runs (a plan with "
                     "repeats: 3 measures that too).")
        if any(p.pytorch.energy_estimated or p.tensorflow.energy_estimated for p in self.pairs):
            tail += " Energy figures are ESTIMATED (a CPU utilisation model, not a sensor)."
        return f"On {self.device}, {self.model} — " + "; ".join(clauses) + "." + tail


def sample_key(record: dict[str, Any]) -> str:
    """The key of a record's raw samples in ``compare``'s ``samples``:
    ``device/model/converter/t<threads|default>`` (repeats of one variant share it: pooled)."""
    threads = record.get("threads")
    return (f"{record.get('device')}/{record.get('model')}/{record.get('converter')}/"
            f"t{threads if threads is not None else 'default'}")


def compare(records: list[dict], samples: dict[str, list[int]] | None = None) -> list[FrameworkVerdict]:
    """One ``FrameworkVerdict`` per (model, board) of ``records`` (the stored result records of a run,
    failed ones included); ``samples``: raw latency samples in ns by ``sample_key`` (None: the records'
    medians are compared, without intervals)."""
    runs = {key: [np.asarray(values, dtype=np.float64)] for key, values in (samples or {}).items() if values}
    return judge(records, runs)


def judge(records: list[dict], runs: dict[str, list[np.ndarray]],
          absent: Callable[[str], str] | None = None, run_id: str | None = None) -> list[FrameworkVerdict]:
    """``compare`` with the raw samples per repeat (``sample_key`` -> one array per repeat, ns) and
    ``absent(converter) -> reason`` for a side the run does not hold (default: ``NOT_IN_RUN``)."""
    specs = pair_specs()
    why = absent or (lambda converter: NOT_IN_RUN)
    verdicts = []
    for (model, device), group in _groups(records).items():
        verdict = FrameworkVerdict(model=model, device=device, run_id=run_id)
        # one set of pairs per threads setting; a record without threads (not measured) belongs to each
        settings = sorted({int(r["threads"]) for r in group if r.get("threads") is not None})
        groups: list[int | None] = [*settings] or [None]
        for threads in groups:
            mine = [r for r in group if r.get("threads") in (threads, None)]
            verdict.pairs += _pairs(specs, mine, runs, why, threads if len(settings) > 1 else None)
        verdicts.append(verdict)
    return verdicts


def _groups(records: list[dict]) -> dict[tuple[str, str], list[dict]]:
    out: dict[tuple[str, str], list[dict]] = {}
    for rec in records:
        out.setdefault((str(rec.get("model")), str(rec.get("device"))), []).append(rec)
    return out


def _pairs(specs: list[PairSpec], records: list[dict], runs: dict[str, list[np.ndarray]], why: Callable[[str], str],
           threads: int | None) -> list[PathPair]:
    """The pairs of one (model, board, threads): a pair at least one side of which is in the records
    (both, for the native paths: each is already in a same-format pair or the only one of its kind)."""
    by_variant: dict[str, list[dict]] = {}
    for rec in records:
        by_variant.setdefault(str(rec.get("converter")), []).append(rec)
    out = []
    for spec in specs:
        chosen = {fw: next((n for n in names if n in by_variant), None)
                  for fw, names in (("pytorch", spec.pytorch), ("tensorflow", spec.tensorflow))}
        present = [fw for fw, name in chosen.items() if name]
        if not present or (spec.kind == NATIVE and len(present) < 2):
            continue
        sides, side_runs = {}, {}
        for fw, names in (("pytorch", spec.pytorch), ("tensorflow", spec.tensorflow)):
            name = chosen[fw] or names[0]
            recs = by_variant.get(name, [])
            side_runs[fw] = _runs(recs, runs)
            sides[fw] = side_of(spec, fw, name, recs, side_runs[fw], why(name))
        out.append(judge_pair(spec, sides["pytorch"], sides["tensorflow"], threads, side_runs["pytorch"],
                              side_runs["tensorflow"]))
    return out


def _runs(records: list[dict], runs: dict[str, list[np.ndarray]]) -> list[np.ndarray]:
    """The raw runs of a variant's measured records (its repeats share one key: taken once)."""
    keys = dict.fromkeys(sample_key(r) for r in records if r.get("status") == "ok")
    return [a for key in keys for a in runs.get(key, [])]


def judge_pair(spec: PairSpec, pt: Side, tf: Side, threads: int | None, pt_runs: list[np.ndarray],
               tf_runs: list[np.ndarray], confidence: float = CONFIDENCE) -> PathPair:
    """The pair's verdict: which side is faster and by how much, from the raw samples (ns per repeat)."""
    pair = PathPair(kind=spec.kind, format=spec.format, precision=spec.precision, label=spec.label(),
                    threads=threads, pytorch=pt, tensorflow=tf, verdict=NOT_COMPARED, reason="",
                    confidence=confidence)
    missing = [s for s in (pt, tf) if not s.measured]
    if missing:
        pair.reason = _missing_reason(pt, tf, missing)
        return pair
    assert pt.p50_ms is not None and tf.p50_ms is not None
    pair.ratio = tf.p50_ms / pt.p50_ms
    if min(sum(a.size for a in pt_runs), sum(a.size for a in tf_runs)) < MIN_SAMPLES:
        pair.verdict = NOT_JUDGED
        pair.reason = (f"{_vs(pair)}; not judged: fewer than {MIN_SAMPLES} raw samples on a side "
                       "(a tool's summary has none)")
        return pair
    lo, hi = bootstrap_median_ratio(pt_runs, tf_runs, confidence=confidence, seed=SEED)
    pair.ci = (1.0 + lo, 1.0 + hi)
    if pair.ci[0] <= 1.0 <= pair.ci[1]:
        pair.verdict = NO_DIFFERENCE
        pair.reason = (f"no clear difference ({_medians(pair)}; {side_name(tf)}/{side_name(pt)} time "
                       f"{pair.ratio:.2f}x {interval(pair.ci)})")
        return pair
    tf_wins = pair.ci[1] < 1.0  # the interval decides the direction (the point estimate lies inside it)
    pair.verdict = TENSORFLOW_FASTER if tf_wins else PYTORCH_FASTER
    pair.speedup = 1.0 / pair.ratio if tf_wins else pair.ratio
    pair.speedup_ci = (1.0 / pair.ci[1], 1.0 / pair.ci[0]) if tf_wins else pair.ci
    fast, slow = pair.faster_slower()
    who = (lambda s: s.path) if spec.kind == NATIVE else side_name
    pair.reason = (f"{who(fast)} is {pair.speedup:.2f}x {interval(pair.speedup_ci)} faster than {who(slow)} "
                   f"({_ms(fast.p50_ms)} vs {_ms(slow.p50_ms)} median)")
    return pair


def _vs(pair: PathPair) -> str:
    return (f"{side_name(pair.tensorflow)}/{side_name(pair.pytorch)} time {pair.ratio:.2f}x without a CI "
            f"({_medians(pair)})")


def _medians(pair: PathPair) -> str:
    """``PyTorch 57.5 µs, Keras 57.3 µs median``."""
    return ", ".join(f"{side_name(s)} {_ms(s.p50_ms)}" for s in (pair.pytorch, pair.tensorflow)) + " median"


def interval(ci: tuple[float, float]) -> str:
    """``[1.25-1.35]``; more decimals (up to 4) where two would print both bounds alike, or a bound
    as 1.00 that is not 1: ``[1.295-1.304]``."""
    digits = 2
    while digits < 4 and (f"{ci[0]:.{digits}f}" == f"{ci[1]:.{digits}f}"
                          or any(f"{b:.{digits}f}" == f"{1:.{digits}f}" and b != 1.0 for b in ci)):
        digits += 1
    return f"[{ci[0]:.{digits}f}-{ci[1]:.{digits}f}]"


def side_name(side: Side) -> str:
    """``Keras``/``PyTorch`` for a converted path, the framework's name for a baseline."""
    return "Keras" if side.framework == "tensorflow" and " from " in side.path else FRAMEWORK_NAMES[side.framework]


def _missing_reason(pt: Side, tf: Side, missing: list[Side]) -> str:
    """``only ONNX from Keras measured (PyTorch side failed: <first line, cut>)``; neither: each side's
    reason, or the one they share."""
    def why(side: Side) -> str:
        reason = _cut((side.reason or "").strip().split("\n")[0])
        if side.status == ABSENT:
            return reason or NOT_IN_RUN
        return side.status + (f": {reason}" if reason else "")
    if len(missing) == 2:
        if why(pt) == why(tf):
            return f"neither side measured (both {why(pt)})"
        return f"neither side measured ({side_name(pt)} side {why(pt)}; {side_name(tf)} side {why(tf)})"
    (gone,) = missing
    kept = tf if gone is pt else pt
    return f"only {kept.path} measured ({side_name(gone)} side {why(gone)})"


def _cut(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _ms(value: float | None) -> str:
    """A median (in ms) with its unit, three significant digits: ``2.00 ms``, ``32.1 µs``, ``431 ms``."""
    if value is None:
        return "–"
    if value < 1.0:
        return f"{value * 1000:#.3g} µs".replace(". ", " ")
    return f"{value:#.3g} ms".replace(". ", " ") if value < 100 else f"{value:.0f} ms"
