"""An artifact's upload says how far it is: through a real OpenSSH sshd on 127.0.0.1, paramiko's SFTP
put drives ``ByteProgress`` and a log gets at most five lines for the file, the last at 100 %, while
the file arrives whole."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import sshd as sshd_helper

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd_helper.Sshd]:
    server = sshd_helper.start(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


def test_an_sftp_upload_reports_its_bytes_in_a_few_lines(sshd: sshd_helper.Sshd, tmp_path: Path) -> None:
    from test_deploy_ssh import write_profile

    from testbed import profiles
    from testbed.transports.progress import ByteProgress
    from testbed.transports.ssh import SshTransport

    profile = profiles.load(str(write_profile(tmp_path, "uploadboard", sshd, tmp_path / "agent-home",
                                              known_hosts=sshd.known_hosts)))
    local = tmp_path / "model.tflite"
    local.write_bytes(os.urandom(3_400_000))
    remote = tmp_path / "remote" / "model.tflite"
    remote.parent.mkdir()
    lines: list[str] = []
    transport = SshTransport(profile)
    transport.connect(retries=1)
    try:
        transport.put(local, str(remote), ByteProgress(local.name, lines.append, live=False))
    finally:
        transport.close()
    assert hashlib.sha256(remote.read_bytes()).digest() == hashlib.sha256(local.read_bytes()).digest()
    assert 2 <= len(lines) <= 5, lines
    assert lines[-1] == "uploading model.tflite 3.4/3.4 MB (100 %)"
    assert all(line.startswith("uploading model.tflite ") for line in lines)
