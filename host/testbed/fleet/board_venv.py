"""Steps 2 and 3 of `testbed agent install`: the venv on the board and what is installed in it.

2. a venv on the board (``python3 -m venv``; the profile's ``agent.python`` names it);
3. the agent wheel (built on the host, only ``testbed_agent``) and the profile's runtimes, by the
   board's own pip (so it gets wheels for its own architecture) — from its package index, or with
   ``--wheelhouse DIR`` offline: the host downloads the wheels for the board's tags into DIR and
   sends them, the board installs with ``--no-index --find-links``.

``STATE_SCRIPT`` (what the venv holds) is also what ``probe.py`` runs on a board.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Sequence

from ..errors import TransportError
from ..profiles import Profile
from ..transports.capabilities import InstallsAgent
from . import wheel as wheel_mod
from . import wheelhouse as wheelhouse_mod
from .install_options import InstallOptions, InstallReport, Progress

DEFAULT_VENV = "~/testbed-agent/venv"
PIP_TIMEOUT_S = 1800.0

# Run with the venv's python: what is installed (the agent's own probes when it is there).
STATE_SCRIPT = r"""
import json, sys
out = {"python": sys.version.split()[0], "executable": sys.executable, "agent_version": None, "runtimes": {}}
try:
    import testbed_agent
    out["agent_version"] = testbed_agent.__version__
    from testbed_agent.info import runtime_probes
    out["runtimes"] = {k: v.to_json() for k, v in runtime_probes().items()}
except Exception as exc:
    out["error"] = "%s: %s" % (type(exc).__name__, exc)
try:
    import importlib.metadata as md
    out["packages"] = sorted({(d.metadata["Name"] or "").lower() for d in md.distributions()})
except Exception:
    out["packages"] = []
