"""`locate` through the real HTTP stack: gunicorn with 2 workers on loopback, requests/s and latency."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Results, Row, ensure_bench_city, percentile
from boundaries.models import GridUnit
from boundaries.selectors import generation_active, generation_extent
from boundaries.services import cells_for_points

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, workers: int = 2) -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "false", "DJANGO_SETTINGS_MODULE": "geogrid.settings.base"}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "geogrid.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def hammer(
    port: int, paths: list[str], *, threads: int, seconds: float, headers: dict | None = None
) -> tuple[list[float], int, float]:
    """Requests from `threads` clients for `seconds`; returns latencies (ms), errors and elapsed time."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(offset: int) -> None:
        nonlocal errors
        mine, bad, index = [], 0, offset
        while time.perf_counter() < stop:
            path = paths[index % len(paths)]
            index += threads
            start = time.perf_counter()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("GET", path, headers=headers or {})
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    bad += 1
                connection.close()
            except OSError:
                bad += 1
            mine.append((time.perf_counter() - start) * 1000)
        with lock:
            latencies.extend(mine)
            errors += bad

    began = time.perf_counter()
    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies, errors, time.perf_counter() - began


def bench_token() -> str:
    """A token of the benchmark's own city leader (locate needs a signed-in caller)."""
    from accounts.models import User
    from accounts.services import token_create, user_create
    from core.scope import Scope

    user = User.objects.filter(username="bench-city").first() or user_create(
        scope=Scope.everything(),
        username="bench-city",
        password=None,
        roles=["city_leader"],
        units=[GridUnit.objects.filter(level=1).values_list("code", flat=True).first()],
        validate_password=False,
    )
    return token_create(user=user, name="bench")[1]


def run(results: Results, *, seconds: float = 15, threads: int = 4) -> None:
    ensure_bench_city()
    min_x, min_y, max_x, max_y = generation_extent(generation=generation_active())
    rng = np.random.default_rng(11)
    # Points inside the city's bounding box; those outside the outline answer 404 and are left out.
    lon = rng.uniform(min_x, max_x, 5000)
    lat = rng.uniform(min_y, max_y, 5000)
    inside = cells_for_points(lon=lon, lat=lat) != None  # noqa: E711
    paths = [f"/api/v1/locate/?lon={x:.6f}&lat={y:.6f}" for x, y in zip(lon[inside], lat[inside], strict=True)]
    headers = {"Authorization": f"Token {bench_token()}"}
    port = free_port()
    process = start_gunicorn(port)
    try:
        hammer(port, paths, threads=threads, seconds=2, headers=headers)  # warm-up: connections, caches
        latencies, errors, elapsed = hammer(port, paths, threads=threads, seconds=seconds, headers=headers)
        health, _e, health_elapsed = hammer(port, ["/healthz"], threads=threads, seconds=5)
    finally:
        process.terminate()
        process.wait(timeout=10)
    rps = len(latencies) / elapsed
    results.add(
        Row(
            name=f"locate through gunicorn (2 workers, {threads} clients, {seconds:.0f} s)",
            value=rps,
            unit="req/s",
            reference=len(health) / health_elapsed,
            reference_name="/healthz req/s",
            target="no errors",
            passed=errors == 0,
            notes=f"p50 {percentile(latencies, 50):.1f} ms, p95 {percentile(latencies, 95):.1f} ms, "
            f"{len(latencies):,} requests, {errors} errors; client on the same 2 cores",
        )
    )
