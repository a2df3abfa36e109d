"""A user's own .onnx / .tflite file used as is: ``onnx-file-fp32`` and ``tflite-file-fp32``.

Only user models loaded from such a file list its framework ("onnx" / "tflite") in
``spec.frameworks``, so ``testbed convert`` / ``deploy`` offer these converters for them alone.
The artifact is a byte copy of ``model.source_file()``, checked with the format's own tool
(``onnx.checker``; a .tflite by the LiteRT load check every TFLite artifact gets, ``base.LOAD_CHECKS``)
so a broken file fails here with the tool's line. Its
layout is the file's (``model.layout(source)``). The quantized variants over these bases live
with their tools: ORT int8 in :mod:`.onnx_quant`, ai-edge-quantizer int8 in :mod:`.tflite_quant`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

from testbed.errors import ConversionError

from .base import Converter, ZooModelLike
from .registry import register


class _FilePassthrough(Converter):
    """Copy the model's source file; subclasses name the format and :meth:`verify` it.

    A subclass passes its file format (``source``, also the format, the extension and the name's
    stem), ``runtime``, default ``layout``, the Python ``module`` (and its ``distribution``) that
    checks the file, and that ``check`` as class keywords.
    """

    quantization = "fp32"  # whatever the file holds: it is not converted
    check: ClassVar[str]  # how :meth:`verify` checks the copy (part of options())

    def __init_subclass__(cls, *, source: str, runtime: str, layout: str, module: str, distribution: str,
                          check: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = f"{source}-file-fp32"
        cls.source = cls.format = source
        cls.runtime = runtime
        cls.layout = layout
        cls.extension = f".{source}"
        cls.modules = (module,)
        cls.distributions = (distribution,)
        cls.check = check

    def options(self) -> dict[str, Any]:
        """The file is used unchanged; only the check differs."""
        return {"api": "shutil.copyfile(model.source_file())", "verify": self.check}

    def layout_for(self, model: ZooModelLike) -> str:
        """The layout the user's file takes (``spec.file_layout``; irrelevant for non-4-D inputs)."""
        return str(model.layout(self.source))  # type: ignore[attr-defined]

    def convert(self, model: ZooModelLike, out_path: Path) -> dict[str, Any]:
        """Copy the user's file to ``out_path`` and verify the copy."""
        source = getattr(model, "source_file", lambda: None)()
        frameworks = getattr(getattr(model, "spec", None), "frameworks", None) or []
        if source is None or self.source not in frameworks:
            raise ConversionError(
                f"{self.name}: model '{model.id}' is not a .{self.extension.lstrip('.')} file "
                f"(only a user's {self.source} file is used as is)"
            )
        try:
            shutil.copyfile(source, out_path)
            extra = self.verify(Path(out_path))
        except Exception as exc:
            raise self._fail(exc) from exc
        return {"source_file": str(source), **extra}

    def verify(self, path: Path) -> dict[str, Any]:
        """Check the copied file with the format's tool; return extra info."""
        raise NotImplementedError


# The layouts are default guesses for the format's files; layout_for() gives the file's own.
@register
class OnnxFileFp32(_FilePassthrough, source="onnx", runtime="onnxruntime", layout="NCHW", module="onnx",
                   distribution="onnx", check="onnx.checker.check_model(full_check=True)"):
    """A user's .onnx file, run by onnxruntime as it is."""

    def verify(self, path: Path) -> dict[str, Any]:
        import onnx

        onnx.checker.check_model(str(path), full_check=True)
        proto = onnx.load(str(path), load_external_data=False)
        opsets = [op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")]
        return {"opset": int(max(opsets))} if opsets else {}


@register
class TfliteFileFp32(_FilePassthrough, source="tflite", runtime="litert", layout="NHWC", module="ai_edge_litert",
                     distribution="ai-edge-litert", check="base.LOAD_CHECKS['tflite'] (LiteRT allocate_tensors)"):
    """A user's .tflite file, run by LiteRT as it is."""

    def verify(self, path: Path) -> dict[str, Any]:
        """Nothing of its own: every TFLite artifact is loaded by the shared LiteRT check."""
        return {}
