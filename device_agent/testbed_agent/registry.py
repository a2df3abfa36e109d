"""One registry class for every extension point: converters and transports (host), runtimes and
power sensors (agent). The string in a profile is the registry name.

A plug-in is a class with a ``name`` that registers itself with the registry's decorator::

    @runtimes.register
    class MyRuntime(Runtime):
        name = "myruntime"

The same semantics everywhere:

* a second plug-in under a name already taken is refused (``DuplicateNameError``, a ValueError);
* an unknown name is one line listing the known ones (``UnknownNameError``, a KeyError, or the
  error class the registry was made with: the host's registries raise its ``ConfigError``);
* plug-ins from other distributions are found through Python entry points (the packaging
  standard, ``importlib.metadata``): every entry point in the registry's group (e.g.
  ``testbed.runtimes``) is imported the first time the registry is read, and its module
  registers itself as the built-in ones do. A plug-in that fails to import is reported in the
  unknown-name line instead of taking the process down. See docs/plugins.md.

This module imports only the standard library: the agent installs alone on a board, and the host
uses the same class (the agent package is installed on both sides).
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
C = TypeVar("C", bound=type)

log = logging.getLogger(__name__)


class DuplicateNameError(ValueError):
    """A plug-in was registered under a name another plug-in already has."""


class UnknownNameError(KeyError):
    """No plug-in has that name (the message lists the known ones). A KeyError whose ``str`` is
    the message itself, not its repr."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Plug-ins of one kind by name.

    ``kind`` names them in messages ("runtime", "power sensor"); ``group`` is the entry-point
    group plug-in distributions declare them in; ``make`` turns a registered class into what is
    stored (``instance``: one object per plug-in, made at registration; ``None``: the class
    itself); ``unknown`` builds the error for an unknown name from its one-line message.
    """

    def __init__(self, kind: str, group: str, make: Callable[[Any], T] | None = None,
                 unknown: Callable[[str], Exception] = UnknownNameError) -> None:
        self.kind = kind
        self.group = group
        self._make: Callable[[Any], T] = make or (lambda cls: cls)
        self._unknown = unknown
        self._items: dict[str, T] = {}
        self._classes: dict[str, type] = {}
        self._plugins_loaded = False
        self._loading = threading.RLock()
        self._imported: set[str] = set()  # entry points imported already
        #: entry point ("name = value") -> why it could not be imported
        self.plugin_errors: dict[str, str] = {}

    def register(self, cls: C) -> C:
        """Class decorator: register ``cls`` under ``cls.name``.

        Raises:
            DuplicateNameError: the name is taken (by another class; registering the very same
                class twice, as a module imported twice would, is refused too).
            ValueError: ``cls`` has no ``name``.
        """
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} class {cls.__qualname__} has no name")
        if name in self._items:
            other = self._classes[name]
            raise DuplicateNameError(f"{self.kind} name {name!r} is already registered by "
                                     f"{other.__module__}.{other.__qualname__}")
        self._items[name] = self._make(cls)
        self._classes[name] = cls
        return cls

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that register a throwaway plug-in clean up with it)."""
        self._items.pop(name, None)
        self._classes.pop(name, None)

    def get(self, name: str) -> T:
        """The plug-in registered as ``name``.

        Raises:
            the registry's ``unknown`` error (``UnknownNameError`` by default): one line,
            "unknown <kind> '<name>'; known: a, b, c" (and any plug-in that failed to load).
        """
        self.load_plugins()
        try:
            return self._items[name]
        except KeyError:
            raise self._unknown(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        """The one line for an unknown ``name``."""
        known = ", ".join(self.names()) or "none"
        broken = "".join(f"; plug-in {ep} did not load: {why}" for ep, why in sorted(self.plugin_errors.items()))
        return f"unknown {self.kind} {name!r}; known: {known}{broken}"

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self.load_plugins()
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        """``(name, plug-in)`` pairs sorted by name."""
        return [(name, self._items[name]) for name in self.names()]

    def values(self) -> list[T]:
        """The plug-ins sorted by name."""
        return [self._items[name] for name in self.names()]

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        self.load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def load_plugins(self, again: bool = False) -> None:
        """Import every entry point of ``group`` not imported yet (once per process unless
        ``again``: a test that puts a plug-in on ``sys.path`` later asks again)."""
        if self._plugins_loaded and not again:
            return
        with self._loading:
            if self._plugins_loaded and not again:
                return
            self._plugins_loaded = True  # before importing: a plug-in reading the registry must not recurse
            for ep in _entry_points(self.group):
                label = f"{ep.name} = {ep.value}"
                if label in self._imported:
                    continue
                self._imported.add(label)
                try:
                    ep.load()
                except Exception as exc:  # a broken plug-in must not take the agent or the CLI down
                    why = f"{type(exc).__name__}: {exc}".splitlines()[0]
                    self.plugin_errors[label] = why
                    log.warning("%s plug-in %s did not load: %s", self.kind, label, why)


def instance(cls: Any) -> Any:
    """``make`` for a registry of objects: one instance per plug-in class."""
    return cls()


def _entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    """The entry points of ``group`` across every installed distribution (deduplicated: an
    editable install can list a distribution twice)."""
    found = importlib.metadata.entry_points(group=group)
    return list({(ep.name, ep.value): ep for ep in found}.values())
