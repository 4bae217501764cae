"""A private, throwaway PostgreSQL cluster for tests that stop, restart or crash the database server."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import psycopg

PG_BIN = Path(os.environ.get("GEOGRID_PG_BIN", "/usr/lib/postgresql/15/bin"))
# Ports these tests may take (the machine's own cluster and other services use others).
PORTS = range(55410, 55420)
PREFIX = "geogrid-pgcluster-"
# The server settings: small, and quick to start. fsync is off because only the server process is
# crashed, never the machine (the WAL still reaches the OS); synchronous_commit stays on, so a commit
# the server acknowledged survives an immediate shutdown.
CONFIG = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 40
shared_buffers = 32MB
fsync = off
full_page_writes = off
synchronous_commit = on
logging_collector = off
log_min_messages = warning
"""


def _as_postgres(command: list[str]) -> list[str]:
    """`command` run as the postgres user (the server refuses to run as root)."""
    if pwd.getpwuid(os.geteuid()).pw_name == "postgres":
        return command
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return ["sudo", "-n", "-u", "postgres", "--", *command]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(ports: range = PORTS, *, taken: set[int] = frozenset()) -> int:
    for port in ports:
        if port not in taken and port_is_free(port):
            return port
    raise RuntimeError(f"No free port in {ports.start}-{ports.stop - 1}.")


def _remove(path: Path) -> None:
    """Deletes a cluster's directory (its files belong to postgres)."""
    if os.geteuid() == 0:
        shutil.rmtree(path, ignore_errors=True)
    else:
        subprocess.run(_as_postgres(["rm", "-rf", str(path)]), capture_output=True, check=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_abandoned_clusters() -> None:
    """Stops and deletes clusters left by test runs that were killed before they could clean up."""
    for base in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        owner_file = base / "owner.pid"
        try:
            owner = int(owner_file.read_text())
        except (OSError, ValueError):
            continue
        if _pid_alive(owner):
            continue  # another test run's cluster, still in use
        if (base / "data" / "postmaster.pid").exists():
            subprocess.run(
                _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(base / "data"), "-m", "immediate", "-w", "stop"]),
                capture_output=True,
                check=False,
            )
        _remove(base)


