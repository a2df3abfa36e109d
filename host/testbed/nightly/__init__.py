"""Nightly hardware runs (`testbed run`): a plan across a farm of boards, resumed, judged against its
baseline. The cells run through the engine (``testbed.engine``), like a deploy's.

    runner.py   start / resume / judge a plan run
"""

from ..engine.plan import Plan
from ..engine.plan import load as load_plan
from .runner import RunOutcome, judge, resume, start

__all__ = ["Plan", "RunOutcome", "judge", "load_plan", "resume", "start"]
