"""The real app (gunicorn, two workers) serving a private PostgreSQL cluster the tests may restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.pgcluster import PrivateCluster, free_port, private_cluster

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# No request may take longer than this, whatever happens to the database.
REQUEST_TIMEOUT = 20.0


@dataclass
class Answer:
    status: int
    body: dict | None
    headers: dict = field(default_factory=dict)


@dataclass
class LiveApp:
    cluster: PrivateCluster
    base_url: str
    token: str
    log: Path
    server: subprocess.Popen

    def log_tail(self) -> str:
        """The end of gunicorn's output (tracebacks of a 500), for failure messages."""
        return self.log.read_text(errors="replace")[-4000:]

    def request(self, method: str, path: str, payload: dict | None = None) -> Answer:
        """One HTTP request; raises on a timeout or a dropped connection (which the tests count as failures)."""
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(  # noqa: S310 (http to our own server)
            self.base_url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Token {self.token}",
                "Content-Type": "application/json",
                "Accept-Language": "en",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:  # noqa: S310 (our own server)
                status, raw, headers = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            status, raw, headers = error.code, error.read(), dict(error.headers)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = {"unparsed": raw[:500].decode(errors="replace")}
        return Answer(status, body, headers)


def _run(command: list[str], env: dict, what: str) -> str:
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


@pytest.fixture(scope="module")
def live_app(tmp_path_factory):
    """
    A private cluster, migrated with `manage.py migrate` and seeded with a small grid, served by
    gunicorn with two workers that keep their connections (CONN_MAX_AGE) and check them before reuse
    (CONN_HEALTH_CHECKS), as in production. Everything is stopped and deleted afterwards.
    """
    with private_cluster() as cluster:
        env = {
            **os.environ,
            "DATABASE_URL": cluster.url,
            "DJANGO_SETTINGS_MODULE": "geogrid.settings.test",
            "DB_CONN_MAX_AGE": "60",
        }
        # One process migrates (`manage.py migrate`, as a deployment does) and seeds.
        seeded = _run(
            [
                sys.executable,
                "-c",
                "import django; django.setup(); from django.core.management import call_command;"
                " call_command('migrate', interactive=False, verbosity=0);"
                " from tests.faults.seed import main; main()",
            ],
            env,
            "migrating and seeding",
        )
        token = json.loads(seeded.strip().splitlines()[-1])["token"]
        port = free_port(taken={cluster.port})
        log = tmp_path_factory.mktemp("faults") / "gunicorn.log"
        with log.open("wb") as log_file:
            server = subprocess.Popen(
                [
                    str(VENV_BIN / "gunicorn"),
                    "geogrid.wsgi",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "2",
                    "--timeout",
                    "60",
                    "--graceful-timeout",
                    "5",
                ],
                cwd=ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        app = LiveApp(cluster=cluster, base_url=f"http://127.0.0.1:{port}", token=token, log=log, server=server)
        try:
            deadline = time.monotonic() + 60
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"gunicorn exited:\n{log.read_text(errors='replace')[-3000:]}")
                try:
                    if app.request("GET", "/healthz").status == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not answer:\n{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.2)
            yield app
        finally:
            # gunicorn's own process group: the master and its workers, and nothing else.
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait()
