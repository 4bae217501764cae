"""Hostile-input fixtures: what the database holds before and after a refusal, and refusals run under a memory cap."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.db import connection

from boundaries.models import Generation, GridUnit
from residents.models import Building, Household, ImportJob, Resident
from tests.hostile.cases import build_boundary_files, build_table_files

ROOT = Path(__file__).resolve().parents[2]
# Address space a refusal may use, Python, Django, GDAL and numpy included (about 0.8 GB of it at rest):
# a file unpacked or read whole would need several times more.
MEMORY_LIMIT = 1536 * 1024 * 1024
# Seconds a batch of refusals may take before it counts as hanging (each takes well under one).
TIMEOUT = 120


@pytest.fixture(scope="session")
def table_files(tmp_path_factory) -> dict[str, Path]:
    """The broken and hostile CSV and XLSX files of tests/hostile/cases.py, by name."""
    return build_table_files(tmp_path_factory.mktemp("tables"))


@pytest.fixture(scope="session")
def boundary_files(tmp_path_factory) -> dict[str, Path]:
    """The broken and hostile boundary files of tests/hostile/cases.py, by case name."""
    return build_boundary_files(tmp_path_factory.mktemp)


def database_state() -> dict:
    """What an import could leave behind: rows of everything it writes, and every table (staging tables too)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        tables = [name for (name,) in cursor.fetchall()]
    models = [GridUnit, Generation, Household, Resident, Building, LogEntry, ImportJob]
    return {"tables": tables, **{model._meta.label: model.objects.count() for model in models}}


@pytest.fixture
def opened_members(monkeypatch):
    """The names of the zip members anything opens for reading during the test (nothing reads a refused bomb)."""
    names: list[str] = []
    original = zipfile.ZipFile.open

    def spy(self, name, mode="r", *args, **kwargs):
        if mode == "r":
            names.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return original(self, name, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    return names


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


# Runs in the capped process: each command, what it printed (its report) and how it ended.
_BATCH = """
import io, json, sys
import django
django.setup()
from django.core.management import CommandError, call_command
for args in json.loads(sys.argv[1]):
    out = io.StringIO()
    try:
        call_command(*args, stdout=out)
        ended = "ok"
    except CommandError as exc:
        ended = "refused: " + str(exc)
    except MemoryError:
        ended = "MemoryError"
    print(json.dumps({"file": args[1], "ended": ended, "output": out.getvalue()}), flush=True)
"""


@pytest.fixture
def run_capped(django_db_setup):
    """
    run_capped([[command, file, options...], ...]) -> {file: {"ended", "output"}}: the real
    commands, run one after the other in a separate process limited to MEMORY_LIMIT of address space
    and TIMEOUT seconds, against the test database (whose committed rows the test can then check).
    """

    def run(commands: list[list[str]]) -> dict[str, dict]:
        database = connection.settings_dict
        url = (
            f"postgis://{database['USER']}:{database['PASSWORD']}@{database['HOST'] or '127.0.0.1'}:"
            f"{database['PORT'] or 5432}/{database['NAME']}"
        )
        environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "geogrid.settings.test", "DATABASE_URL": url}
        # One BLAS thread and two malloc arenas: on a machine with many cores, idle threads' stacks and
        # arenas alone would take the address space the cap is about.
        environment.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MALLOC_ARENA_MAX="2")
        result = subprocess.run(
            [sys.executable, "-c", _BATCH, json.dumps(commands)],
            cwd=ROOT,
            env=environment,
            preexec_fn=_cap_memory,  # the cap applies to the child alone
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        answers = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        return {answer["file"]: answer for answer in answers}

    return run
