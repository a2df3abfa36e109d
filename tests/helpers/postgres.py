"""A throwaway PostgreSQL cluster for integration tests: initdb + pg_ctl in a temp dir, 127.0.0.1 only,
on a free port, trust auth, stopped and removed afterwards.

The test command (`make test`, scripts/install-system-deps.sh) installs Debian's postgresql when it is
missing. PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` user
(``runuser``); otherwise as the current user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Postgres:
    url: str  # SQLAlchemy URL (psycopg 3)
    port: int
    datadir: Path
    _as_user: list[str]
    _pg_ctl: str

    @property
    def socket_url(self) -> str:
        """The same cluster through its unix socket (a process in another network namespace reaches it
        through the shared filesystem; the server listens on 127.0.0.1 only)."""
        return f"postgresql+psycopg://postgres@/postgres?host={self.datadir.parent / 'sock'}&port={self.port}"

    def stop(self) -> None:
        subprocess.run([*self._as_user, self._pg_ctl, "-D", str(self.datadir), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def find_bin(name: str) -> str:
    """``initdb``/``pg_ctl``: Debian keeps them in /usr/lib/postgresql/<version>/bin, off PATH."""
    for cand in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True) + [shutil.which(name) or ""]:
        if cand and os.access(cand, os.X_OK):
            return cand
    raise RuntimeError(f"PostgreSQL's {name} not found: run `make test` (it installs Debian's postgresql) "
                       "or `apt-get install postgresql`")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start() -> Postgres:
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix="testbed-pg-"))
    datadir, sockdir = root / "data", root / "sock"
    sockdir.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (root, sockdir):
            os.chown(path, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, initdb, "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--no-sync"], check=True, capture_output=True, timeout=120)
    port = _free_port()
    opts = f"-p {port} -k {sockdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    proc = subprocess.run([*as_user, pg_ctl, "-D", str(datadir), "-o", opts, "-l", str(root / "pg.log"), "-w",
                           "-t", "60", "start"], capture_output=True, text=True, timeout=90)
    if proc.returncode != 0:
        log = (root / "pg.log").read_text(errors="replace")[-1500:] if (root / "pg.log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {proc.stderr.strip()} {log}")
    return Postgres(url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", port=port,
                    datadir=datadir, _as_user=as_user, _pg_ctl=pg_ctl)
