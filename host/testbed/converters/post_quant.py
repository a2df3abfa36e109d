"""Post-training quantization as a step on top of another converter's fp32 artifact.

A :class:`PostQuantized` converter names its ``base`` converter class; it builds (or takes
from the cache) the base artifact and runs one quantization tool over that file. The same
step class therefore serves every source that reaches the format: ONNX from PyTorch and from
Keras get identical ORT int8 variants by declaring two tiny subclasses.

Source, format, runtime, layout and extension come from the base; the required modules and the
tool versions are the base's plus the step's, and ``options()`` nests the base's options, so
the cache key changes when either side does.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from testbed.errors import ConversionError

from ._support import CALIBRATION_SAMPLES, Calibration, calibration_inputs
from .base import Converter, ZooModelLike


class PostQuantized(Converter):
    """Quantize the artifact of ``base`` with one tool; subclasses implement :meth:`quantize`."""

    base: ClassVar[type[Converter]]
    # What the step itself needs on top of the base's modules / distributions.
    step_modules: ClassVar[tuple[str, ...]] = ()
    step_distributions: ClassVar[tuple[str, ...]] = ()
    # Whether quantize() needs calibration inputs (static quantization).
    calibrated: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        base = cls.__dict__.get("base")
        if base is None:
            return
        cls.source, cls.format, cls.runtime = base.source, base.format, base.runtime
        cls.layout, cls.extension = base.layout, base.extension
        cls.modules = tuple(dict.fromkeys((*base.modules, *cls.step_modules)))
        cls.distributions = tuple(dict.fromkeys((*base.distributions, *cls.step_distributions)))

    def options(self) -> dict[str, Any]:
        """The base converter, its options and the step's own options."""
        base = self.base()
        options: dict[str, Any] = {"base": base.name, "base_options": base.options(), **self.step_options()}
        if self.calibrated:
            options["calibration_samples"] = CALIBRATION_SAMPLES
        return options

    def step_options(self) -> dict[str, Any]:
        """The quantization tool's settings (subclasses override)."""
        return {}

    def layout_for(self, model: ZooModelLike) -> str:
        """The base artifact's layout (the step never changes the input)."""
        return self.base().layout_for(model)

    def offered_for(self, model: ZooModelLike) -> tuple[bool, str | None]:
        """Offered where the base's artifact of ``model`` may be quantized (not a user's file
        that is already int8: :meth:`Converter.quantizable` of the base says why)."""
        offered, why = super().offered_for(model)
        return self.base().quantizable(model) if offered else (offered, why)

    def implementation_files(self) -> list[Path]:
        """This step's modules and the base converter's (its code decides the input file)."""
        return list(dict.fromkeys([*super().implementation_files(), *self.base().implementation_files()]))

    def convert(self, model: ZooModelLike, out_path: Path) -> dict[str, Any]:
        """Build the base artifact (cached), then quantize it into ``out_path``.

        A failed base yields the base's own one-line error unchanged.
        """
        from .cache import build  # the cache imports the registry, which imports converters

        quantizable, why = self.base().quantizable(model)
        if not quantizable and why:
            raise ConversionError(f"{self.name}: not made: {why}")
        base = build(self.base(), model)
        if not base.ok or base.path is None:
            raise ConversionError(base.error or f"{base.converter}: failed")
        calibration = calibration_inputs(model, self.layout_for(model)) if self.calibrated else None
        start = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory(prefix="testbed-quant-") as scratch:
                extra = self.quantize(base.path, Path(out_path), calibration, Path(scratch))
        except Exception as exc:
            raise self._fail(exc) from exc
        return {
            "base_converter": base.converter,
            "base_sha256": base.sha256,
            "base_cached": base.cached,
            "quantize_s": round(time.perf_counter() - start, 4),
            **(extra or {}),
        }

    def quantize(self, src: Path, out_path: Path, calibration: Calibration | None, scratch: Path) -> dict[str, Any]:
        """Write the quantized form of the fp32 artifact ``src`` to ``out_path``.

        ``calibration`` holds batch-1 samples ``{input name: array}`` (model order, each input's
        dtype) in the artifact's layout (None unless ``calibrated``); ``scratch`` is a private
        temporary folder for intermediate files.
        """
        raise NotImplementedError
