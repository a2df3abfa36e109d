"""Raw samples in the store, losslessly compressed: the column types of ``results.samples_ns`` and
``results.power_samples``.

A run of a tiny model measured for seconds (or for a power sensor's minimum window) yields 10^4-10^5
latencies; as a JSON array of integers that is ~0.5 MB per result. Stored instead, in the same JSON
column (no schema change, any database), as ``{"codec": ..., "n": N, ...}`` with the int64/float64
values byte-shuffled (all first bytes, then all second bytes, ...) and zlib-compressed, base64: about
a fifth of the size on real runs (a half on random data), exactly the same numbers back. Short lists
stay plain JSON arrays, and rows written before this codec (plain arrays) read as they are. Code sees
lists either way.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np
from sqlalchemy import JSON
from sqlalchemy.types import TypeDecorator

PLAIN_MAX = 64  # up to this many samples: a plain JSON array (readable in SQL, nothing to gain)
LATENCY_CODEC = "i8-shuffle-zlib/1"
POWER_CODEC = "i8f8-shuffle-zlib/1"


def _pack(values: np.ndarray) -> str:
    """Little-endian 8-byte values, byte-shuffled, zlib, base64."""
    raw = values.astype(values.dtype.newbyteorder("<"), copy=False)
    shuffled = raw.view(np.uint8).reshape(-1, 8).T.copy()
    return base64.b64encode(zlib.compress(shuffled.tobytes(), 6)).decode("ascii")


def _unpack(text: str, n: int, dtype: str) -> np.ndarray:
    shuffled = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8)
    if shuffled.size != 8 * n:
        raise ValueError(f"stored samples hold {shuffled.size} bytes, expected {8 * n}")
    return shuffled.reshape(8, n).T.copy().view(np.dtype(dtype).newbyteorder("<")).reshape(n)


def encode_latency(samples: Any) -> Any:
    values = [int(s) for s in (samples or [])]
    if len(values) <= PLAIN_MAX:
        return values
    return {"codec": LATENCY_CODEC, "n": len(values), "data": _pack(np.asarray(values, dtype=np.int64))}


def decode_latency(stored: Any) -> list[int]:
    if not isinstance(stored, dict):
        return list(stored or [])
    if stored.get("codec") != LATENCY_CODEC:
        raise ValueError(f"unknown latency sample codec {stored.get('codec')!r} (written by a newer testbed?)")
    return _unpack(stored["data"], int(stored["n"]), "i8").tolist()


def encode_power(samples: Any) -> Any:
    """``[[t_ns, watts|None], ...]``; a missing reading (None) is kept as NaN and given back as None."""
    pairs = list(samples or [])
    if len(pairs) <= PLAIN_MAX or any(not float(p[0]).is_integer() for p in pairs):
        return [list(p) for p in pairs]  # (a fractional timestamp would not survive int64: kept as is)
    t = np.asarray([int(p[0]) for p in pairs], dtype=np.int64)
    w = np.asarray([np.nan if p[1] is None else float(p[1]) for p in pairs], dtype=np.float64)
    return {"codec": POWER_CODEC, "n": len(pairs), "t": _pack(t), "w": _pack(w)}


def decode_power(stored: Any) -> list[list]:
    if not isinstance(stored, dict):
        return list(stored or [])
    if stored.get("codec") != POWER_CODEC:
        raise ValueError(f"unknown power sample codec {stored.get('codec')!r} (written by a newer testbed?)")
    n = int(stored["n"])
    t, w = _unpack(stored["t"], n, "i8").tolist(), _unpack(stored["w"], n, "f8").tolist()
    return [[ti, None if wi != wi else wi] for ti, wi in zip(t, w, strict=True)]  # NaN -> None


class _Coded(TypeDecorator):
    """A JSON column whose Python value goes through ``encode`` on the way in, ``decode`` on the way out."""

    impl = JSON
    cache_ok = True
    encode: Any = staticmethod(lambda value: value)
    decode: Any = staticmethod(lambda value: value)

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return type(self).encode(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return type(self).decode(value)


class LatencySamples(_Coded):
    """``list[int]`` of nanoseconds, compressed when long (see module docstring)."""

    encode = staticmethod(encode_latency)
    decode = staticmethod(decode_latency)


class PowerSamples(_Coded):
    """``list[[t_ns, watts]]``, compressed when long (see module docstring)."""

    encode = staticmethod(encode_power)
    decode = staticmethod(decode_power)
