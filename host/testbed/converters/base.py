"""The ``Converter`` interface: one way of turning a zoo model into a deployable artifact.

A converter is cheap to construct and to import: it names the tools it needs, and imports the
heavy frameworks (torch, TensorFlow, ExecuTorch, ...) only inside :meth:`Converter.convert`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from testbed.errors import ConversionError, first_line

from ._support import litert_loads

# Where a converter starts from: a zoo / user model's PyTorch or Keras form, or a user's own
# .onnx / .tflite file used as is (the ``*-file-*`` converters; only such models list them).
SOURCES = ("pytorch", "keras", "onnx", "tflite")
FORMATS = ("executorch", "onnx", "tflite")
# What a converter's artifact computes in (``Converter.quantization``):
#   "fp32"          float32 weights and activations (no quantization).
#   "fp16"          float16 weights, dequantized at load time or computed in fp16 where the runtime
#                   can (TFLite); inputs and outputs stay float32.
#   "int8-dynamic"  int8 weights; activations quantized at run time per inference (dynamic-range,
#                   no calibration); inputs and outputs stay float32.
#   "int8-static"   int8 weights and int8 activations with scales fixed by calibration on
#                   ``calibration_set()`` (full-integer / PT2E static / ORT QDQ static); the
#                   artifact still takes and returns float32 (a quantize op at the input, a
#                   dequantize op at the output).
#   "int8"          a user's already-quantized .onnx / .tflite file used as is (``*-file-int8``):
#                   int8 weights, activations dynamic or static as the file was made (its
#                   quantization ops / int8 tensors, spec.file_precision); never quantized again.
# Every artifact takes the model's own input dtype (``spec.input_dtype``): float32 images, int32
# token ids (integer inputs are never quantized: calibration feeds the real ids).
QUANTIZATIONS = ("fp32", "fp16", "int8-dynamic", "int8-static", "int8")
# Modules of this package that every converter's artifact depends on besides its own class's
# module(s): part of each converter's implementation hash (hence of the cache key).
SHARED_MODULES = ("base.py", "_support.py", "post_quant.py")
_PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class LoadCheck:
    """How an artifact of one format is loaded by the runtime that runs it on a board."""

    runtime: str  # the runtime's name in messages, e.g. "LiteRT"
    module: str  # the import name the check needs (part of available())
    distribution: str  # its distribution (part of tool_versions(), hence of the cache key)
    check: Callable[[Path], None]  # raises the runtime's own exception when it cannot load the file


# Every artifact of these formats must load in its runtime before it counts as converted
# (Converter.check_loads, run by the cache on every fresh artifact): a converter can write a file
# the runtime then refuses (litert-torch's dynamic int8 embedding with a zero point != 0), and such
# a file is a failed conversion with the runtime's reason, never an artifact sent to a board.
LOAD_CHECKS: dict[str, LoadCheck] = {
    "tflite": LoadCheck("LiteRT", "ai_edge_litert", "ai-edge-litert", litert_loads),
}


class ZooModelLike(Protocol):
    """What a converter needs from a model (``testbed_zoo.ZooModel`` satisfies it)."""

    id: str

    def source_hash(self) -> str: ...

    def torch_module(self) -> Any: ...

    def keras_model(self) -> Any: ...

    spec: Any  # testbed_zoo.ModelSpec: inputs and outputs, each named

    def example_inputs(self, layout: str = "NCHW") -> Any: ...

    def calibration_inputs(self, n: int = 64) -> Any: ...


class Converter(ABC):
    """Converts a zoo model into one artifact format with one tool chain.

    Subclasses set the class attributes and implement :meth:`convert`. ``modules`` are the
    import names that must be installed (checked with ``importlib.util.find_spec``, nothing
    imported); ``distributions`` are the package distributions whose versions describe the tool
    chain (each entry may list alternatives, e.g. ``"tensorflow|tensorflow-cpu"``).
    """

    name: ClassVar[str]
    source: ClassVar[str]
    format: ClassVar[str]
    quantization: ClassVar[str] = "fp32"
    runtime: ClassVar[str]  # the agent runtime (registry name, testbed_agent.runtimes) that runs the artifact
    layout: ClassVar[str]
    extension: ClassVar[str]
    modules: ClassVar[tuple[str, ...]] = ()
    distributions: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def available(self) -> tuple[bool, str | None]:
        """Whether this host can run the converter: ``(True, None)`` or ``(False, reason)``."""
        load_check = LOAD_CHECKS.get(self.format)
        modules = dict.fromkeys((*self.modules, *((load_check.module,) if load_check else ())))
        missing = [mod for mod in modules if not _module_installed(mod)]
        if missing:
            return False, f"missing Python package(s): {', '.join(missing)}"
        return True, None

    def tool_versions(self) -> dict[str, str]:
        """Installed versions of every distribution in the tool chain (``"missing"`` if absent)."""
        versions: dict[str, str] = {}
        load_check = LOAD_CHECKS.get(self.format)
        entries = (*self.distributions, *((load_check.distribution,) if load_check else ()))
        for entry in dict.fromkeys(entries):
            names = entry.split("|")
            for dist in names:
                try:
                    versions[dist] = importlib.metadata.version(dist)
                    break
                except importlib.metadata.PackageNotFoundError:
                    continue
            else:
                versions[names[0]] = "missing"
        return versions

    def options(self) -> dict[str, Any]:
        """The options that affect the produced artifact (part of the cache key)."""
        return {}

    def layout_for(self, model: ZooModelLike) -> str:
        """The layout the artifact made from ``model`` takes 4-D inputs in: the class's ``layout``
        (converters that use a user's file as is take the file's own)."""
        return self.layout

    def offered_for(self, model: ZooModelLike) -> tuple[bool, str | None]:
        """Whether this converter makes a variant of ``model``: ``(True, None)``, or ``(False, why)``.

        ``why`` is None when there is nothing to tell (the model lacks the converter's source
        framework, e.g. a user's .onnx has no Keras side, or another converter makes the same
        variant); else one line for the user (e.g. an int8 file is not quantized again).
        """
        frameworks = getattr(getattr(model, "spec", None), "frameworks", None) or []
        return not frameworks or self.source in frameworks, None

    def quantizable(self, model: ZooModelLike) -> tuple[bool, str | None]:
        """Whether a quantization step (:class:`post_quant.PostQuantized`) may take this
        converter's artifact of ``model`` as its fp32 input, as :meth:`offered_for` answers."""
        return self.offered_for(model)

    def implementation_files(self) -> list[Path]:
        """The source files whose code decides the artifact: the module of every converter class
        in this class's MRO (a subclass in a test or plugin module included) plus
        ``SHARED_MODULES``. :class:`post_quant.PostQuantized` adds its base converter's."""
        files = [_PACKAGE_DIR / name for name in SHARED_MODULES]
        for cls in type(self).__mro__:
            if isinstance(cls, type) and issubclass(cls, Converter):
                module = sys.modules.get(cls.__module__)
                path = getattr(module, "__file__", None)
                if path:
                    files.append(Path(path).resolve())
        return list(dict.fromkeys(files))

    def implementation_hash(self) -> str:
        """sha256 hex over :meth:`implementation_files` (names relative to this package, bytes
        as they are on disk now): editing a converter's code changes its cache key even when
        ``options()`` stays the same."""
        digest = hashlib.sha256()
        for path in sorted(self.implementation_files(), key=_code_name):
            content = path.read_bytes()
            digest.update(_code_name(path).encode("utf-8") + b"\0" + str(len(content)).encode("ascii") + b"\0")
            digest.update(content)
        return digest.hexdigest()

    @abstractmethod
    def convert(self, model: ZooModelLike, out_path: Path) -> dict[str, Any]:
        """Write the artifact for ``model`` to ``out_path``; return extra info (may be empty).

        Raises:
            ConversionError: the tool failed; the message is the tool's first useful line.
        """

    def check_loads(self, path: Path) -> None:
        """Load the artifact at ``path`` with the runtime that runs it (``LOAD_CHECKS``; nothing
        for a format without a check).

        Raises:
            ConversionError: "<converter>: <runtime> cannot load the artifact: <runtime's line>".
        """
        load_check = LOAD_CHECKS.get(self.format)
        if load_check is None:
            return
        try:
            load_check.check(path)
        except Exception as exc:
            raise ConversionError(
                f"{self.name}: {load_check.runtime} cannot load the artifact: {first_line(exc)}"
            ) from exc

    def _fail(self, exc: BaseException) -> ConversionError:
        """A ``ConversionError`` naming this converter and the tool's first useful line (terminal
        colour codes, which some exporters put in their messages, removed)."""
        text = _ANSI.sub("", str(exc)).strip()
        return ConversionError(f"{self.name}: {first_line(Exception(text) if text else exc)}")


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _code_name(path: Path) -> str:
    """A checkout-independent name for a source file: relative to this package, else its file name."""
    try:
        return path.relative_to(_PACKAGE_DIR).as_posix()
    except ValueError:
        return f"<external>/{path.name}"


def _module_installed(name: str) -> bool:
    """True when ``name`` can be imported, without importing it (parents may be imported)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
