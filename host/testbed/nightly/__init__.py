"""Nightly hardware runs: plans across a farm of boards, leases, resume, verdicts (`testbed run`).

    plan.py     plans/*.yaml: the matrix, validated; cells
    runner.py   start / resume / judge a plan run
    board.py    one worker thread per board: health, lease, retries, cells committed one by one
    lease.py    the board lease (agent-side; a lock file for boards without an agent)
    ui.py       progress per board on screen
"""

from .plan import Plan
from .plan import load as load_plan
from .runner import RunOutcome, judge, resume, start

__all__ = ["Plan", "RunOutcome", "judge", "load_plan", "resume", "start"]
