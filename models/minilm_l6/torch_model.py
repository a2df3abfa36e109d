"""all-MiniLM-L6-v2 in PyTorch: BERT from plain ops, mean pooling, L2 normalisation.

Attention is written out (linear q/k/v, ``softmax(q k^T / sqrt(d) + bias) v``); the padding mask
zeroes the padded keys (``k * mask``) and adds ``MASK_BIAS`` to their scores, so a padded key scores
exactly ``MASK_BIAS`` (a bounded range for int8 calibration, see the constant); GELU is the exact erf
form (BERT's).
State-dict keys (the zoo names of ``testbed_zoo.minilm_l6``, which the Keras port reads too):
``{word,token_type}_embeddings.weight``, ``position_embeddings`` ``[128, 384]``,
``embed_norm.*`` and ``layers.<i>.{query,key,value,attn_out,attn_norm,ffn_in,ffn_out,ffn_norm}.*``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import (
    FFN,
    HEAD_DIM,
    HEADS,
    HIDDEN,
    LAYERS,
    LN_EPSILON,
    MASK_BIAS,
    MAX_INV_NORM,
    SEQ_LEN,
    TYPE_VOCAB_SIZE,
    VOCAB_SIZE,
)


class EncoderLayer(nn.Module):
    """BERT's post-LN layer: ``x = ln(x + attn(x))``, then ``x = ln(x + ffn_out(gelu(ffn_in(x))))``."""

    def __init__(self) -> None:
        super().__init__()
        self.query = nn.Linear(HIDDEN, HIDDEN)
        self.key = nn.Linear(HIDDEN, HIDDEN)
        self.value = nn.Linear(HIDDEN, HIDDEN)
        self.attn_out = nn.Linear(HIDDEN, HIDDEN)
        self.attn_norm = nn.LayerNorm(HIDDEN, eps=LN_EPSILON)
        self.ffn_in = nn.Linear(HIDDEN, FFN)
        self.ffn_out = nn.Linear(FFN, HIDDEN)
        self.ffn_norm = nn.LayerNorm(HIDDEN, eps=LN_EPSILON)

    def forward(self, x: torch.Tensor, keep: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``x`` ``[N, T, D]``, ``keep`` ``[N, T, 1]`` (1 or 0 per token), ``bias`` ``[N, 1, 1, T]``
        (0 or MASK_BIAS per key) -> ``[N, T, D]``."""
        n, t, _ = x.shape
        q = self.query(x).reshape(n, t, HEADS, HEAD_DIM).permute(0, 2, 1, 3)  # [N, H, T, Dh]
        k = (self.key(x) * keep).reshape(n, t, HEADS, HEAD_DIM).permute(0, 2, 3, 1)  # [N, H, Dh, T]
        v = self.value(x).reshape(n, t, HEADS, HEAD_DIM).permute(0, 2, 1, 3)  # [N, H, T, Dh]
        scores = torch.matmul(q, k) * (1.0 / math.sqrt(HEAD_DIM)) + bias
        y = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).reshape(n, t, HIDDEN)
        x = self.attn_norm(x + self.attn_out(y))
        h = self.ffn_out(nn.functional.gelu(self.ffn_in(x)))
        return self.ffn_norm(x + h)


class MiniLM(nn.Module):
    """``(input_ids, attention_mask, token_type_ids)`` int ``[N, 128]`` -> unit-length embedding ``[N, 384]``."""

    def __init__(self) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(VOCAB_SIZE, HIDDEN)
        self.position_embeddings = nn.Parameter(torch.zeros(SEQ_LEN, HIDDEN))
        self.token_type_embeddings = nn.Embedding(TYPE_VOCAB_SIZE, HIDDEN)
        self.embed_norm = nn.LayerNorm(HIDDEN, eps=LN_EPSILON)
        self.layers = nn.ModuleList(EncoderLayer() for _ in range(LAYERS))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> torch.Tensor:
        """Embed, encode, mean-pool over the unmasked tokens, L2-normalise."""
        x = self.word_embeddings(input_ids) + self.position_embeddings + self.token_type_embeddings(token_type_ids)
        x = self.embed_norm(x)
        mask = attention_mask.to(x.dtype)  # [N, T]
        keep = mask.unsqueeze(-1)  # [N, T, 1]
        bias = ((1.0 - mask) * MASK_BIAS).reshape(-1, 1, 1, SEQ_LEN)
        for layer in self.layers:
            x = layer(x, keep, bias)
        summed = (x * keep).sum(dim=1)
        pooled = summed / torch.clamp(mask.sum(dim=1, keepdim=True), min=1e-9)
        inv_norm = torch.clamp(torch.rsqrt((pooled * pooled).sum(dim=-1, keepdim=True)), max=MAX_INV_NORM)
        return pooled * inv_norm
