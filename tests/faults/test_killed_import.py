"""
Imports killed half-way (SIGKILL of `manage.py import_households` / `import_boundaries` inside their
transaction): nothing is written, nothing is left behind that blocks the next run, which then succeeds.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from boundaries.models import Generation, GridUnit
from boundaries.services import boundary_import
from residents.models import Household, Resident

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
APP_NAME = "geogrid-killed-import"
HOUSEHOLDS = 10_000  # two residents each: long enough to be caught in every stage


def database_url() -> str:
    """The test database, for a subprocess (it sees what this test committed)."""
    db = connection.settings_dict
    return f"postgis://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start(*arguments: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "geogrid.settings.test",
        # libpq names the subprocess's connection, so the test can follow it in pg_stat_activity.
        "PGAPPNAME": APP_NAME,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def import_backend() -> tuple | None:
    """(pid, state, query, waiting for a lock, inside a transaction) of the import's connection, if it has one."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, query, wait_event_type = 'Lock', xact_start IS NOT NULL FROM pg_stat_activity"
            " WHERE application_name = %s",
            [APP_NAME],
        )
        return cursor.fetchone()


def kill_when(process: subprocess.Popen, reached, what: str) -> tuple:
    """SIGKILLs the import as soon as its connection shows `reached`; returns what the connection was doing."""
    deadline = time.monotonic() + 120
    while True:
        backend = import_backend()
        if backend is not None and reached(*backend[1:]):
            process.send_signal(signal.SIGKILL)
            process.wait()
            return backend
        if process.poll() is not None:
            stdout, stderr = process.communicate()
            pytest.fail(f"The import ended before it reached {what}:\n{stdout[-2000:]}\n{stderr[-2000:]}")
        assert time.monotonic() < deadline, f"the import never reached {what}"
        time.sleep(0.005)


def wait_for_the_server_to_drop(backend_pid: int) -> None:
    """The server notices its client is gone when it next talks to it, then rolls back and ends."""
    deadline = time.monotonic() + 120
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [backend_pid])
            if cursor.fetchone()[0] == 0:
                return
        assert time.monotonic() < deadline, "the killed import's server process never ended"
        time.sleep(0.05)


