"""Profiles: every shipped profile validates; a typo is an error naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed import profiles
from testbed.errors import ConfigError
from testbed.paths import repo_root


@pytest.mark.parametrize("path", sorted((repo_root() / "profiles").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_profiles_validate(path: Path) -> None:
    prof = profiles.load(str(path))
    assert prof.id == path.stem


def test_required_profiles_exist() -> None:
    names = {p.stem for p in (repo_root() / "profiles").glob("*.yaml")}
    assert {"local", "pi4", "pi5", "jetson-orin-nano", "android"} <= names


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "board.yaml"
    bad.write_text("id: board\ntransport: ssh\nssh:\n  host: b\n  prot: 22\n")
    with pytest.raises(ConfigError) as err:
        profiles.load(str(bad))
    assert str(bad) in str(err.value) and "ssh.prot" in str(err.value) and "unknown key" in str(err.value)


def test_bad_value_names_key(tmp_path: Path) -> None:
    bad = tmp_path / "board.yaml"
    bad.write_text("id: board\ntransport: local\nthreads: 0\n")
    with pytest.raises(ConfigError, match="key 'threads'"):
        profiles.load(str(bad))


def test_ssh_transport_needs_ssh_section(tmp_path: Path) -> None:
    bad = tmp_path / "board.yaml"
    bad.write_text("id: board\ntransport: ssh\n")
    with pytest.raises(ConfigError, match="needs an 'ssh:' section"):
        profiles.load(str(bad))


def test_id_must_match_file_name(tmp_path: Path) -> None:
    bad = tmp_path / "board.yaml"
    bad.write_text("id: other\ntransport: local\n")
    with pytest.raises(ConfigError, match="does not match the file name"):
        profiles.load(str(bad))


def test_unknown_device_lists_where_it_looked() -> None:
    with pytest.raises(ConfigError, match="unknown device 'nope'"):
        profiles.load("nope")
