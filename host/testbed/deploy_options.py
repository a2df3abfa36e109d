"""A deploy's options from what a caller gives: the CLI's flags (comma strings) or the Python API's
keywords (lists or comma strings), checked the same way, so ``testbed deploy`` and ``testbed.deploy()``
build the same ``DeployOptions`` and refuse the same mistakes with the same one-line errors.

    deploy_options    DeployOptions from the command line's or the API's values
    model_reference   the model reference with its input options folded in (``testbed_zoo.model_ref``)

The names, sets and presets themselves are checked where they are used (``convert.choose``,
``effective_measure``), before anything is converted; here: the shape of each value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .engine.request import DeployOptions
from .errors import ConfigError

#: A filter as given: "onnx,tflite" (the CLI, or a quick call), ["onnx", "tflite"], or None (all).
Filter = str | Iterable[str] | None


def names(value: Filter, what: str) -> list[str] | None:
    """'a, b' or ['a', ' b'] -> ['a', 'b']; None, '' or [] -> None (no filter: all of them)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    if not all(isinstance(x, str) for x in items):
        raise ConfigError(f"{what}: give names, as a list ['a', 'b'] or a comma string 'a,b'; got {value!r:.60}")
    return [x.strip() for x in items if x.strip()] or None


def _at_least(value: int | None, least: int, what: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
        raise ConfigError(f"{what} must be a whole number >= {least}, got {value!r:.30}")
    return value


def deploy_options(*, formats: Filter = None, sources: Filter = None, quantizations: Filter = None,
                   preset: str | None = None, iterations: int | None = None, warmup: int | None = None,
                   threads: int | None = None, timeout_s: float | None = None, profile_ops: bool = False,
                   power_windows: bool = False, sustain: str | float | None = None,
                   repeats: int | None = None) -> DeployOptions:
    """The deploy's options; None = the profile's (or the preset's) value, as the CLI's flags left out.

    Raises:
        ConfigError: a value of the wrong kind (a count below its minimum, a filter that is not names,
            a timeout that is not a positive number of seconds, a sustained window that is not a
            duration such as "2m", a sustained run with a minimum count of runs: the window decides).
    """
    from .sustain import parse_window

    sustain_s = parse_window(sustain, "sustain")
    if sustain_s is not None and iterations is not None:
        raise ConfigError("sustain: a sustained run times the whole window; leave out iterations")
    if timeout_s is not None and (isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float)
                                  or timeout_s <= 0):
        raise ConfigError(f"timeout_s must be a positive number of seconds, got {timeout_s!r:.30}")
    return DeployOptions(
        formats=names(formats, "formats"), sources=names(sources, "sources"),
        quantizations=names(quantizations, "quantization"), preset=preset,
        iterations=_at_least(iterations, 1, "iterations"), warmup=_at_least(warmup, 0, "warmup"),
        threads=_at_least(threads, 1, "threads"), timeout_s=None if timeout_s is None else float(timeout_s),
        profile_ops=bool(profile_ops), power_windows=bool(power_windows), sustain_s=sustain_s,
        repeats=_at_least(repeats, 1, "repeats") or 1)


def model_reference(model: str, input_shapes: Sequence[str] | Mapping[str, Sequence[int]] = (),
                    inputs: str | Path | None = None) -> str:
    """``model`` (a zoo id or a model file) with the input options folded in: concrete shapes for
    dynamic dimensions (``["input_ids=1,128"]`` as the CLI's ``--input-shape``, or
    ``{"input_ids": [1, 128]}``) and a file of real inputs (``--inputs FILE.npz``); ``model`` itself
    when there are none."""
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"model: give a zoo id (`testbed models`) or a model file, got {model!r:.40}")
    if not input_shapes and inputs is None:
        return model
    from testbed_zoo.model_ref import compose

    return compose(model, input_shapes, inputs)
