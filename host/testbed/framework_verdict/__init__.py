"""The framework verdict (issue #15): on this board, which framework's path wins, by how much, with
what confidence.

For every (model, board) of a run, each PyTorch-source variant is set against the Keras-source
(TensorFlow) variant that differs only in its source (same format, same precision), each framework's
own edge path against the other's (ExecuTorch vs TFLite), and the frameworks themselves (torch.export
vs SavedModel) where the board ran them. Each pair: the ratio of median latency with a seeded
bootstrap confidence interval from the raw samples ("no clear difference" when it covers 1), each
side's size, model memory, energy (ESTIMATED where a model of CPU utilisation gave it) and agreement
with its source; a side not measured says why (its conversion's reason, or not requested).

    pairs.py    which pairs the converter registry makes possible; one side of a pair, from its records
    verdict.py  compare / judge: the pairs judged; ``FrameworkVerdict`` (``summary()``, ``to_json()``)
    stored.py   for_run: a stored run's records and raw samples
    render.py   render (the paragraph and a table within the terminal's width), print_after_deploy

Used by `testbed report` (text, HTML, ``--json``'s ``framework_verdict``) and after `testbed deploy`.
"""

from .pairs import PairSpec, Side, pair_specs
from .render import print_after_deploy, render
from .stored import for_run
from .verdict import (
    NO_DIFFERENCE,
    NOT_COMPARED,
    NOT_JUDGED,
    PYTORCH_FASTER,
    TENSORFLOW_FASTER,
    FrameworkVerdict,
    PathPair,
    compare,
    sample_key,
    side_name,
)

__all__ = ["NOT_COMPARED", "NOT_JUDGED", "NO_DIFFERENCE", "PYTORCH_FASTER", "TENSORFLOW_FASTER", "FrameworkVerdict",
           "PairSpec", "PathPair", "Side", "compare", "for_run", "pair_specs", "print_after_deploy", "render",
           "sample_key", "side_name"]
