"""A throwaway PostgreSQL for the tests: Debian's `postgresql` package, a cluster in a temporary
directory, listening on a free loopback port with trust authentication, stopped at the end.

initdb refuses to run as root, so as root the cluster belongs to the `postgres` system user the
package creates (runuser). Databases are made from templates (CREATE DATABASE ... TEMPLATE), which
copies files: far faster than migrating a new database for every test.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"
_NAMES = itertools.count(1)


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_owner(argv: list[str]) -> list[str]:
    """initdb and pg_ctl refuse root: run them as the `postgres` user then."""
    return ["runuser", "-u", SUPERUSER, "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class PostgresServer:
    bin: Path
    port: int
    socket_dir: Path

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str) -> None:
        """One statement (CREATE DATABASE cannot run in a transaction) through psql."""
        subprocess.run([str(self.bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                        "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres", "-c", statement],
                       check=True, capture_output=True, text=True)

    def new_database(self, template: str | None = None) -> str:
        """A new, uniquely named database (a copy of ``template`` when given); returns its URL."""
        name = f"rd_{os.getpid()}_{next(_NAMES)}"
        self.sql(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return self.url(name)


@contextmanager
def running_postgres(bin_dir: Path, *, fsync: bool = False,
                     settings: dict[str, str] | None = None) -> Iterator[PostgresServer]:
    """Start a cluster, stop and remove it after. fsync is off by default (a test server never needs
    to survive a crash); the bench keeps it on, as a host would, and passes a host's ``settings``
    (``-c name=value`` each)."""
    root = Path(tempfile.mkdtemp(prefix="rd-postgres-"))
    data, log = root / "data", root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, SUPERUSER)
    try:
        subprocess.run(_as_owner([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", SUPERUSER,
                                  "-E", "UTF8", "--locale=C", "--no-sync"]),
                       check=True, capture_output=True, text=True)
        for attempt in range(3):  # another process may take the free port before the server binds it
            port = _free_port()
            options = f"-h 127.0.0.1 -p {port} -k {root}{'' if fsync else ' -F'} -c max_connections=200"
            options += "".join(f" -c {name}={value}" for name, value in (settings or {}).items())
            started = subprocess.run(_as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log),
                                                "-o", options, "-w", "-t", "60", "start"]),
                                     capture_output=True, text=True)
            if started.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{log.read_text(errors='replace')[-2000:]}")
        try:
            yield PostgresServer(bin_dir, port, root)
        finally:
            subprocess.run(_as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                           capture_output=True)
    finally:
        _remove_in_the_background(root)


def _remove_in_the_background(folder: Path) -> None:
    """Remove a stopped cluster's directory in a process of its own: a test worker's databases add up
    to gigabytes, whose removal took up to a minute at the very end of `make test`, with nothing
    waiting for it (a shell that starts `rm` and exits at once, so no child is left unwaited)."""
    started = subprocess.run(["sh", "-c", 'rm -rf -- "$1" >/dev/null 2>&1 &', "sh", str(folder)], check=False)
    if started.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
