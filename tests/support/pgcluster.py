"""A private, throwaway PostgreSQL server for tests that must stop or restart their database.

The machine's shared server (127.0.0.1:5432) must never be restarted, so fault tests that need a
server restart run their own: `initdb` into a fresh temporary directory, listening only on
127.0.0.1 at a free port (its unix socket inside that directory), trust auth for `postgres`.
PostgreSQL refuses to run as root; when the tests run as root, the server's commands run as the
`postgres` system account (`runuser`), which owns the directory.

The binaries come from `$FEEDRELAY_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else
`PATH`; when they are missing the test skips with the reason (fails under CI=true).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.services import service_missing

SERVER_USER = "postgres"  # the account the server runs as when the tests run as root


def find_bin_dir() -> Path | None:
    """The directory holding `initdb`, `pg_ctl` and `postgres`, or None."""
    configured = os.environ.get("FEEDRELAY_PG_BIN")
    candidates = [Path(configured)] if configured else []
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version(p.parent.name), reverse=True)
    candidates += debian
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if all((directory / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateCluster:
    """One PostgreSQL server of our own: `start`, `stop`, `restart`, `destroy`."""

    def __init__(self, bin_dir: Path, directory: Path, port: int, run_as: str | None) -> None:
        self.bin_dir = bin_dir
        self.directory = directory
        self.data = directory / "data"
        self.port = port
        self.run_as = run_as
        self.logfile = directory / "server.log"

    @property
    def admin_url(self) -> str:
        """A libpq URL of the `postgres` database (for psycopg)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, dbname: str = "postgres") -> str:
        """The feedrelay `database:` URL (psycopg 3 driver) of `dbname` on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, tool: str, *args: str, timeout: float = 120) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "LC_ALL": "C.UTF-8", "TZ": "UTC"})
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n"
                               f"{done.stderr}\n{self.log_tail()}")

    def init(self) -> None:
        """Create the data directory: trust auth on loopback, listening on 127.0.0.1 only."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-instructions", "--no-sync")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.directory}'",
            "max_connections": "200",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "logging_collector": "off",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: roll back open transactions and disconnect everyone)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again; every connection made before is gone afterwards."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-m", mode, "-w", "-t", "60",
                  "restart")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def server_pid(self) -> int:
        """The postmaster's pid (a restart changes it)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def create_database(self, name: str) -> str:
        """Create database `name`; its feedrelay URL."""
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server log, for failure messages."""
        try:
            return self.logfile.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def destroy(self) -> None:
        """Stop the server (immediately) if it runs, and delete its directory."""
        if self.running():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


def server_account() -> str | None:
    """None when we may run the server ourselves; the account to run it as when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        service_missing(f"running as root and there is no '{SERVER_USER}' account to run a private "
                        "PostgreSQL server as (the server refuses to run as root)")
    if shutil.which("runuser") is None:
        service_missing("running as root and `runuser` is missing (needed to start PostgreSQL as "
                        f"'{SERVER_USER}')")
    return SERVER_USER


def private_cluster() -> Iterator[PrivateCluster]:
    """A started private server in a fresh temporary directory; destroyed afterwards."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        service_missing("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: install the "
                        "Debian package `postgresql` or set FEEDRELAY_PG_BIN")
    assert bin_dir is not None
    run_as = server_account()
    # Not under pytest's tmp_path: that is private to root, and the server account must own this.
    directory = Path(tempfile.mkdtemp(prefix="feedrelay-pg-"))
    if run_as is not None:
        account = pwd.getpwnam(run_as)
        os.chown(directory, account.pw_uid, account.pw_gid)
    cluster = PrivateCluster(bin_dir, directory, free_port(), run_as)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_cluster() -> Iterator[PrivateCluster]:
    """A private PostgreSQL server for one test (see the module docstring)."""
    yield from private_cluster()
