"""A private Redis and real Celery worker processes for the tests of background work, always cleaned up."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import kombu.pools
import pytest
from django.conf import settings
from django.db import connection

from geogrid.celery import app as celery_app
from jobs import services as jobs_services

BASE_DIR = Path(settings.BASE_DIR)
# Ports these tests may use for their Redis.
REDIS_PORTS = range(56370, 56380)
# Seconds a task taken by a lost worker waits before Redis gives it to another (production: an hour). Kept
# above the longest task of a test even on a slow machine, or a task still running is handed out twice.
VISIBILITY_TIMEOUT = 60


def wait_for(condition, *, timeout: float, what: str, every: float = 0.1):
    """Polls `condition` until it returns something true, which is returned; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what} after {timeout} s")
        time.sleep(every)


def _free_port() -> int:
    for port in REDIS_PORTS:
        with socket.socket() as probe:
            # As redis-server binds: a port whose last connections linger in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free port for Redis in {REDIS_PORTS.start}-{REDIS_PORTS.stop - 1}")


class RedisServer:
    """A throwaway redis-server (Debian's binary) without persistence, which can be stopped and started again."""

    def __init__(self, directory: Path):
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            pytest.fail("redis-server is missing: `make system` installs it (scripts/system-packages.txt)")
        self.binary = binary
        self.directory = directory
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self.answers, timeout=10, what="redis-server to answer")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def queue_length(self, queue: str = "celery") -> int:
        import redis

        return redis.Redis.from_url(self.url).llen(queue)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def database_url() -> str:
    """The URL of the test database (the workers must see what the test commits)."""
    db = connection.settings_dict
    return f"postgis://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """One `celery -A geogrid worker` process group (concurrency 1), logging to its own file."""

    def __init__(self, name: str, env: dict, log_path: Path):
        self.name = name
        self.log_path = log_path
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "geogrid",
                "worker",
                "--concurrency",
                "1",
                "--hostname",
                f"{name}@%h",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def ready(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"worker {self.name} exited with {self.process.returncode}:\n{self.log()[-3000:]}")
        return " ready." in self.log()

    def succeeded(self, task: str | None = None) -> list[str]:
        """The names of the tasks this worker finished, one per run (from its log)."""
        names = re.findall(r"Task ([\w.]+)\[[\w-]+\] succeeded in", self.log())
        return [n for n in names if task is None or n == task]

    def received(self, task: str) -> int:
        return len(re.findall(rf"Task {re.escape(task)}\[[\w-]+\] received", self.log()))

    def kill(self) -> None:
        """SIGKILL to the whole group (the main process and its pool child), as when a machine is lost."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def start_workers(redis_server, tmp_path, settings):
    """start_workers(n[, visibility_timeout]) -> n workers on the private Redis and the test database, ready."""
    workers: list[Worker] = []
    sms_dir = tmp_path / "sms"
    private = tmp_path / "private"
    settings.GEOGRID_SMS_FILE_PATH = str(sms_dir)
    settings.GEOGRID_PRIVATE_ROOT = private
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.workers.worker_settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_server.url,
        "GEOGRID_SMS_FILE_PATH": str(sms_dir),
        "GEOGRID_PRIVATE_ROOT": str(private),
        "PYTHONUNBUFFERED": "1",
    }

    def start(count: int, visibility_timeout: int = VISIBILITY_TIMEOUT) -> list[Worker]:
        worker_env = {**env, "GEOGRID_CELERY_VISIBILITY_TIMEOUT": str(visibility_timeout)}
        started = [
            Worker(f"w{len(workers) + i + 1}", worker_env, tmp_path / f"w{len(workers) + i + 1}.log")
            for i in range(count)
        ]
        workers.extend(started)
        for worker in started:
            wait_for(worker.ready, timeout=60, what=f"worker {worker.name} to be ready", every=0.2)
        return started

    yield start
    for worker in workers:
        worker.kill()
    _wait_until_disconnected()


def _wait_until_disconnected() -> None:
    # The killed workers' database sessions end with their sockets; the test database is flushed (and
    # later dropped) only once they are gone.
    def alone():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0] == 0

    wait_for(alone, timeout=15, what="the workers' database sessions to end")


def _reset_producers() -> None:
    # Connections to a Redis now gone are dropped, with kombu's pools (shared by every app, keyed by URL).
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextlib.contextmanager
def broker_at(url: str):
    """This process hands tasks to the broker at `url` (as web processes do with REDIS_URL), not eagerly."""
    saved = {key: celery_app.conf[key] for key in ("broker_url", "task_always_eager")}
    celery_app.conf.update(broker_url=url, task_always_eager=False)
    _reset_producers()
    jobs_services._broker["failed_at"] = None
    try:
        yield
    finally:
        celery_app.conf.update(saved)
        _reset_producers()
        jobs_services._broker["failed_at"] = None


@pytest.fixture
def broker(redis_server):
    with broker_at(redis_server.url):
        yield redis_server
