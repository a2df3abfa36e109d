"""A user's own .onnx / .tflite file used as is: ``<onnx|tflite>-file-<fp32|fp16|int8>``.

Only user models loaded from such a file list its framework ("onnx" / "tflite") in
``spec.frameworks``, so ``testbed convert`` / ``deploy`` offer these converters for them alone,
and of the three only the one named for what the file computes in (``spec.file_precision``, read
from its ops and tensor types by models/precision.py): a file made with ORT's
``quantize_dynamic`` is ``onnx-file-int8``, never ``onnx-file-fp32``. The artifact is a byte copy
of ``model.source_file()``, checked with the format's own tool (``onnx.checker``; a .tflite by the
LiteRT load check every TFLite artifact gets, ``base.LOAD_CHECKS``) so a broken file fails here
with the tool's line. Its layout is the file's (``model.layout(source)``). The quantized variants
over the fp32 files live with their tools: ORT int8 in :mod:`.onnx_quant`, ai-edge-quantizer
int8 in :mod:`.tflite_quant`; a file that is not fp32 is not quantized again
(:meth:`_FilePassthrough.quantizable` says why).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

from testbed.errors import ConversionError

from .base import Converter, ZooModelLike
from .registry import register


class _FilePassthrough(Converter):
    """Copy the model's source file; a format's subclass names its tool and :meth:`verify`-es the
    copy, and one registered class per precision sets ``name`` and ``quantization``."""

    check: ClassVar[str]  # how :meth:`verify` checks the copy (part of options())

    def options(self) -> dict[str, Any]:
        """The file is used unchanged; only the check differs."""
        return {"api": "shutil.copyfile(model.source_file())", "verify": self.check}

    def layout_for(self, model: ZooModelLike) -> str:
        """The layout the user's file takes (``spec.file_layout``; irrelevant for non-4-D inputs)."""
        return str(model.layout(self.source))  # type: ignore[attr-defined]

    def offered_for(self, model: ZooModelLike) -> tuple[bool, str | None]:
        """Offered for a user's file of this format whose precision is this converter's."""
        offered, why = super().offered_for(model)
        return offered and _precision(model) == self.quantization, why

    def quantizable(self, model: ZooModelLike) -> tuple[bool, str | None]:
        """Only an fp32 file is quantized: an int8 (or fp16) one is refused with the evidence."""
        offered, _ = super().offered_for(model)
        precision = _precision(model)
        if not offered or precision == "fp32":
            return offered, None
        evidence = getattr(model, "precision_evidence", "")
        name = getattr(getattr(model, "source_file", lambda: None)(), "name", model.id)
        return False, (f"{name} is already {precision}{f' ({evidence})' if evidence else ''}: "
                       "a quantized model is not quantized again")

    def convert(self, model: ZooModelLike, out_path: Path) -> dict[str, Any]:
        """Copy the user's file to ``out_path`` and verify the copy."""
        source = getattr(model, "source_file", lambda: None)()
        frameworks = getattr(getattr(model, "spec", None), "frameworks", None) or []
        if source is None or self.source not in frameworks:
            raise ConversionError(
                f"{self.name}: model '{model.id}' is not a .{self.extension.lstrip('.')} file "
                f"(only a user's {self.source} file is used as is)"
            )
        precision = _precision(model)
        if precision != self.quantization:
            raise ConversionError(f"{self.name}: {source.name} is {precision}, not {self.quantization} "
                                  f"(its variant is {self.source}-file-{precision})")
        try:
            shutil.copyfile(source, out_path)
            extra = self.verify(Path(out_path))
        except Exception as exc:
            raise self._fail(exc) from exc
        evidence = getattr(model, "precision_evidence", "")
        return {"source_file": str(source), "file_precision": precision,
                **({"precision_evidence": evidence} if evidence else {}), **extra}

    def verify(self, path: Path) -> dict[str, Any]:
        """Check the copied file with the format's tool; return extra info."""
        raise NotImplementedError


def _precision(model: ZooModelLike) -> str:
    """The user's file's ``spec.file_precision`` (fp32 where a model does not say)."""
    return getattr(getattr(model, "spec", None), "file_precision", None) or "fp32"


class _OnnxFile(_FilePassthrough):
    """A user's .onnx file, run by onnxruntime as it is (NCHW is the default guess; layout_for()
    gives the file's own)."""

    source = format = "onnx"
    runtime = "onnxruntime"
    layout = "NCHW"
    extension = ".onnx"
    modules = ("onnx",)
    distributions = ("onnx",)
    check = "onnx.checker.check_model(full_check=True)"

    def verify(self, path: Path) -> dict[str, Any]:
        import onnx

        onnx.checker.check_model(str(path), full_check=True)
        proto = onnx.load(str(path), load_external_data=False)
        opsets = [op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")]
        return {"opset": int(max(opsets))} if opsets else {}


class _TfliteFile(_FilePassthrough):
    """A user's .tflite file, run by LiteRT as it is (NHWC is the default guess)."""

    source = format = "tflite"
    runtime = "litert"
    layout = "NHWC"
    extension = ".tflite"
    modules = ("ai_edge_litert",)
    distributions = ("ai-edge-litert",)
    check = "base.LOAD_CHECKS['tflite'] (LiteRT allocate_tensors)"

    def verify(self, path: Path) -> dict[str, Any]:
        """Nothing of its own: every TFLite artifact is loaded by the shared LiteRT check."""
        return {}


@register
class OnnxFileFp32(_OnnxFile):
    name = "onnx-file-fp32"
    quantization = "fp32"


@register
class OnnxFileFp16(_OnnxFile):
    name = "onnx-file-fp16"
    quantization = "fp16"


@register
class OnnxFileInt8(_OnnxFile):
    name = "onnx-file-int8"
    quantization = "int8"


@register
class TfliteFileFp32(_TfliteFile):
    name = "tflite-file-fp32"
    quantization = "fp32"


@register
class TfliteFileFp16(_TfliteFile):
    name = "tflite-file-fp16"
    quantization = "fp16"


@register
class TfliteFileInt8(_TfliteFile):
    name = "tflite-file-int8"
    quantization = "int8"
