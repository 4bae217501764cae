"""
Read replicas for real: a private primary cluster and a streaming standby made by pg_basebackup, the application
served by gunicorn with DATABASE_URL on the primary and DATABASE_REPLICA_URLS on the standby.
"""

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from tests.support.pgcluster import PrivateCluster, free_port, remove_abandoned_clusters

# The ports this test may use (a primary, a standby, the web server): the first free ones of the range.
PORTS = range(55420, 55430)
# The writer's pin, short so that the test sees it expire.
PIN_SECONDS = 3
DEADLINE = 90
# Streaming replication; durability is not under test: the clusters live for one test module.
PRIMARY_SETTINGS = {"wal_level": "replica", "max_wal_senders": 4, "hot_standby": "on", "synchronous_commit": "off"}
# The test connects as the postgres superuser over TCP; the standby's pg_basebackup as replicator.
HBA = ["host all all 127.0.0.1/32 trust", "host replication replicator 127.0.0.1/32 trust"]


def run(command, **kwargs) -> str:
    finished = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    assert finished.returncode == 0, f"{command[:6]} failed:\n{finished.stdout[-2000:]}\n{finished.stderr[-2000:]}"
    return finished.stdout


def wait_for(condition, what: str):
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


@dataclass
class Replication:
    primary_cluster: PrivateCluster
    replica_cluster: PrivateCluster
    http_port: int
    tokens: dict[str, str]

    def primary(self) -> psycopg.Connection:
        return self.primary_cluster.connect(user="postgres")

    def replica(self) -> psycopg.Connection:
        return self.replica_cluster.connect(user="postgres")

    def request(self, who: str, path: str, payload: dict | None = None) -> tuple[int, dict]:
        """A request with the user's token and no cookies, as an API client sends it."""
        connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=30)
        try:
            connection.request(
                "POST" if payload is not None else "GET",
                path,
                body=json.dumps(payload) if payload is not None else None,
                headers={"Authorization": f"Token {self.tokens[who]}", "Content-Type": "application/json"},
            )
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            connection.close()

    def titles(self, who: str) -> list[str]:
        status, body = self.request(who, "/api/v1/incidents/?page_size=100")
        assert status == 200, body
        return sorted(row["title"] for row in body["results"])

    def caught_up(self) -> bool:
        with self.primary() as primary, self.replica() as replica:
            lsn = primary.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
            return replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]).fetchone()[0]


def _start(cleanup: contextlib.ExitStack) -> Replication:
    remove_abandoned_clusters()
    primary = PrivateCluster(port=free_port(PORTS), settings=PRIMARY_SETTINGS, hba=HBA)
    cleanup.callback(primary.destroy)
    primary.create()
    primary.superuser_sql("CREATE ROLE replicator REPLICATION LOGIN")

    app_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "geogrid.settings.test", "DATABASE_URL": primary.url}
    app_env.pop("DATABASE_REPLICA_URLS", None)
    tokens = json.loads(run([sys.executable, "-m", "tests.ops.replica_seed"], cwd=settings.BASE_DIR, env=app_env))

    replica = PrivateCluster.standby_of(
        primary, port=free_port(PORTS, taken={primary.port}), replication_user="replicator"
    )
    cleanup.callback(replica.destroy)
    http_port = free_port(PORTS, taken={primary.port, replica.port})
    replication = Replication(primary, replica, http_port, tokens)
    with replication.replica() as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0], "the replica is not a standby"
    wait_for(replication.caught_up, "the replica to replay the primary's WAL")

    base = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="geogrid-replica-")))
    server_env = {**app_env, "DATABASE_REPLICA_URLS": replica.url, "GEOGRID_READ_YOUR_WRITES_SECONDS": str(PIN_SECONDS)}
    log = (base / "gunicorn.log").open("w")
    cleanup.callback(log.close)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "geogrid.wsgi", "--bind", f"127.0.0.1:{http_port}", "--workers", "1"],
        cwd=settings.BASE_DIR,
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    cleanup.callback(server.wait, 30)
    # SIGINT: gunicorn's quick shutdown (SIGTERM would wait for its worker's graceful timeout).
    cleanup.callback(server.send_signal, signal.SIGINT)

    def healthy():
        assert server.poll() is None, (base / "gunicorn.log").read_text()[-3000:]
        connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    wait_for(healthy, "gunicorn to answer")
    return replication


@pytest.fixture(scope="module")
def replication():
    # Everything started is stopped and removed on the way out, also when starting fails half-way.
    with contextlib.ExitStack() as cleanup:
        yield _start(cleanup)


def test_reads_go_to_the_replica_and_a_writer_reads_its_own_writes(replication):
    assert replication.titles("reader") == replication.titles("writer") == ["seeded"]
    with replication.replica() as replica:
        # The application keeps its connection (CONN_MAX_AGE) to the standby it read from.
        sessions = replica.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'geogrid' AND usename = 'geogrid'"
        ).fetchone()[0]
        assert sessions >= 1
        # The standby stops applying what the primary sends: what is written from now on is not on it.
        replica.execute("SELECT pg_wal_replay_pause()")
        wait_for(
            lambda: replica.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] == "paused",
            "replay to pause",
        )

    status, created = replication.request(
        "writer",
        "/api/v1/incidents/",
        {
            "title": "written",
            "description": "井盖缺失",
            "category": "E0401",
            "location": {"lon": 116.386, "lat": 39.906},
        },
    )
    assert status == 201, created
    with replication.primary() as primary, replication.replica() as replica:
        query = "SELECT title FROM incidents_incident WHERE id = %s"
        assert primary.execute(query, [created["id"]]).fetchone() == ("written",)
        assert replica.execute(query, [created["id"]]).fetchone() is None

    # The writer reads from the primary, everyone else from the standby that has not seen the write.
    assert replication.titles("writer") == ["seeded", "written"]
    assert replication.titles("reader") == ["seeded"]
    # Once the pin has run out the writer reads from the standby again.
    time.sleep(PIN_SECONDS + 0.5)
    assert replication.titles("writer") == ["seeded"]

    with replication.replica() as replica:
        replica.execute("SELECT pg_wal_replay_resume()")
    wait_for(replication.caught_up, "the replica to catch up")
    assert replication.titles("reader") == replication.titles("writer") == ["seeded", "written"]
