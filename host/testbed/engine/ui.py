"""Progress of a plan run on screen: one live line per board (rich), or plain lines in a log (CI).

A UI's ``live`` says which: True where a status line is redrawn in place (a terminal), so progress
may be said as often as it changes; False where every status is a line of a log, so a step says
only a few (an upload: at most five lines a file, ``transports.progress``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

STATE_STYLE = {"done": "green", "failed": "red", "error": "red", "skipped": "yellow"}


class RunUI(Protocol):
    def board(self, device: str, status: str, done: int, total: int) -> None: ...
    def cell(self, device: str, key: str, state: str, detail: str) -> None: ...
    def message(self, text: str) -> None: ...


class SilentUI:
    live = False

    def board(self, device: str, status: str, done: int, total: int) -> None:
        pass

    def cell(self, device: str, key: str, state: str, detail: str) -> None:
        pass

    def message(self, text: str) -> None:
        pass


def _safe(print_fn: Callable[..., object]) -> Callable[..., None]:
    """A worker still finishing after the command closed its output must not die of it."""
    def call(*args: Any, **kwargs: Any) -> None:
        try:
            print_fn(*args, **kwargs)
        except (ValueError, OSError):  # I/O on a closed file
            pass
    return call


class LineUI:
    """One line per event: for logs and terminals that are not interactive."""

    live = False

    def __init__(self, console: Console) -> None:
        self.console = console
        self._print = _safe(console.print)
        self._last: dict[str, str] = {}
        self._lock = threading.Lock()

    def board(self, device: str, status: str, done: int, total: int) -> None:
        with self._lock:
            if self._last.get(device) != status:
                self._last[device] = status
                self._print(escape(f"[{device}] {done}/{total} {status}"), highlight=False, soft_wrap=True)

    def cell(self, device: str, key: str, state: str, detail: str) -> None:
        style = STATE_STYLE.get(state, "")
        with self._lock:
            self._print(escape(f"[{device}] ") + f"[{style}]{state}[/] "
                        + escape(key + (f": {detail}" if detail else "")), highlight=False, soft_wrap=True)

    def message(self, text: str) -> None:
        with self._lock:
            self._print(escape(text), highlight=False, soft_wrap=True)


class RichUI:
    """A live table of boards: name, bar, cells done/total, elapsed, what it does now."""

    live = True

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(TextColumn("[bold]{task.fields[device]:<18}"), BarColumn(bar_width=24),
                                 MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[status]}"),
                                 console=console, refresh_per_second=4)
        self._tasks: dict[str, TaskID] = {}
        self._print = _safe(self.progress.console.print)
        self._lock = threading.Lock()

    def __enter__(self) -> RichUI:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _task(self, device: str, total: int) -> TaskID:
        with self._lock:
            if device not in self._tasks:
                self._tasks[device] = self.progress.add_task("", total=total, device=device, status="")
            return self._tasks[device]

    def board(self, device: str, status: str, done: int, total: int) -> None:
        self.progress.update(self._task(device, total), completed=done, total=total, status=status)

    def cell(self, device: str, key: str, state: str, detail: str) -> None:
        if state != "done":  # finished cells show in the bar; problems are printed above it
            style = STATE_STYLE.get(state, "")
            self._print(escape(f"[{device}] ") + f"[{style}]{state}[/] "
                        + escape(key + (f": {detail}" if detail else "")), highlight=False, soft_wrap=True)

    def message(self, text: str) -> None:
        self._print(escape(text), highlight=False, soft_wrap=True)


class StatusUI:
    """One status line (a deploy's spinner): ``update(text)`` shows what happens now; messages
    (Ctrl-C, ...) are printed with ``say``. ``live=False`` where ``update`` prints each text as a line
    (no terminal: ``commands._common.status_line``)."""

    def __init__(self, update: Callable[[str], object], say: Callable[[str], object], live: bool = True) -> None:
        self._update, self._say = _safe(update), _safe(say)
        self.live = live

    def board(self, device: str, status: str, done: int, total: int) -> None:
        self._update(f"{device} ({done}/{total} measured): {status}")

    def cell(self, device: str, key: str, state: str, detail: str) -> None:
        self._update(f"{key}: {state}" + (f" ({detail})" if detail else ""))

    def message(self, text: str) -> None:
        self._say(text)
