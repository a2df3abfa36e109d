"""The virtual lab end to end, no mocks: `testbed lab up` makes boards (a network namespace with its
own 198.18.x.y address, a real sshd bound to it, its own hostname), `testbed agent install` puts the
agent in each board's own venv over real SSH (offline: --wheelhouse), `testbed deploy` measures
digits_cnn there with host-key checking, `testbed doctor` names what is wrong with the fix, and
`testbed lab down` leaves nothing behind (asserted in the teardown, also when a test failed).

Needs root and `ip netns` (marker ``lab``); CI runs the suite as root.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from helpers import netns
from helpers.cli import run, run_json

REASON = netns.skip_reason()
pytestmark = [pytest.mark.integration, pytest.mark.lab,
              pytest.mark.skipif(REASON is not None, reason=f"lab tests: {REASON}")]

FAST = ("--iterations", "10", "--warmup", "2", "--quant", "fp32", "--formats", "onnx,tflite")


def board_sh(profile: Path, command: str, timeout_s: float = 120) -> tuple[int, str]:
    """Run a command on a board over real SSH (the profile's key, host-key checking)."""
    from testbed import profiles
    from testbed.transports.ssh import SshTransport

    with SshTransport(profiles.load(str(profile))) as t:
        t.connect()
        return t.exec(command, timeout_s=timeout_s)


@pytest.fixture(scope="module")
def lab(testbed_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Two boards in this session's TESTBED_HOME; torn down (and checked clean) at the end."""
    env = {"TESTBED_PROFILES": str(testbed_home / "lab" / "profiles")}
    os.environ.update(env)  # `--device lab1` for the testbed commands run below
    proc = run("lab", "up", "--boards", "2")
    state_file = testbed_home / "lab" / "state.json"
    lab_id = json.loads(state_file.read_text())["lab_id"] if state_file.exists() else None
    try:
        assert proc.returncode == 0, proc.stderr
        profiles = {f"lab{i}": testbed_home / "lab" / "profiles" / f"lab{i}.yaml" for i in (1, 2)}
        yield {"home": testbed_home, "lab_id": lab_id, "profiles": profiles,
               "wheelhouse": testbed_home / "wheelhouse",
               "state": json.loads(state_file.read_text())}
    finally:
        down = run("lab", "down")
        os.environ.pop("TESTBED_PROFILES", None)
        assert down.returncode == 0, down.stderr
        if lab_id:
            assert netns.leftovers(lab_id, testbed_home / "lab") == []
        assert not state_file.exists()


@pytest.fixture(scope="module")
def installed(lab: dict) -> dict:
    """`testbed agent install` on lab1: an offline board, the plain command (issue 11: it failed after
    23 s) - the lab's profile names the host's wheelhouse (agent.wheelhouse)."""
    proc = run("agent", "install", "--device", "lab1", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["wheelhouse"] == str(lab["wheelhouse"].resolve()) and report["unit_path"] == ""
    return report


def test_boards_have_their_own_address_hostname_and_sshd(lab: dict) -> None:
    rows = json.loads(run("lab", "status", "--json").stdout)
    assert [r["board"] for r in rows] == ["lab1", "lab2"]
    assert all(r["present"] and r["sshd"] and r["listening"] for r in rows)
    addresses = {r["address"] for r in rows}
    assert len(addresses) == 2 and all(a.startswith(("198.18.", "198.19.")) for a in addresses)
    for r in rows:
        code, out = board_sh(lab["profiles"][r["board"]], "hostname; ip -4 -o addr show dev eth0; ip route")
        assert code == 0
        lines = out.splitlines()
        assert lines[0] == r["board"]  # its own UTS namespace
        assert r["address"] + "/30" in lines[1]
        assert "default" not in out  # a board reaches this host only
    # the known_hosts of the lab holds each board's own host key
    kh = (lab["home"] / "lab" / "known_hosts").read_text().splitlines()
    assert len({line.split()[2] for line in kh}) == 2


def test_agent_install_makes_a_venv_without_torch_and_starts_the_agent(lab: dict, installed: dict) -> None:
    state = lab["state"]["boards"][0]
    assert installed["venv"] == str(Path(state["dir"]) / "venv")
    assert installed["version"] and installed["agent_pid"]
    assert any(a.startswith("created venv") for a in installed["actions"])
    assert {"litert", "onnxruntime"} <= {k for k, v in installed["runtimes"].items() if v["available"]}
    packages = set(installed["packages"])
    assert {"testbed", "flask", "waitress", "numpy", "onnxruntime", "ai-edge-litert"} <= packages
    assert not packages & {"torch", "tensorflow", "tensorflow-cpu", "keras", "executorch"}
    # the service: no systemd here, so a background process; the unit file is written anyway
    assert installed["service"] == "process"
    unit = Path(installed["unit_file"]).read_text()
    assert "ExecStart=" in unit and "testbed_agent.cli serve" in unit and str(state["dir"]) in unit
    # the agent runs inside the board's namespace, from the board's venv
    code, out = board_sh(lab["profiles"]["lab1"], f"cat /proc/{installed['agent_pid']}/cmdline | tr '\\0' ' '; echo; "
                         f"readlink /proc/{installed['agent_pid']}/ns/net; readlink /proc/self/ns/net")
    assert code == 0 and installed["python"] in out
    ns_agent, ns_shell = out.splitlines()[-2:]
    assert ns_agent == ns_shell
    # the profile's agent.python already named the venv: left as it is
    assert yaml.safe_load(lab["profiles"]["lab1"].read_text())["agent"]["python"] == installed["python"]


def test_deploy_to_the_virtual_board_over_ssh(lab: dict, installed: dict) -> None:
    rows = run_json("deploy", "--device", "lab1", "--model", "digits_cnn", *FAST)
    ok = {(r["format"], r["source"]) for r in rows if r["status"] == "ok"}
    assert {("onnx", "pytorch"), ("onnx", "keras"), ("tflite", "keras")} <= ok, \
        [(r["variant"] if "variant" in r else r.get("converter"), r.get("error")) for r in rows]
    for r in rows:
        if r["status"] == "ok":
            assert r["latency_ms"]["n"] >= 10 and r["accuracy"] >= 0.9
            assert r["parity"]["top1_agreement"] >= 0.99
    store = Path(lab["state"]["boards"][0]["dir"]) / "agent-home" / "store" / "artifacts"
    assert all(r["sha256"] in {p.name for p in store.iterdir()} for r in rows if r["status"] == "ok")


def installed_sha(lab: dict) -> str:
    home = Path(lab["state"]["boards"][0]["dir"]) / "agent-home"
    return json.loads((home / "install.json").read_text())["wheel_sha256"]


def code_changed_since(sha: str, tmp_path: Path) -> bool:
    """Whether the agent's code (the wheel this host builds) changed since ``sha`` was installed:
    in a shared checkout someone may edit device_agent/ while the suite runs, and then a reinstall
    is the right answer."""
    from testbed.fleet import wheel

    return wheel.build(tmp_path / "wheel").sha256 != sha


def test_agent_install_again_does_nothing(lab: dict, installed: dict, tmp_path: Path) -> None:
    sha = installed_sha(lab)
    again = run_json_obj("agent", "install", "--device", "lab1", "--wheelhouse", str(lab["wheelhouse"]))
    if code_changed_since(sha, tmp_path):
        assert f"reinstalled agent {installed['version']} (its code changed)" in again["actions"]
    else:
        assert again["actions"] == [] and again["agent_pid"] == installed["agent_pid"]


def test_doctor_on_a_healthy_board(lab: dict, installed: dict) -> None:
    proc = run("doctor", "--device", "lab1")
    assert proc.returncode == 0, proc.stdout
    assert "FAIL" not in proc.stdout and "lab1: healthy" in proc.stdout
    checks = {line.split()[1] for line in proc.stdout.splitlines() if line.startswith("ok")}
    assert {"ssh", "host-key", "agent", "runtime:litert", "runtime:onnxruntime", "power", "governor",
            "temperature", "disk", "clock"} <= checks
    facts = json.loads(run("doctor", "--device", "lab1", "--json").stdout)["facts"]
    assert facts["info"]["hostname"] == "lab1" and abs(facts["clock_skew_s"]) < 2


def test_doctor_names_a_stopped_agent(lab: dict, installed: dict) -> None:
    assert run("agent", "stop", "--device", "lab1").returncode == 0
    try:
        proc = run("doctor", "--device", "lab1")
        assert proc.returncode == 1
        problems = [ln for ln in proc.stdout.splitlines() if ln.startswith(("FAIL", "WARN"))]
        assert len(problems) == 1, proc.stdout
        assert "agent" in problems[0] and "not running" in problems[0]
        assert "fix: testbed agent start --device lab1" in problems[0]
    finally:
        assert run("agent", "start", "--device", "lab1").returncode == 0
    assert run("doctor", "--device", "lab1").returncode == 0


def test_doctor_names_a_missing_runtime_and_install_repairs_it(lab: dict, installed: dict, tmp_path: Path) -> None:
    python = installed["python"]
    code, out = board_sh(lab["profiles"]["lab1"], f"{shlex.quote(python)} -m pip uninstall -y -q onnxruntime")
    assert code == 0, out
    assert run("agent", "restart", "--device", "lab1").returncode == 0
    proc = run("doctor", "--device", "lab1")
    assert proc.returncode == 1
    problems = [ln for ln in proc.stdout.splitlines() if ln.startswith(("FAIL", "WARN"))]
    assert len(problems) == 1, proc.stdout
    assert "runtime:onnxruntime" in problems[0] and "not importable" in problems[0]
    assert "fix: testbed agent install --device lab1" in problems[0]
    sha = installed_sha(lab)
    repaired = run_json_obj("agent", "install", "--device", "lab1", "--wheelhouse", str(lab["wheelhouse"]))
    assert repaired["runtimes"]["onnxruntime"]["available"]
    if not code_changed_since(sha, tmp_path):
        assert "installed missing runtime(s): onnxruntime" in repaired["actions"]
    assert run("doctor", "--device", "lab1").returncode == 0


def test_doctor_names_an_unknown_host_key(lab: dict, tmp_path: Path) -> None:
    data = yaml.safe_load(lab["profiles"]["lab2"].read_text())
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    data.update(id="stranger")
    data["ssh"]["known_hosts"] = str(empty)
    prof = tmp_path / "stranger.yaml"
    prof.write_text(yaml.safe_dump(data))
    proc = run("doctor", "--device", str(prof))
    assert proc.returncode == 1
    problems = [ln for ln in proc.stdout.splitlines() if ln.startswith(("FAIL", "WARN"))]
    assert len(problems) == 1 and "host-key" in problems[0] and "unknown host key" in problems[0]
    assert f"ssh-keyscan -p 22 {data['ssh']['host']} >> {empty}" in problems[0]
    # the fingerprint shown is the board's real host key
    board_dir = Path(lab["state"]["boards"][1]["dir"])
    fp = subprocess.run(["ssh-keygen", "-lf", str(board_dir / "host_ed25519.pub")], capture_output=True,
                        text=True).stdout.split()[1]
    assert fp in problems[0]
    assert empty.read_text() == ""  # doctor trusts nothing by itself


def test_doctor_names_a_board_without_agent(lab: dict) -> None:
    proc = run("doctor", "--device", "lab2")
    assert proc.returncode == 1
    assert "FAIL agent" in proc.stdout and "fix: testbed agent install --device lab2" in proc.stdout


def test_devices_live(lab: dict, installed: dict) -> None:
    rows = {r["id"]: r for r in run_json("devices", "--live", "--tag", "lab")}
    assert set(rows) == {"lab1", "lab2"}  # --tag: the example profiles' hosts are never contacted
    assert rows["lab1"]["reachable"] == "yes" and rows["lab1"]["running"] == "yes"
    assert rows["lab1"]["agent"] == installed["version"]
    assert rows["lab2"]["reachable"] == "yes" and rows["lab2"]["running"] == "no" and rows["lab2"]["agent"] is None


def test_a_board_off_the_network_is_named_with_what_timed_out(lab: dict) -> None:
    board = lab["state"]["boards"][1]
    subprocess.run(["ip", "-n", board["netns"], "link", "set", "eth0", "down"], check=True)  # inside only
    try:
        rows = {r["id"]: r for r in run_json("devices", "lab2", "--live", "--timeout", "1")}
        assert rows["lab2"]["reachable"] == "no"
        assert "timed out after 1 s" in rows["lab2"]["ssh_error"] or "cannot reach" in rows["lab2"]["ssh_error"]
        proc = run("doctor", "--device", "lab2")
        assert proc.returncode == 1 and "FAIL ssh" in proc.stdout and board["board_ip"] in proc.stdout
    finally:
        subprocess.run(["ip", "-n", board["netns"], "link", "set", "eth0", "up"], check=True)


def test_proxy_jump_reaches_a_board_only_its_jump_host_sees(lab: dict, tmp_path: Path) -> None:
    """An sshd on lab1's own loopback is reachable only through lab1: ~/.ssh/config ProxyJump."""
    from helpers.sshd import free_port

    board = lab["state"]["boards"][0]
    port = free_port()
    host_key = tmp_path / "inner_host"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    inner = netns.start_sshd_in_netns(board["netns"], tmp_path / "inner", lab["home"] / "lab" / "authorized_keys",
                                      host_key, port)
    try:
        netns.wait_listening(board["netns"], "127.0.0.1", port)
        pub = host_key.with_suffix(".pub").read_text().split()
        kh = tmp_path / "known_hosts"
        kh.write_text((lab["home"] / "lab" / "known_hosts").read_text() + f"[127.0.0.1]:{port} {pub[0]} {pub[1]}\n")
        key = lab["home"] / "lab" / "client_ed25519"
        cfg = tmp_path / "ssh_config"
        cfg.write_text(f"Host gateway\n  HostName {board['board_ip']}\n  User root\n  IdentityFile {key}\n\n"
                       f"Host inner\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {key}\n"
                       "  ProxyJump gateway\n")
        prof = tmp_path / "inner.yaml"
        prof.write_text(f"id: inner\ntransport: ssh\nssh:\n  host: inner\n  known_hosts: {kh}\n"
                        f"agent:\n  home: {tmp_path / 'inner-agent'}\n")
        os.environ["TESTBED_SSH_CONFIG"] = str(cfg)
        try:
            code, out = board_sh(prof, "readlink /proc/self/ns/net; echo $SSH_CONNECTION")
        finally:
            del os.environ["TESTBED_SSH_CONFIG"]
        assert code == 0
        inner_ns, conn = out.splitlines()[:2]
        assert inner_ns == board_sh(lab["profiles"]["lab1"], "readlink /proc/self/ns/net")[1].strip()  # lab1's netns
        assert conn.split()[0] == "127.0.0.1" and conn.split()[3] == str(port)  # came in through lab1
        # without the jump host it cannot be reached (this host's 127.0.0.1 is another loopback)
        direct = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
        assert f"127.0.0.1:{port}" not in direct
    finally:
        inner.terminate()
        inner.wait(timeout=10)


def run_json_obj(*args: str) -> dict:
    proc = run(*args, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_cpu_quota_and_pinning(tmp_path: Path) -> None:
    """A second lab (its own TESTBED_HOME) with boards capped at a quarter of a CPU and pinned."""
    home = tmp_path / "home"
    env = {"TESTBED_HOME": str(home)}
    proc = run("lab", "up", "--boards", "1", "--cpu-quota", "0.25", "--pin", env=env)
    state_file = home / "lab" / "state.json"
    lab_id = json.loads(state_file.read_text())["lab_id"] if state_file.exists() else None
    try:
        assert proc.returncode == 0, proc.stderr
        board = json.loads(state_file.read_text())["boards"][0]
        assert board["cgroup"] and board["cpus"]
        cg = Path(board["cgroup"])
        assert board["sshd_pid"] in [int(p) for p in (cg / "cgroup.procs").read_text().split()]
        quota = (cg / "cpu.max").read_text() if (cg / "cpu.max").exists() else (cg / "cpu.cfs_quota_us").read_text()
        assert quota.split()[0] == "25000"
        spin = ("python3 -c \"import os,time; w=time.time(); c=time.process_time()\n"
                "while time.process_time()-c < 0.3: pass\n"
                "print(time.time()-w, sorted(os.sched_getaffinity(0)))\"")
        code, out = board_sh(home / "lab" / "profiles" / "lab1.yaml", spin)
        assert code == 0, out
        wall, cpus = out.split(" ", 1)
        assert float(wall) >= 0.8, out  # 0.3 s of CPU at 0.25 CPU takes >= ~1.2 s of wall time
        assert json.loads(cpus) == board["cpus"]
    finally:
        down = run("lab", "down", env=env)
        assert down.returncode == 0, down.stderr
        if lab_id:
            assert netns.leftovers(lab_id, home / "lab") == []


def test_an_unknown_arch_is_refused_with_the_choices() -> None:
    # (--arch arm64 boots an emulated board: tests/integration/test_lab_arm64.py, nightly)
    proc = run("lab", "up", "--boards", "1", "--arch", "riscv64")
    assert proc.returncode == 2 and "'native'" in proc.stderr and "'arm64'" in proc.stderr
