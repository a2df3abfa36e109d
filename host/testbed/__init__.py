"""testbed host controller: convert models, push them to boards, measure, store, report.

The Python API (``testbed.api``) is reached from here and loaded on first use, so ``import testbed``
- which every CLI command does - imports nothing heavy:

    testbed.deploy(model=..., device=..., ...)   a deploy, as `testbed deploy`: RunResults
    testbed.results(run_id)                      a stored run read back: RunResults
    testbed.runs(limit=20)                       the stored runs, newest first: [RunSummary]
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

__version__ = "0.1.0"

#: Names served by ``testbed.api``, loaded when first asked for (PEP 562).
_API = ("results", "runs", "RunResults", "RunSummary", "VariantResult")


def __getattr__(name: str) -> Any:
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'testbed' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API, "deploy"])


class _Package(types.ModuleType):
    """``testbed``'s module type: ``testbed.deploy`` is always the API's function.

    The package also has a submodule ``testbed.deploy`` (the engine's deploy), and importing a
    submodule sets the package's attribute of that name to the module - after which ``testbed.deploy(...)``
    would call a module. A property on the module's type (a data descriptor) wins over that attribute:
    reading it gives the function, and the import system's assignment is left out (the submodule stays
    in ``sys.modules``: ``from testbed.deploy import DeployOptions`` works as before; ``import
    testbed.deploy as m`` would get the function, so the code imports from it by name).
    """

    @property
    def deploy(self) -> Callable[..., Any]:
        from .api import deploy

        return deploy

    @deploy.setter
    def deploy(self, value: object) -> None:
        pass  # the submodule testbed.deploy, set by the import system: reachable through sys.modules


sys.modules[__name__].__class__ = _Package
