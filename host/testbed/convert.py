"""`testbed convert`: build every selected variant of a model and check each against its source."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import records
from .check import check
from .errors import ConfigError

if TYPE_CHECKING:
    from testbed_zoo import ZooModel

    from .converters.base import Converter

Progress = Callable[[str], None]


@dataclass
class Selection:
    """The converters that make the selected variants of a model, and why others make nothing."""

    converters: list[Any]  # Converter instances, sorted by name
    notes: list[str] = field(default_factory=list)  # "<names> not made: <why>", one line per reason


@dataclass
class ConvertOutcome:
    rows: list[dict] = field(default_factory=list)  # one per variant: the artifact, parity, accuracy
    notes: list[str] = field(default_factory=list)  # Selection.notes


def convert_matrix(model_id: str, formats: list[str] | None, sources: list[str] | None,
                   quantizations: list[str] | None, progress: Progress = lambda m: None) -> ConvertOutcome:
    """One dict per variant: the artifact's facts plus parity/accuracy measured on this host."""
    import testbed_zoo

    from .converters import build

    model = testbed_zoo.load(model_id)
    selection = choose(model, formats, sources, quantizations)
    outcome = ConvertOutcome(notes=selection.notes)
    refs: dict[str, records.References] = {}
    total = len(selection.converters)
    for n, conv in enumerate(selection.converters, 1):
        progress(f"converting {n}/{total}: {model.id} with {conv.name}")
        art = build(conv, model)
        row = art.to_dict() | {"parity": None, "parity_outputs": None, "accuracy": None}
        if art.ok:
            progress(f"checking {n}/{total}: {conv.name} against {conv.source}")
            result = check(art, model, refs)
            row.update(parity=result["parity"], parity_outputs=result["parity_outputs"], accuracy=result["accuracy"],
                       input_dtype_changes=result["input_dtype_changes"])
            if result["error"]:
                row.update(status="failed", error=result["error"])
        outcome.rows.append(row)
    return outcome


def choose(model: ZooModel, formats: list[str] | None, sources: list[str] | None,
           quantizations: list[str] | None, runtimes: Collection[str] | None = None) -> Selection:
    """The converters matching the filters that make a variant of ``model`` (on ``runtimes``,
    when given), with a note for each reason why a matching one makes nothing.

    Raises:
        ConfigError: a filter names an unknown format, source or quantization; or nothing is
            left: one line saying which filters matched nothing, why, and what the model has.
    """
    from .converters import select

    asked = select(formats, sources, quantizations)
    chosen = [c for c in converters_for(model, asked) if runtimes is None or c.runtime in runtimes]
    notes = not_offered(model, asked)
    if not chosen:
        raise ConfigError(_nothing_matches(model, formats, sources, quantizations, runtimes, notes))
    return Selection(chosen, notes)


def _nothing_matches(model: ZooModel, formats: list[str] | None, sources: list[str] | None,
                     quantizations: list[str] | None, runtimes: Collection[str] | None, notes: list[str]) -> str:
    """"nothing matches: ... (<why>); <model> has format/source: quantizations ..." on one line."""
    from .converters import all_converters
    from .converters.base import QUANTIZATIONS

    asked = " x ".join(f"{kind} {','.join(values) if values else 'any'}"
                       for kind, values in (("formats", formats), ("sources", sources), ("quant", quantizations)))
    offered = converters_for(model, all_converters())
    reasons = [*notes]
    if runtimes is not None and any(c.runtime not in runtimes for c in offered):
        reasons.append(f"the board runs only {', '.join(sorted(runtimes))}")
        offered = [c for c in offered if c.runtime in runtimes]
    variants: dict[str, list[str]] = {}
    order = {quant: i for i, quant in enumerate(QUANTIZATIONS)}
    for conv in sorted(offered, key=lambda c: order.get(c.quantization, len(order))):
        variants.setdefault(f"{conv.format}/{conv.source}", []).append(conv.quantization)
    have = "; ".join(f"{key}: {', '.join(dict.fromkeys(quants))}"
                     for key, quants in sorted(variants.items())) or "no variant at all"
    why = f" ({'; '.join(reasons)})" if reasons else ""
    return f"nothing matches {asked} for {model.id}{why}; {model.id} has (format/source: quant) {have}"


def converters_for(model: ZooModel, converters: Sequence[Converter]) -> list[Converter]:
    """Only the converters that make a variant of the model (``Converter.offered_for``): its source
    frameworks (a user .onnx has no Keras side), a user's file labelled with its own precision,
    no int8 variant of a file that is already quantized."""
    return [c for c in converters if c.offered_for(model)[0]]


def not_offered(model: ZooModel, converters: Sequence[Converter]) -> list[str]:
    """``"<names> not made: <why>"`` for each reason among ``converters`` the model gives (those
    ``offered_for`` refuses with something to tell the user)."""
    names: dict[str, list[str]] = {}
    for conv in converters:
        offered, why = conv.offered_for(model)
        if not offered and why:
            names.setdefault(why, []).append(conv.name)
    return [f"{', '.join(convs)} not made: {why}" for why, convs in names.items()]
