"""TFLite int8 with ai-edge-quantizer, on top of litert-torch's fp32 flatbuffer and of a user's
.tflite file used as is.

litert-torch's own PT2E static quantization turns the model's input and output into int8
tensors; every other artifact takes the model's own input type, so the static variants quantize
the fp32 flatbuffer with ai-edge-quantizer's ``static_wi8_ai8`` recipe instead (int8 weights and
activations, MinMax calibration on the model's ``calibration_set()``) and mark the graph's
INPUT and OUTPUT as not quantized: a QUANTIZE op follows a float32 input and a DEQUANTIZE op
precedes the float32 output (integer token-id inputs stay as they are).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._support import Calibration, feed_by_name
from .file_passthrough import TfliteFileFp32
from .post_quant import PostQuantized
from .registry import register
from .tflite_torch import TfliteTorchFp32


class AiEdgeStatic(PostQuantized):
    """ai-edge-quantizer ``static_wi8_ai8`` over an fp32 flatbuffer, the model's I/O types kept."""

    quantization = "int8-static"
    step_modules = ("ai_edge_quantizer", "ai_edge_litert")
    step_distributions = ("ai-edge-quantizer",)
    calibrated = True

    def step_options(self) -> dict[str, Any]:
        return {
            "tool": "ai_edge_quantizer.Quantizer",
            "recipe": "static_wi8_ai8(MIN_MAX_UNIFORM_QUANT)",
            "io": "float32 (INPUT/OUTPUT: NO_QUANTIZE)",
        }

    def quantize(self, src: Path, out_path: Path, calibration: Calibration | None, scratch: Path) -> dict[str, Any]:
        from ai_edge_litert.interpreter import Interpreter
        from ai_edge_quantizer import qtyping, quantizer, recipe, recipe_manager
        from ai_edge_quantizer.algorithm_manager import AlgorithmName

        manager = recipe_manager.RecipeManager()
        manager.load_quantization_recipe(recipe.static_wi8_ai8())
        for io in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
            manager.add_quantization_config(".*", io, algorithm_key=AlgorithmName.NO_QUANTIZE)

        signatures = Interpreter(model_path=str(src)).get_signature_list()
        if len(signatures) != 1:
            raise ValueError(f"expected one signature in the fp32 flatbuffer, found {sorted(signatures)}")
        key, signature = next(iter(signatures.items()))
        names = list(signature["inputs"])

        quant = quantizer.Quantizer(str(src))
        quant.load_quantization_recipe(manager.get_quantization_recipe())
        result = quant.calibrate({key: [feed_by_name(names, x) for x in calibration or []]}, num_threads=1)
        quant.quantize(result, enable_progress_report=False).export_model(str(out_path), overwrite=True)
        return {}


@register
class TfliteTorchInt8Static(AiEdgeStatic):
    """``static_wi8_ai8`` over ``tflite-torch-fp32``."""

    name = "tflite-torch-int8-static"
    base = TfliteTorchFp32


@register
class TfliteFileInt8Static(AiEdgeStatic):
    """``static_wi8_ai8`` over a user's .tflite file (fails with the tool's line where the file
    is already quantized or its ops are not supported by the recipe)."""

    name = "tflite-file-int8-static"
    base = TfliteFileFp32
