"""A transport owns its profile section (the schema is a union discriminated on ``transport``) and
says what it can do through the small protocols of ``transports/capabilities.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from testbed import profiles
from testbed.agent_client import AgentClient
from testbed.android.board import AdbBoard
from testbed.cli import main
from testbed.errors import ConfigError
from testbed.fleet.install import install
from testbed.fleet.install_options import InstallOptions
from testbed.transports import TRANSPORTS, BoardClient, Transport, TransportSettings, get
from testbed.transports.adb import AdbSettings
from testbed.transports.capabilities import (
    InstallsAgent,
    LeasesBoard,
    ManagesAgent,
    PutsFiles,
    RunsCommands,
    SharesThisMachine,
    has,
)
from testbed.transports.ssh_connect import SshSettings


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"id: {name}\n{text}")
    return path


@pytest.mark.parametrize("text, section", [
    ("transport: ssh\nssh: {host: pi.local, port: 2222}\n", SshSettings),
    ("transport: adb\nadb: {serial: R58M}\n", AdbSettings),
    ("transport: local\n", type(None)),
])
def test_the_transport_picks_its_section(tmp_path: Path, text: str, section: type) -> None:
    prof = profiles.load(str(write(tmp_path, "board", text)))
    assert isinstance(prof, profiles.Profile) and isinstance(prof.connection, section)
    assert prof.connection is None or prof.connection.where() in ("pi.local", "adb R58M")


def test_an_ssh_section_in_a_local_profile_is_an_error_naming_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "board", "transport: local\nssh:\n  host: pi.local\n")
    with pytest.raises(ConfigError) as err:
        profiles.load(str(path))
    assert str(err.value).startswith(f"{path}: key 'ssh': unknown key")
    assert "transport is 'local'" in str(err.value)


def test_an_ssh_key_in_the_adb_section_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, "phone", "transport: adb\nadb:\n  serial: R58M\n  host: phone.local\n")
    with pytest.raises(ConfigError, match=r"phone\.yaml: key 'adb\.host': unknown key"):
        profiles.load(str(path))


def test_missing_section_and_unknown_transport_are_one_line_each(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key 'adb': transport 'adb' needs an 'adb:' section"):
        profiles.load(str(write(tmp_path, "phone", "transport: adb\n")))
    with pytest.raises(ConfigError, match="key 'transport': unknown transport 'serial'; known: adb, local, ssh"):
        profiles.load(str(write(tmp_path, "b", "transport: serial\n")))


def test_a_transport_plugin_brings_its_own_section(tmp_path: Path) -> None:
    class UartSettings(TransportSettings):
        device: str  # e.g. /dev/ttyUSB0
        baud: int = 115200

    class UartTransport(Transport):
        name = "uart-test"
        Settings = UartSettings

        def open(self) -> BoardClient:
            raise NotImplementedError

        def close(self) -> None:
            pass

    TRANSPORTS.register(UartTransport)
    try:
        prof = profiles.load(str(write(tmp_path, "b", "transport: uart-test\nuart-test: {device: /dev/ttyUSB0}\n")))
        assert isinstance(prof.connection, UartSettings) and prof.connection.baud == 115200
        with pytest.raises(ConfigError, match=r"key 'uart-test\.speed': unknown key"):
            profiles.load(str(write(tmp_path, "c", "transport: uart-test\nuart-test: {device: x, speed: 9}\n")))
    finally:
        TRANSPORTS.unregister("uart-test")
    with pytest.raises(ConfigError, match="unknown transport 'uart-test'"):
        profiles.load(str(tmp_path / "b.yaml"))


def test_capabilities_are_declared_by_the_transports() -> None:
    assert has("ssh", ManagesAgent) and has("ssh", RunsCommands) and has("ssh", PutsFiles)
    assert has("ssh", InstallsAgent) and not has("ssh", SharesThisMachine)
    assert has("local", SharesThisMachine) and not has("local", ManagesAgent)
    assert not any(has("adb", c) for c in (ManagesAgent, RunsCommands, PutsFiles, SharesThisMachine))


def test_every_transport_opens_a_board_client() -> None:
    """One contract: ``open()`` returns a BoardClient, whether the agent's HTTP client or the adb stand-in."""
    assert isinstance(AgentClient("http://127.0.0.1:1", "t", where="x"), BoardClient)
    assert isinstance(AdbBoard(object(), "/data/local/tmp", {}, where="phone"), BoardClient)
    # the agent grants leases; the phone's stand-in does not (the engine holds it with a lock file)
    assert isinstance(AgentClient("http://127.0.0.1:1", "t", where="x"), LeasesBoard)
    assert not isinstance(AdbBoard(object(), "/data/local/tmp", {}, where="phone"), LeasesBoard)


def test_agent_install_on_an_adb_board_says_it_takes_none(tmp_path: Path) -> None:
    path = write(tmp_path, "phone", "transport: adb\nadb: {serial: R58M}\n")
    prof = profiles.load(str(path))
    with pytest.raises(ConfigError, match=r"transport 'adb', which cannot do `testbed agent install`.*can: ssh \(boards reached over SSH\)"):
        install(prof, InstallOptions(), profile_path=path)
    result = CliRunner().invoke(main, ["agent", "install", "--device", str(path)])
    assert result.exit_code == 2
    assert "transport 'adb' (Android phones over adb, measured by native tools), which runs no agent" in result.output
    assert "`testbed agent` is for: ssh (boards reached over SSH)" in result.output
    assert get("adb").Settings is AdbSettings
