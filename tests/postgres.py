"""A real PostgreSQL server for the tests, from Debian's packages: made with `initdb` in a temporary
folder, listening on 127.0.0.1 only, password authentication on TCP, and stopped at the end.
`initdb` refuses to run as root, so as root it runs through `runuser -u postgres`."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PASSWORD = secrets.token_hex(8)


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is missing: apt-get install postgresql (bash scripts/test does)")
    return found[-1]


def _as_postgres(*command: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One PostgreSQL server; `url(name)` a database on it, `create(name)` makes one."""

    def __init__(self, fsync: bool = False):
        self.fsync = fsync
        self.folder = Path(tempfile.mkdtemp(prefix="mnist-lab-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        (self.folder / "password").write_text(PASSWORD)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
            shutil.chown(self.folder / "password", "postgres")
        pwfile = f"--pwfile={self.folder / 'password'}"
        initdb = [
            _bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            pwfile,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ]
        subprocess.run(_as_postgres(*initdb), check=True, capture_output=True)
        self.start()

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as c:
            c.execute(sql)

    def create(self) -> str:
        """A new empty database's URL."""
        name = f"class_{secrets.token_hex(4)}"
        self.admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(_as_postgres(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"), capture_output=True)

    def start(self) -> None:
        """Listening on 127.0.0.1 only; fsync off unless asked (a benchmark against SQLite): a test's
        data need not survive a power cut."""
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.folder}"
        options += "" if self.fsync else " -c fsync=off"
        start = [_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start"]
        subprocess.run(_as_postgres(*start), check=True, capture_output=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
