"""SSH targets as OpenSSH resolves them, for `testbed doctor` and every SSH command: ProxyJump
chains, ProxyCommand, $TESTBED_SSH_CONFIG. (Connecting through a jump host for real is tested in
tests/integration/test_lab.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.errors import ConfigError
from testbed.profiles import SshSettings
from testbed.transports.ssh_connect import resolve


def test_proxy_jump_alias_and_chain(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("Host gw\n  HostName 198.18.0.1\n  User jump\n  Port 2200\n  IdentityFile ~/.ssh/gw_key\n\n"
                   "Host pi\n  HostName 10.0.0.7\n  User pi\n  ProxyJump gw,admin@198.18.0.9:2222\n")
    target = resolve(SshSettings(host="pi"), config_path=cfg)
    assert (target.hostname, target.user, target.port) == ("10.0.0.7", "pi", 22)
    first, second = target.jumps
    assert (first.alias, first.hostname, first.user, first.port) == ("gw", "198.18.0.1", "jump", 2200)
    assert first.key_files == [str(Path("~/.ssh/gw_key").expanduser())]
    assert (second.hostname, second.user, second.port) == ("198.18.0.9", "admin", 2222)
    assert target.route == "pi@10.0.0.7:22 via jump@198.18.0.1:2200 -> admin@198.18.0.9:2222"
    assert first.known_hosts == target.known_hosts  # every hop is checked against the profile's file


def test_proxy_jump_none_and_proxy_command(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("Host direct\n  ProxyJump none\n\nHost cmd\n  HostName 10.0.0.8\n"
                   "  ProxyCommand nc -x 127.0.0.1:1080 %h %p\n")
    assert resolve(SshSettings(host="direct"), config_path=cfg).jumps == []
    target = resolve(SshSettings(host="cmd"), config_path=cfg)
    assert target.proxy_command == "nc -x 127.0.0.1:1080 10.0.0.8 22"


def test_bad_jump_port_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("Host pi\n  ProxyJump gw:ssh\n")
    with pytest.raises(ConfigError, match="ProxyJump 'gw:ssh'"):
        resolve(SshSettings(host="pi"), config_path=cfg)


def test_config_file_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("Host board\n  HostName 198.18.3.2\n  User root\n")
    monkeypatch.setenv("TESTBED_SSH_CONFIG", str(cfg))
    target = resolve(SshSettings(host="board"))
    assert (target.hostname, target.user) == ("198.18.3.2", "root")
