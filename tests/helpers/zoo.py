"""Shared by the zoo test modules: the parity tolerance.

(Their isolated, empty ``TESTBED_HOME`` is the ``isolated_home`` fixture in tests/unit/conftest.py.)
"""

from __future__ import annotations

PARITY_ATOL = 1e-4
