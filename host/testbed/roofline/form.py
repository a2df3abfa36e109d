"""Which ONNX graph a variant's work is counted on, and how its bytes map to the variant's.

* an fp32 ONNX variant: **the artifact itself**;
* every other variant (TFLite, ExecuTorch, quantized or fp16 ONNX, the framework formats): **the fp32
  ONNX form of the same model and source** (``onnx-torch-fp32`` for a PyTorch source,
  ``onnx-keras-fp32`` for Keras, ``onnx-file-fp32`` for an ONNX file): the same architecture and
  weights, so the same ops and FLOPs. Its bytes are scaled to the variant's element sizes: floating
  weights by the variant's weight element size (int8: 1 byte, fp16: 2), activations by 1 byte for
  int8-static (int8 activations) and 2 for ONNX fp16 (the whole graph in fp16), else kept at 4;
* a quantized ONNX file with no fp32 form (``onnx-file-int8`` of an int8 file): the artifact itself,
  quantize/dequantize nodes included.

The fp32 form comes from the conversion cache (``converters.cache.lookup``); a deploy that has it in
its plan converts it anyway. When it is missing, it is built once through ``converters.cache.build``
in a spawned process (the converters keep process-wide state, as the engine's conversion workers
do), under a lock per (model, converter) so concurrent variants wait for one conversion; a
conversion already under way in the cache (its temporary folder) is waited for, not repeated.
A TFLite file source has no ONNX form here: its variants carry that reason.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import first_line
from ..filelock import exclusive
from ..paths import cache_dir
from .count import CountError

if TYPE_CHECKING:
    from ..converters.cache import Artifact

#: The fp32 ONNX converter of each model source.
ONNX_FORM = {"pytorch": "onnx-torch-fp32", "keras": "onnx-keras-fp32", "onnx": "onnx-file-fp32"}
#: Bytes a floating weight takes in a variant of this quantization (fp32: 4).
WEIGHT_BYTES = {"fp32": 4, "fp16": 2, "int8": 1, "int8-dynamic": 1, "int8-static": 1}
CONVERT_TIMEOUT_S = 900
IN_FLIGHT_WAIT_S = 900


@dataclass(frozen=True)
class Form:
    """The ONNX file a variant is counted on and how its bytes scale."""

    path: Path
    counted_on: str  # "the artifact" | "the ONNX form of the same model (pytorch)"
    weight_scale: float  # applied to the floating weights' bytes
    activation_scale: float  # applied to the activations' bytes
    scaling: str  # the sentence the record's method carries ("" when nothing is scaled)


def form_for(art: Artifact, model: Any) -> Form:
    """The graph ``art`` is counted on; CountError with the reason when there is none."""
    if art.format == "onnx" and art.quantization == "fp32" and art.path is not None:
        return Form(art.path, "the artifact", 1.0, 1.0, "")
    converter = ONNX_FORM.get(art.source)
    try:
        if converter is None:
            raise CountError(f"no ONNX form of a {art.source} source here")
        fp32 = _fp32_form(converter, model)
    except CountError:
        if art.format == "onnx" and art.path is not None:  # a quantized ONNX file without an fp32 form
            return Form(art.path, "the artifact (no fp32 ONNX form of this source)", 1.0, 1.0, "")
        raise
    weight = WEIGHT_BYTES.get(art.quantization, 4) / 4
    activation = 0.25 if art.quantization == "int8-static" else (
        0.5 if art.quantization == "fp16" and art.format == "onnx" else 1.0)
    scaling = ""
    if weight != 1 or activation != 1:
        scaling = (f"bytes of the fp32 graph scaled to {art.quantization}: floating weights x{weight:g}, "
                   f"activations x{activation:g}")
    return Form(Path(str(fp32.path)), f"the ONNX form of the same model ({art.source})", weight, activation, scaling)


def _fp32_form(converter: str, model: Any) -> Artifact:
    """The cached fp32 ONNX artifact of ``model`` by ``converter``, built once (spawned) when missing;
    CountError with the reason when it cannot be had."""
    from ..converters import get
    from ..converters.cache import lookup

    conv = get(converter)
    ok, why = conv.available()
    if not ok:
        raise CountError(f"the ONNX form ({converter}) cannot be made here: {why}")
    hit = lookup(conv, model)
    if hit is None:
        with exclusive(cache_dir("roofline") / f"{model.id}.{converter}.lock"):
            hit = _wait_in_flight(conv, model) or _convert_spawned(model.id, converter)
    if not hit.ok or hit.path is None:
        raise CountError(f"the ONNX form ({converter}) could not be made: {hit.error}")
    return hit


def _convert_spawned(model_id: str, converter: str) -> Artifact:
    """``_convert`` in a spawned process: the converters keep process-wide state."""
    ctx = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(1, mp_context=ctx) as pool:
            art: Artifact = pool.submit(_convert, model_id, converter).result(timeout=CONVERT_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - a dead or stuck process: this variant's reason
        raise CountError(f"the ONNX form ({converter}) could not be made: {first_line(exc)}") from exc
    return art


def _wait_in_flight(conv: Any, model: Any) -> Artifact | None:
    """The artifact once a conversion of it already under way (its temporary cache folder) ends."""
    from ..converters.cache import _TMP_PREFIX, cache_key, lookup

    root, prefix = cache_dir("artifacts"), f"{_TMP_PREFIX}{cache_key(conv, model)[:16]}-"
    deadline = time.monotonic() + IN_FLIGHT_WAIT_S
    while time.monotonic() < deadline:
        hit = lookup(conv, model)
        if hit is not None or not any(p.name.startswith(prefix) for p in root.glob(f"{prefix}*")):
            return hit
        time.sleep(0.5)
    return lookup(conv, model)


def _convert(model_id: str, converter: str) -> Artifact:
    """In the spawned process: ``converters.cache.build`` (a failure is a failed Artifact)."""
    import testbed_zoo

    from ..converters.cache import build

    return build(converter, testbed_zoo.load(model_id))
