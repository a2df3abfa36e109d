"""The SSH target is resolved like OpenSSH would: profile values first, then ~/.ssh/config."""

from __future__ import annotations

from pathlib import Path

from testbed.profiles import SshSettings
from testbed.transports.ssh_connect import resolve


def test_ssh_config_fills_what_the_profile_leaves_out(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("Host mypi\n  HostName 198.18.0.7\n  User pi\n  Port 2222\n  IdentityFile ~/.ssh/pi_key\n")
    target = resolve(SshSettings(host="mypi"), config_path=cfg)
    assert (target.hostname, target.port, target.user) == ("198.18.0.7", 2222, "pi")
    assert target.key_files == [str(Path("~/.ssh/pi_key").expanduser())]
    assert target.known_hosts_name == "[198.18.0.7]:2222"


def test_profile_values_win(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("Host mypi\n  User pi\n  Port 2222\n")
    target = resolve(SshSettings(host="mypi", user="root", port=22), config_path=cfg)
    assert (target.hostname, target.port, target.user) == ("mypi", 22, "root")
    assert target.known_hosts_name == "mypi"