print(json.dumps(out))
"""


def venv_dir(transport: InstallsAgent) -> str:
    """The venv named by ``agent.python`` (``<venv>/bin/python``), else ``~/testbed-agent/venv``."""
    python = transport.expand(transport.profile.agent.python)
    parent = posixpath.dirname(python)
    if posixpath.isabs(python) and posixpath.basename(parent) == "bin" and \
            posixpath.basename(python).startswith("python"):
        venv = posixpath.dirname(parent)
        exists = transport.exec(f"test -x {shlex.quote(python)}")[0] == 0
        is_venv = transport.exec(f"test -f {shlex.quote(posixpath.join(venv, 'pyvenv.cfg'))}")[0] == 0
        if is_venv or not exists:
            return venv
    return transport.expand(DEFAULT_VENV)


def make_venv(transport: InstallsAgent, base_python: str, venv: str) -> None:
    code, out = transport.exec(f"{shlex.quote(base_python)} -c 'import sys; print(sys.version_info >= (3, 10))'")
    if code != 0:
        raise TransportError(f"no '{base_python}' on {transport.profile.id} ({out.strip()[-120:]}); install "
                             "Python >= 3.10 on the board or pass --python PATH")
    if out.strip() != "True":
        raise TransportError(f"'{base_python}' on {transport.profile.id} is older than Python 3.10; "
                             "pass --python PATH to a newer one")
    code, out = transport.exec(f"mkdir -p {shlex.quote(posixpath.dirname(venv))} && "
                               f"{shlex.quote(base_python)} -m venv {shlex.quote(venv)}", timeout_s=300)
    if code != 0:
        last = out.strip().splitlines()[-1] if out.strip() else "no output"
        raise TransportError(f"`{base_python} -m venv {venv}` failed on {transport.profile.id}: {last} "
                             "(Debian/Ubuntu/Raspberry Pi OS: sudo apt install python3-venv)")


def board_state(transport: InstallsAgent, python: str) -> dict:
    code, out = transport.exec(f"{shlex.quote(python)} - <<'TESTBED_EOF'\n{STATE_SCRIPT}\nTESTBED_EOF", timeout_s=120)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if code != 0 or not lines:
        raise TransportError(f"{python} does not run on {transport.profile.id}: {out.strip()[-200:]}")
    return json.loads(lines[-1])


def pip_install(transport: InstallsAgent, profile: Profile, options: InstallOptions,  # noqa: PLR0913
                 wheel: wheel_mod.AgentWheel, python: str, state: dict, stale_agent: bool,
                 missing: Sequence[str], report: InstallReport, progress: Progress) -> None:
    home = transport.agent_home
    dist = posixpath.join(home, "dist")
    transport.exec(f"mkdir -p {shlex.quote(dist)}")
    remote_wheel = posixpath.join(dist, wheel.filename)
    progress(f"sending the agent wheel to {profile.id}")
    transport.put(wheel.path, remote_wheel)
    index: list[str] = []
    env = ""
    if options.wheelhouse is not None:
        code, out = transport.exec(
            f"{shlex.quote(python)} - <<'TESTBED_EOF'\n{wheelhouse_mod.TAGS_SCRIPT}\nTESTBED_EOF", timeout_s=120)
        if code != 0:
            raise TransportError(f"cannot read the wheel tags of {python} on {profile.id}: {out.strip()[-200:]}")
        tags = wheelhouse_mod.BoardTags.from_json(out.strip().splitlines()[-1])
        progress(f"pip download for {profile.id} ({tags.implementation}{tags.python_version}, "
                 f"{tags.platforms[0] if tags.platforms else '?'}) into {options.wheelhouse}")
        wheelhouse_mod.download(options.wheelhouse, wheel.requirements_for(profile.runtimes), tags, profile.id)
        remote_wh = posixpath.join(home, "wheelhouse")
        progress(f"sending wheels to {profile.id}")
        sent, nbytes = wheelhouse_mod.push(transport, options.wheelhouse, remote_wh, tags)
        if sent:
            report.actions.append(f"sent {sent} wheels ({nbytes / 1e6:.1f} MB) to {remote_wh}")
        index = ["--no-index", "--find-links", remote_wh]
        env = "PIP_CONFIG_FILE=/dev/null "  # offline: the board's own pip config (index URLs) is ignored
    pip = f"{env}{shlex.quote(python)} -m pip --disable-pip-version-check --no-input install --progress-bar off"
    idx = " ".join(shlex.quote(a) for a in index)
    if stale_agent and state.get("agent_version") is not None:
        # another version, or the same version with other code (a development build): replace the
        # package itself whatever its metadata says, then let pip add what the extras need
        _run_pip(transport, f"{pip} {idx} --no-deps --force-reinstall {shlex.quote(remote_wheel)}", profile)
    extras = wheel.extras_for(profile.runtimes)
    target = remote_wheel + (f"[{','.join(extras)}]" if extras else "")
    progress(f"pip install on {profile.id}: agent {wheel.version}"
             + (f" + {', '.join(extras)}" if extras else ""))
    _run_pip(transport, f"{pip} {idx} {shlex.quote(target)}", profile)
    before = state.get("agent_version")
    if before is None:
        report.actions.append(f"installed agent {wheel.version} with {', '.join(extras) or 'no runtimes'}")
    elif before != wheel.version:
        report.actions.append(f"upgraded agent {before} -> {wheel.version}")
    elif stale_agent:
        report.actions.append(f"reinstalled agent {wheel.version} (its code changed)")
    else:
        report.actions.append(f"installed missing runtime(s): {', '.join(missing)}")


def _run_pip(transport: InstallsAgent, command: str, profile: Profile) -> None:
    code, out = transport.exec(command, timeout_s=PIP_TIMEOUT_S)
    if code != 0:
        errors = [ln for ln in out.splitlines() if ln.startswith("ERROR")] or out.strip().splitlines()[-1:]
        raise TransportError(f"pip install on {profile.id} failed: {' '.join(errors)[:400]} "
                             "(offline board? use --wheelhouse DIR)")

