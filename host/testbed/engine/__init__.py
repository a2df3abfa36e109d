"""The engine: every measurement is a cell (board x model x variant x threads) of a run; `testbed run
--plan` (nightly), `testbed deploy` (a plan of one board) and every ``--resume`` go through it.

    plan.py        plans (YAML, validated) and their cells
    run.py         start / resume / execute a run: conversions and measurement overlap
    artifacts.py   conversions in worker processes, each artifact handed on when ready
    executor.py    where cells run: the Executor contract; ThreadExecutor (a thread per board)
    board.py       one board's worker: health, lease, retries, each cell committed at once
    lease.py       the board lease (agent-side; a lock file for boards without an agent)
    ui.py          progress per board on screen
"""
