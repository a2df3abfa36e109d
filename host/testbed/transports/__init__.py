"""Transports (one registry): ``local`` (agent subprocess here) and ``ssh`` (paramiko + tunnel)."""

from . import adb, local, ssh  # noqa: F401  (register)
from .base import Transport
from .registry import get, names, register

__all__ = ["Transport", "get", "names", "register"]
