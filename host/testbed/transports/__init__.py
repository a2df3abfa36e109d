"""Transports (one registry): ``local`` (agent subprocess here), ``ssh`` (paramiko + tunnel) and
``adb`` (a phone and its native tools). Each owns its profile section (``Settings``) and declares
what it can do by the protocols of ``capabilities.py`` it implements."""

from . import adb, local, ssh  # noqa: F401  (register)
from .base import AgentSettings, BoardClient, BoardProfile, Transport, TransportSettings
from .registry import TRANSPORTS, get, names, register

__all__ = ["TRANSPORTS", "AgentSettings", "BoardClient", "BoardProfile", "Transport", "TransportSettings", "get",
           "names", "register"]
