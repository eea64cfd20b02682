"""A real PostgreSQL server in a temporary folder, for the shared-history tests.

Debian's ``postgresql`` package puts its programs in /usr/lib/postgresql/<ver>/bin.
``initdb`` and ``postgres`` refuse to run as root: as root the server runs as the
package's ``postgres`` user (through ``runuser``), which owns the folder. It
listens on 127.0.0.1 only, trusts local connections, and is ended with its tree
(harness.procs) when the fixture closes or the test process dies.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

from harness.procs import Supervised, run, spawn, stop

START_TIMEOUT_S = 30.0


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def why_not() -> str | None:
    """Why a server cannot be started here (None: it can)."""
    if postgres_bin() is None:
        return ("needs PostgreSQL's server programs (apt-get install postgresql; make setup "
                "does)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without the postgres user the Debian package creates"
        if shutil.which("runuser") is None:
            return "running as root without runuser (util-linux) to drop to the postgres user"
    return None


class PostgresServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self._proc: Supervised | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_server_user(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd

    def start(self) -> PostgresServer:
        bindir = postgres_bin()
        assert bindir is not None
        data = self.folder / "data"
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            for parent in self.folder.parents:   # the server user must reach its folder
                if parent == Path("/") or (parent.stat().st_mode & 0o001):
                    break
                os.chmod(parent, parent.stat().st_mode | 0o001)
        init = run(self._as_server_user([str(bindir / "initdb"), "-D", str(data), "-U",
                                         "postgres", "--auth=trust", "-E", "UTF8",
                                         "--no-sync"]),
                   capture_output=True, text=True, timeout=120)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stdout}{init.stderr}")
        log = (self.folder / "server.log").open("w")
        self._proc = spawn(self._as_server_user(
            [str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p",
             str(self.port), "-k", str(self.folder), "-c", "fsync=off"]),
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        import psycopg

        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return self
            except psycopg.OperationalError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("postgres did not start: "
                                       + (self.folder / "server.log").read_text()) from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self._proc is not None:
            stop(self._proc)
            self._proc = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
