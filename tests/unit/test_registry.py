"""One registry class for converters, runtimes, transports and power sensors: the same semantics
everywhere (a duplicate refused, an unknown name one line listing the known ones) and plug-ins
found through entry points."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.errors import ConfigError
from testbed_agent.registry import DuplicateNameError, Registry, UnknownNameError, instance


class Thing:
    name = "a"


class Other:
    name = "b"


def test_register_get_names() -> None:
    reg: Registry[type] = Registry("thing", "testbed.tests-none")
    reg.register(Thing)
    reg.register(Other)
    assert reg.names() == ["a", "b"] and reg.get("a") is Thing and reg["b"] is Other
    assert "a" in reg and "c" not in reg and list(reg) == ["a", "b"] and len(reg) == 2
    made: Registry[object] = Registry("thing", "testbed.tests-none", make=instance)
    made.register(Thing)
    assert isinstance(made.get("a"), Thing)


def test_duplicate_is_refused_and_names_the_holder() -> None:
    reg: Registry[type] = Registry("thing", "testbed.tests-none")
    reg.register(Thing)

    class Again:
        name = "a"

    with pytest.raises(DuplicateNameError, match=r"thing name 'a' is already registered by .*Thing"):
        reg.register(Again)
    assert reg.get("a") is Thing
    with pytest.raises(ValueError, match="has no name"):
        reg.register(type("Nameless", (), {}))


def test_unknown_name_is_one_line_listing_the_known() -> None:
    reg: Registry[type] = Registry("thing", "testbed.tests-none")
    reg.register(Thing)
    reg.register(Other)
    with pytest.raises(UnknownNameError) as err:
        reg.get("zz")
    assert str(err.value) == "unknown thing 'zz'; known: a, b"
    assert isinstance(err.value, KeyError)
    host: Registry[type] = Registry("thing", "testbed.tests-none", unknown=ConfigError)
    with pytest.raises(ConfigError, match="unknown thing 'zz'; known: none"):
        host.get("zz")


@pytest.mark.parametrize("lookup,kind,known", [
    ("testbed.converters:get", "converter", "onnx-torch-fp32"),
    ("testbed.transports:get", "transport", "local, ssh"),
    ("testbed_agent.runtimes:get", "runtime", "litert, onnxruntime"),
    ("testbed_agent.power:get", "power sensor", "ina219"),
])
def test_every_extension_point_uses_it(lookup: str, kind: str, known: str) -> None:
    import importlib

    module, func = lookup.split(":")
    get = getattr(importlib.import_module(module), func)
    with pytest.raises(Exception) as err:
        get("no-such")
    line = str(err.value)
    assert line.startswith(f"unknown {kind} 'no-such'; known: ") and known in line and "\n" not in line
    assert isinstance(err.value, ConfigError if module.startswith("testbed.") else KeyError)


@pytest.fixture
def plugin_path(tmp_path: Path) -> Iterator[Path]:
    """A folder on ``sys.path`` for a throwaway distribution (its .dist-info holds the entry points)."""
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("throwaway_")]:
        del sys.modules[name]


def _distribution(root: Path, module: str, body: str, entry_points: str) -> None:
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    info = root / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_entry_point_plugins_register_themselves(plugin_path: Path) -> None:
    reg: Registry[type] = Registry("thing", "testbed.tests-things")
    _distribution(plugin_path, "throwaway_things", f"""
        from {__name__} import REGISTRIES
        @REGISTRIES["things"].register
        class Widget:
            name = "widget"
        """, "[testbed.tests-things]\nwidget = throwaway_things\n")
    _distribution(plugin_path, "throwaway_broken", "raise ImportError('needs libfoo')\n",
                  "[testbed.tests-things]\nbroken = throwaway_broken\n")
    REGISTRIES["things"] = reg
    try:
        assert "widget" in reg.names()
        with pytest.raises(UnknownNameError) as err:
            reg.get("gadget")
        assert str(err.value) == ("unknown thing 'gadget'; known: widget; plug-in broken = throwaway_broken "
                                  "did not load: ImportError: needs libfoo")
        reg.load_plugins(again=True)  # a second scan imports nothing twice (no duplicate error)
        assert reg.names() == ["widget"]
    finally:
        del REGISTRIES["things"]


REGISTRIES: dict[str, Registry[type]] = {}