def assert_nothing_left_behind() -> None:
    """No scratch table of an import and no lock held by another session: the next run starts clean."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname LIKE 'import\\_%%' OR relname LIKE 'assign\\_points\\_%%'"
            " OR relname LIKE 'boundary\\_import\\_%%'"
        )
        assert cursor.fetchall() == []
        cursor.execute(
            # Relation and advisory locks name their database; those of the import's would show here.
            "SELECT count(*) FROM pg_locks WHERE pid <> pg_backend_pid()"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        assert cursor.fetchone()[0] == 0


class TableLock:
    """Another session holding a lock on a table, so the import stops at the statement that needs it."""

    def __init__(self, table: str, mode: str):
        db = connection.settings_dict
        self.conn = psycopg.connect(
            host=db["HOST"] or "127.0.0.1",
            port=db["PORT"] or 5432,
            user=db["USER"],
            password=db["PASSWORD"],
            dbname=db["NAME"],
        )
        self.conn.execute(f"LOCK TABLE {table} IN {mode} MODE")

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()


def households_file(path: Path) -> Path:
    rng = random.Random(7)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["户号", "地址", "经度", "纬度", "姓名", "与户主关系"])
        for number in range(HOUSEHOLDS):
            lon, lat = 116.3805 + rng.random() * 0.039, 39.9005 + rng.random() * 0.039
            for member, relation in enumerate(("户主", "配偶")):
                writer.writerow(
                    [
                        f"K{number:06d}",
                        f"测试路{number}号",
                        f"{lon:.6f}",
                        f"{lat:.6f}",
                        f"居民{number}-{member}",
                        relation,
                    ]
                )
    return path


def import_households(path: Path) -> subprocess.Popen:
    return start("import_households", str(path), "--commit", "-v", "0")


# The import's stages as its connection shows them: filling the staging table, checking, writing.
STAGES = {
    "copy": lambda state, query, waiting, in_transaction: in_transaction and query.startswith("COPY"),
    "write": lambda state, query, waiting, in_transaction: waiting and "INSERT INTO residents_resident" in query,
}


def test_a_household_import_killed_half_way_writes_nothing_and_runs_again(population, tmp_path):
    households, residents = Household.objects.count(), Resident.objects.count()
    path = households_file(tmp_path / "households.csv")
    for stage in STAGES:
        # At the write stage the households are in and the residents wait: the worst moment to die.
        lock = TableLock("residents_resident", "EXCLUSIVE") if stage == "write" else None
        try:
            process = import_households(path)
            backend = kill_when(process, STAGES[stage], stage)
        finally:
            if lock is not None:
                lock.release()
        assert process.returncode == -signal.SIGKILL
        assert backend[4], "killed inside its transaction"
        wait_for_the_server_to_drop(backend[0])

        assert (Household.objects.count(), Resident.objects.count()) == (households, residents), stage
        assert not Household.objects.filter(ref__startswith="K").exists()
        assert_nothing_left_behind()

    # The same command again, run here (it would fail on anything the killed runs left behind).
    call_command("import_households", str(path), "--commit", verbosity=0, stdout=io.StringIO())
    assert Household.objects.count() == households + HOUSEHOLDS
    assert Resident.objects.count() == residents + 2 * HOUSEHOLDS
    assert Household.objects.filter(ref__startswith="K", grid_code="").count() == 0
    assert_nothing_left_behind()


def districts_file(path: Path) -> Path:
    """The small city's square cut into 99 districts (110101-110199), a 9 x 11 grid of strips."""
    features = []
    x0, y0, width, height = 116.38, 39.90, 0.04 / 9, 0.04 / 11
    for number in range(1, 100):
        column, row = (number - 1) % 9, (number - 1) // 9
        left, bottom = x0 + column * width, y0 + row * height
        ring = [[left, bottom], [left + width, bottom], [left + width, bottom + height], [left, bottom + height]]
        features.append(
            {
                "type": "Feature",
                "properties": {"code": f"1101{number:02d}", "name": f"第{number}区"},
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def test_a_boundary_import_killed_half_way_writes_nothing_and_runs_again(tmp_path):
    city = tmp_path / "city.geojson"
    square = [[116.38, 39.90], [116.42, 39.90], [116.42, 39.94], [116.38, 39.94], [116.38, 39.90]]
    city.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"code": "110100", "name": "测试市"},
                        "geometry": {"type": "Polygon", "coordinates": [square]},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    assert boundary_import(path=city, level=1, code_field="code", name_field="name", commit=True).committed
    generations = list(Generation.objects.values_list("pk", "active"))
    path = districts_file(tmp_path / "districts.geojson")
    arguments = ("import_boundaries", str(path), "--level", "district", "--code-field", "code", "--name-field", "name")

    lock = TableLock("boundaries_gridunit", "EXCLUSIVE")  # the units are checked, their insert waits
    try:
        process = start(*arguments, "--commit")
        backend = kill_when(
            process,
            lambda state, query, waiting, in_transaction: waiting and "INSERT INTO boundaries_gridunit" in query,
            "the insert",
        )
    finally:
        lock.release()
    assert process.returncode == -signal.SIGKILL and backend[4]
    wait_for_the_server_to_drop(backend[0])

    assert list(GridUnit.objects.values_list("code", flat=True)) == ["110100"]
    assert list(Generation.objects.values_list("pk", "active")) == generations
    assert_nothing_left_behind()

    call_command(*arguments, "--commit", stdout=io.StringIO())
    assert GridUnit.objects.filter(level=2).count() == 99
    assert_nothing_left_behind()
