"""Progress of a file on its way to a board: "uploading model.tflite 1.2/3.4 MB".

A ``ByteProgress`` is the ``callback(bytes_sent, total)`` that paramiko's ``SFTPClient.put`` calls after
every 32 KiB; it turns those calls into a few status texts. On a live status line (a terminal) it
says where the file is at most every ``interval_s``; in a log (``live=False``: CI, ``2>file``) it
writes at most five lines a file: the first call, then each quarter. Files under ``min_bytes`` go
in a moment and say nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: ``callback(bytes_sent, total_bytes)``, as paramiko's ``put`` calls it
Upload = Callable[[int, int], None]

MB = 1_000_000


class ByteProgress:
    """Report the upload of ``name`` through ``say`` (a status line's update, or a line printer)."""

    def __init__(self, name: str, say: Callable[[str], object], *, live: bool = False, min_bytes: int = MB,
                 interval_s: float = 0.25, clock: Callable[[], float] = time.monotonic) -> None:
        self.name, self.say, self.live = name, say, live
        self.min_bytes, self.interval_s, self.clock = min_bytes, interval_s, clock
        self._last_at: float | None = None  # when the last text was said
        self._last_quarter = -1  # the last quarter said (live=False)
        self.said = False  # whether it said anything (the status line then needs a new text after it)

    def __call__(self, sent: int, total: int) -> None:
        if total < self.min_bytes:
            return
        done = sent >= total
        if self.live:
            now = self.clock()
            if not done and self._last_at is not None and now - self._last_at < self.interval_s:
                return
            self._last_at = now
        else:
            quarter = 4 * sent // total if total else 4
            if self._last_quarter >= 0 and quarter <= self._last_quarter:
                return
            self._last_quarter = quarter
        self.said = True
        self.say(self.text(sent, total))

    def text(self, sent: int, total: int) -> str:
        """``uploading NAME 1.2/3.4 MB (35 %)``."""
        return f"uploading {self.name} {sent / MB:.1f}/{total / MB:.1f} MB ({100 * sent // max(total, 1)} %)"
