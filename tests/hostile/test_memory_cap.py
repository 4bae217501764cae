"""The heaviest refusals, by the real commands in a process with capped memory and time; and proof the files bite."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from boundaries.models import GridUnit
from residents.models import Household
from tests.hostile import corpus
from tests.hostile.cases import BOUNDARY_CAPPED, BOUNDARY_CASES, COMMAND_OPTIONS, TABLE_CAPPED, TABLE_CASES
from tests.hostile.conftest import MEMORY_LIMIT, ROOT

pytestmark = pytest.mark.django_db


def test_refusals_hold_under_a_memory_cap(table_files, boundary_files, run_capped):
    """One process, capped at 1.5 GB of address space and a time limit, refuses every file with its reason."""
    commands = [["import_households", str(table_files[name]), "--json", "--commit"] for name in TABLE_CAPPED]
    commands += [["import_boundaries", str(boundary_files[name]), *COMMAND_OPTIONS] for name in BOUNDARY_CAPPED]
    answers = run_capped(commands)
    for case in (case for case in TABLE_CASES if case.name in TABLE_CAPPED):
        answer = answers[str(table_files[case.name])]
        assert answer["ended"].startswith("refused"), answer
        errors = json.loads(answer["output"])["errors"]
        assert [error["kind"] for error in errors if error["row"] is None] == [case.kind], case.name
    for case in (case for case in BOUNDARY_CASES if case.name in BOUNDARY_CAPPED):
        answer = answers[str(boundary_files[case.name])]
        assert answer["ended"].startswith("refused"), answer
        errors = json.loads(answer["output"])["errors"]
        assert (case.row, case.kind) in [(error["row"], error["kind"]) for error in errors], case.name
    assert Household.objects.count() == 0 and GridUnit.objects.count() == 0


def test_the_bomb_is_real(table_files):
    """Unpacking the workbook bomb's sheet under the same memory cap fails: the refusals above keep it out."""
    code = (
        "import resource, sys, zipfile; "
        f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT})); "
        f"zipfile.ZipFile(sys.argv[1]).read({corpus.XLSX_SHEET!r})"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(table_files["bomb.xlsx"])], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "MemoryError" in result.stderr


def test_the_endless_view_is_real(boundary_files):
    """GDAL listing the layers of that GeoPackage does not return: the check on views is what keeps it out."""
    code = "import sys, pyogrio; print('listing', flush=True); pyogrio.list_layers(sys.argv[1])"
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(boundary_files["endless_view.gpkg"])], cwd=ROOT, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout.readline() == b"listing\n"  # started: what follows is GDAL alone
        # Listing a GeoPackage's layers takes milliseconds; this one is still at it seconds later.
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=3)
    finally:
        process.kill()
        process.wait()
