"""A small pure-Python BERT WordPiece tokenizer, as all-MiniLM-L6-v2 was trained with (uncased).

It follows BERT's reference tokenizer (``BasicTokenizer`` + ``WordpieceTokenizer``):

1. clean: drop NUL, U+FFFD and control characters; any whitespace becomes a space;
2. put spaces around CJK ideographs (each one becomes its own word);
3. split on whitespace; lower-case each word and strip its accents (NFD, combining marks dropped);
4. split every punctuation character off as its own word (ASCII symbols count as punctuation);
5. WordPiece: greedy longest match from the vocabulary, continuation pieces prefixed ``##``; a word
   with no full cover, or longer than 100 characters, is ``[UNK]``.

:meth:`Tokenizer.encode` wraps the pieces as ``[CLS] ... [SEP]`` (truncated to fit), pads with
``[PAD]`` (id 0) to the fixed length, attention mask 1 on real tokens and 0 on padding, token type
ids all 0 (one segment).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np

PAD, UNK, CLS, SEP = "[PAD]", "[UNK]", "[CLS]", "[SEP]"
MAX_CHARS_PER_WORD = 100


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch: str) -> bool:
    """Unicode punctuation, and every non-letter/number ASCII symbol (``$``, ``^``, backtick...)."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokens(text: str) -> list[str]:
    """Steps 1-4: lower-cased, accent-free words and punctuation marks."""
    chars = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_cjk(cp):
            chars.append(f" {ch} ")
        else:
            chars.append(" " if _is_whitespace(ch) else ch)
    words: list[str] = []
    for word in "".join(chars).split():
        word = "".join(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn")
        current = ""
        for ch in word:
            if _is_punctuation(ch):
                words += [current, ch] if current else [ch]
                current = ""
            else:
                current += ch
        if current:
            words.append(current)
    return words


class Tokenizer:
    """WordPiece over a BERT ``vocab.txt`` (one token a line; its line number is its id)."""

    def __init__(self, vocab: dict[str, int]) -> None:
        self.vocab = vocab
        self.pad_id, self.unk_id, self.cls_id, self.sep_id = (vocab[t] for t in (PAD, UNK, CLS, SEP))

    @classmethod
    def from_file(cls, path: Path) -> Tokenizer:
        """Read a ``vocab.txt``."""
        lines = Path(path).read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return cls({token: i for i, token in enumerate(lines)})

    def wordpieces(self, word: str) -> list[str]:
        """Step 5 for one basic token: greedy longest-match pieces, or ``[UNK]``."""
        if len(word) > MAX_CHARS_PER_WORD:
            return [UNK]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            if end == start:
                return [UNK]
            pieces.append(piece)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of ``text`` (no special tokens)."""
        return [piece for word in basic_tokens(text) for piece in self.wordpieces(word)]

    def encode(self, text: str, length: int) -> tuple[list[int], list[int]]:
        """``(ids, mask)``, each ``length`` long: ``[CLS] tokens [SEP]`` (tokens truncated), ``[PAD]`` after."""
        if length < 2:
            raise ValueError(f"length must leave room for [CLS] and [SEP], got {length}")
        tokens = self.tokenize(text)[: length - 2]
        ids = [self.cls_id, *(self.vocab.get(t, self.unk_id) for t in tokens), self.sep_id]
        mask = [1] * len(ids) + [0] * (length - len(ids))
        return ids + [self.pad_id] * (length - len(ids)), mask

    def encode_batch(self, texts: Sequence[str], length: int) -> dict[str, np.ndarray]:
        """The model's three int32 inputs ``[len(texts), length]``: input_ids, attention_mask, token_type_ids."""
        pairs = [self.encode(t, length) for t in texts]
        ids = np.array([p[0] for p in pairs], dtype=np.int32).reshape(len(texts), length)
        mask = np.array([p[1] for p in pairs], dtype=np.int32).reshape(len(texts), length)
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