class PrivateCluster:
    """
    One PostgreSQL cluster in a temporary directory owned by the postgres user, listening on
    127.0.0.1:`port`, with a role and a database carrying PostGIS (and the extensions the project's
    migrations expect). The tests may restart, stop and start it; `destroy()` stops it and removes
    every file. `settings` are added to postgresql.conf (after, so over, the defaults); `hba` lines are put
    first in pg_hba.conf (so they take precedence). `standby_of()` makes a streaming standby of a cluster.
    """

    def __init__(
        self,
        *,
        port: int,
        role: str = "geogrid",
        password: str = "geogrid",  # noqa: S107 (the throwaway cluster's own role)
        database: str = "geogrid",
        settings: Mapping[str, object] | None = None,
        hba: Sequence[str] = (),
    ):
        self.port, self.role, self.password, self.database = port, role, password, database
        self.settings, self.hba = dict(settings or {}), list(hba)
        self.base = Path(tempfile.mkdtemp(prefix=PREFIX))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        (self.base / "owner.pid").write_text(str(os.getpid()))
        # mkdtemp made it private (0700); the server's files live in it, so postgres owns it.
        if os.geteuid() == 0:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.base, postgres.pw_uid, postgres.pw_gid)
        elif pwd.getpwuid(os.geteuid()).pw_name != "postgres":
            subprocess.run(["sudo", "-n", "chown", "postgres:postgres", str(self.base)], check=True)

    # --- what clients need ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """DATABASE_URL of the project's role and database."""
        return f"postgis://{self.role}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.role} password={self.password} dbname={self.database}"

    def connect(self, **kwargs) -> psycopg.Connection:
        """A direct connection as the project's role (autocommit unless told otherwise)."""
        kwargs.setdefault("autocommit", True)
        kwargs.setdefault("connect_timeout", 5)
        return psycopg.connect(self.dsn, **kwargs)

    def superuser_sql(self, statement: str, *, database: str = "postgres") -> str:
        """Runs SQL as the postgres superuser through the cluster's private socket; returns psql's output."""
        result = self._run(
            [
                str(PG_BIN / "psql"),
                "-h",
                str(self.base),
                "-p",
                str(self.port),
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-qtA",
                "-c",
                statement,
            ]
        )
        return result.stdout.strip()

    # --- life cycle ---------------------------------------------------------------------------------

    def _run(self, command: list[str], **kwargs) -> subprocess.CompletedProcess:
        result = subprocess.run(_as_postgres(command), capture_output=True, text=True, check=False, **kwargs)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def _pg_ctl(self, *arguments: str) -> None:
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", *arguments])

    def create(self) -> PrivateCluster:
        """initdb, start, and create the role and the database with its extensions."""
        self._run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            ]
        )
        self._configure()
        if self.hba:
            hba_file = self.data / "pg_hba.conf"
            self._run(
                ["sh", "-c", f"cat - '{hba_file}' > '{hba_file}.new' && mv '{hba_file}.new' '{hba_file}'"],
                input="".join(f"{line}\n" for line in self.hba),
            )
        self.start()
        quoted_password = self.password.replace("'", "''")
        self.superuser_sql(f"CREATE ROLE \"{self.role}\" LOGIN CREATEDB PASSWORD '{quoted_password}'")
        self.superuser_sql(f'CREATE DATABASE "{self.database}" OWNER "{self.role}"')
        for database in ("template1", self.database):
            self.superuser_sql(
                "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis;"
                " CREATE EXTENSION IF NOT EXISTS btree_gist; CREATE EXTENSION IF NOT EXISTS pg_trgm;",
                database=database,
            )
        return self

    def _configure(self) -> None:
        """Appends this cluster's settings (port, socket directory, `settings`) to its postgresql.conf."""
        config = CONFIG.format(port=self.port, socket_dir=self.base)
        config += "".join(f"{name} = {value}\n" for name, value in self.settings.items())
        self._run(["sh", "-c", f"cat >> '{self.data / 'postgresql.conf'}'"], input=config)

    @classmethod
    def standby_of(
        cls,
        primary: PrivateCluster,
        *,
        port: int,
        replication_user: str = "postgres",
        settings: Mapping[str, object] | None = None,
    ) -> PrivateCluster:
        """
        A started streaming standby of the running `primary` (its role, database and pg_hba.conf), made with
        `pg_basebackup -R` as `replication_user` (who needs a replication pg_hba line on the primary);
        `settings` are added to the primary's. Deleted again if it cannot be made.
        """
        standby = cls(
            port=port,
            role=primary.role,
            password=primary.password,
            database=primary.database,
            settings={**primary.settings, **(settings or {})},
            hba=primary.hba,
        )
        try:
            standby._run(
                [
                    str(PG_BIN / "pg_basebackup"),
                    "--host=127.0.0.1",
                    f"--port={primary.port}",
                    f"--username={replication_user}",
                    f"--pgdata={standby.data}",
                    "--write-recovery-conf",
                    "--wal-method=stream",
                    "--checkpoint=fast",
                    "--no-sync",
                ]
            )
            standby._configure()
            standby.start()
        except BaseException:
            standby.destroy()
            raise
        return standby

    def start(self) -> None:
        self._pg_ctl("start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "stop")

    def restart(self, mode: str = "fast") -> None:
        """pg_ctl restart: `fast` rolls back open transactions and disconnects; `immediate` is a crash."""
        self._pg_ctl("-m", mode, "restart")

    def is_running(self) -> bool:
        result = subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"]), capture_output=True, check=False
        )
        return result.returncode == 0

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.connect() as probe:
                    probe.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")
        _remove(self.base)


@contextlib.contextmanager
def private_cluster(*, ports: range = PORTS, **kwargs) -> Iterator[PrivateCluster]:
    """A new cluster on a free port of `ports`; stopped and deleted afterwards, whatever happens."""
    remove_abandoned_clusters()
    cluster = PrivateCluster(port=free_port(ports), **kwargs)
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.destroy()
