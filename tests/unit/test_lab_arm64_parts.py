"""The parts of `lab up --arch arm64` that need no emulator (the board itself is tested end to end in
tests/integration/test_lab_arm64.py, nightly): the profile it writes, the QEMU command line, the
seed disk, the image cache key, and the "emulated" label on results."""

from __future__ import annotations

import io
import platform
import shutil
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from testbed import profiles
from testbed.errors import ConfigError
from testbed.lab import arm64_image, client_files, lab, vm
from testbed.report import table


def board(tmp_path: Path) -> lab.Board:
    return lab.Board(name="lab1", index=1, netns="tb-abcd-b1", veth="tbabcdh1", host_ip="198.18.7.1",
                     board_ip="198.18.7.2", dir=str(tmp_path / "boards" / "lab1"),
                     profile=str(tmp_path / "lab1.yaml"), arch="arm64")


def test_arch_names() -> None:
    assert lab._board_arch("native") == "native"
    assert lab._board_arch(platform.machine()) == "native"
    if platform.machine() == "x86_64":
        assert lab._board_arch("arm64") == lab._board_arch("aarch64") == "arm64"
    with pytest.raises(ConfigError, match="unknown"):
        lab._board_arch("riscv64")


def test_the_emulated_boards_profile_loads_and_says_it_is_emulated(tmp_path: Path) -> None:
    b = board(tmp_path)
    state = lab.LabState(lab_id="abcd", subnet="198.18.7.0/24", created=0.0, arch="arm64", boards=[b])
    path = Path(b.profile)
    path.write_text(client_files.emulated_profile(state, b, tmp_path, ["netns tb-abcd-b1", b.board_ip]))
    prof = profiles.load(str(path))
    assert prof.arch == "aarch64" and prof.ssh.user == "root" and prof.ssh.host == "198.18.7.2"
    assert prof.emulated and "qemu-system-aarch64" in prof.emulated and "TCG" in prof.emulated
    assert prof.agent.python == "/root/testbed-agent/venv/bin/python"  # on the guest's own disk
    assert "emulated" in prof.tags and prof.measure.timeout_s >= 600


def test_qemu_command_is_the_issues_machine_and_forwards_only_ssh(tmp_path: Path) -> None:
    img = arm64_image.Image(dir=tmp_path, kernel=tmp_path / "vmlinuz", initrd=tmp_path / "initrd.img",
                            rootfs=tmp_path / "rootfs.ext4", recipe={})
    cmd = vm.command(img, tmp_path / "disk.qcow2", tmp_path / "seed.img", "198.18.7.2", tmp_path)
    line = " ".join(cmd)
    assert cmd[cmd.index("-M") + 1] == "virt" and cmd[cmd.index("-cpu") + 1] == "cortex-a72"
    net = cmd[cmd.index("-netdev") + 1]
    # the guest reaches nothing (restrict=on); one forward, bound to the board's lab address only
    assert "restrict=on" in net and net.count("hostfwd=") == 1 and "hostfwd=tcp:198.18.7.2:22-:22" in net
    assert "readonly=on" in line.split("id=seed,")[1].split()[0]


def test_image_cache_key_follows_the_recipe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TESTBED_ARM64_CACHE", str(tmp_path))
    a = arm64_image.image_dir("http://deb.debian.org/debian")
    assert a.parent == tmp_path and a.name.startswith(f"{arm64_image.SUITE}-")
    assert arm64_image.image_dir("http://mirror.example/debian") != a
    monkeypatch.setattr(arm64_image, "PACKAGES", [*arm64_image.PACKAGES, "vim"])
    assert arm64_image.image_dir("http://deb.debian.org/debian") != a
    assert arm64_image.cached("http://deb.debian.org/debian") is None  # nothing built there


def test_seed_disk_holds_the_boards_hostname_and_keys(tmp_path: Path) -> None:
    if not shutil.which("mkfs.ext4") or not shutil.which("debugfs"):
        pytest.fail("no mkfs.ext4/debugfs (Debian package e2fsprogs): run `bash scripts/install-system-deps.sh`")
    key = tmp_path / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (tmp_path / "authorized_keys").write_text("ssh-ed25519 AAAA test\n")
    img = vm.write_seed(tmp_path / "b", "lab7", key, tmp_path / "authorized_keys")
    listing = subprocess.run(["debugfs", "-R", "ls -l /", str(img)], capture_output=True, text=True).stdout
    for name in ("hostname", "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub", "authorized_keys"):
        assert name in listing
    hostname = subprocess.run(["debugfs", "-R", "cat /hostname", str(img)], capture_output=True, text=True).stdout
    assert hostname.strip() == "lab7"
    label = subprocess.run(["e2label", str(img)], capture_output=True, text=True).stdout.strip()
    assert label == "tbseed"  # what testbed-seed mounts in the guest


def test_results_from_an_emulated_board_are_labelled() -> None:
    row = {"status": "ok", "converter": "onnx-pytorch-fp32", "runtime": "onnxruntime", "power": None,
           "measurement": {"emulated": "qemu-system-aarch64 -M virt -cpu cortex-a72, software emulation (TCG)"}}
    out = io.StringIO()
    table._emulated_notes([row], Console(file=out, width=200))
    assert "EMULATED board" in out.getvalue() and "cortex-a72" in out.getvalue()
    out = io.StringIO()
    table._emulated_notes([{**row, "measurement": {}}], Console(file=out, width=200))
    assert out.getvalue() == ""
