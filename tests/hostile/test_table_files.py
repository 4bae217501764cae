"""Broken and hostile CSV and XLSX files fed to the household and building imports: their commands, the API upload."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.management import CommandError, call_command

from boundaries.models import GridUnit, Level
from core.scope import Scope
from residents.importing import household_import, import_options
from residents.models import Household, ImportJob
from tests.hostile import corpus
from tests.hostile.cases import HEADER, ROWS, TABLE_BOMBS, TABLE_CASES
from tests.hostile.conftest import database_state

pytestmark = pytest.mark.django_db


@pytest.fixture(params=TABLE_CASES, ids=lambda case: case.name)
def case(request, settings):
    for name, value in request.param.settings.items():
        setattr(settings, name, value)
    return request.param


def file_errors(errors: list[dict]) -> list[tuple[str, str]]:
    """(kind, message) of the errors about the whole file (no row)."""
    return [(error["kind"], error["message"]) for error in errors if error["row"] is None]


def test_the_import_households_command_refuses_with_the_reason(case, table_files, capsys):
    before = database_state()
    options = ["--encoding", case.encoding] if case.encoding else []
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_households", str(table_files[case.name]), "--json", "--commit", *options)
    report = json.loads(capsys.readouterr().out)
    assert [kind for kind, _message in file_errors(report["errors"])] == [case.kind]
    assert all(message for _kind, message in file_errors(report["errors"]))
    assert not report["committed"]
    assert database_state() == before


def test_the_import_buildings_command_refuses(case, table_files, capsys):
    before = database_state()
    options = ["--encoding", case.encoding] if case.encoding else []
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_buildings", str(table_files[case.name]), "--commit", *options)
    report = capsys.readouterr().out
    file_level = [line for line in report.splitlines() if line.startswith("  - ") and "[row" not in line]
    assert [line.split(":")[0].strip(" -") for line in file_level] == [case.kind], report
    assert database_state() == before


def test_the_upload_api_refuses(
    case, table_files, client_for, small_city, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.GEOGRID_PRIVATE_ROOT = tmp_path / "private"
    worker = client_for("grid_worker", units=["110101001001"])
    before = database_state()
    data = {"commit": "true", **({"encoding": case.encoding} if case.encoding else {})}
    with table_files[case.name].open("rb") as handle, django_capture_on_commit_callbacks(execute=True):
        response = worker.post("/api/v1/imports/households/", {"file": handle, **data}, format="multipart")
    if case.at_upload:
        assert response.status_code == 400, response.content
        error = response.json()["error"]
        assert list(error["fields"]) == ["file"]
        # The reason names the file (an empty one is refused by DRF's own check, in its words).
        assert case.name in error["message"] or (case.kind == "empty" and "empty" in error["message"])
        # Refused before it was kept: nothing of it on disk, no job.
        assert not any((tmp_path / "private").rglob("*.*"))
        assert database_state() == before
        return
    assert response.status_code == 202, response.content
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert job.status == ImportJob.Status.DONE
    assert [kind for kind, _message in file_errors(job.report["errors"])] == [case.kind]
    after = database_state()
    assert after.pop("residents.ImportJob") == before.pop("residents.ImportJob") + 1
    assert after == before


@pytest.mark.parametrize("name", TABLE_BOMBS)
def test_an_archive_over_the_limits_is_refused_before_a_member_is_read(name, table_files, opened_members):
    report = household_import(path=table_files[name], options=import_options(commit=True), scope=Scope.everything())
    assert not report.ok
    assert opened_members == []  # the central directory told enough: no member was decompressed


def test_a_good_file_still_imports(small_city, tmp_path):
    """The checks above leave real files alone: the same rows as CSV and XLSX are imported."""
    for name, content in (("good.csv", corpus.csv_bytes(ROWS)), ("good.xlsx", corpus.xlsx_bytes(ROWS))):
        path = tmp_path / name
        path.write_bytes(content)
        report = household_import(path=path, options=import_options(commit=True), scope=Scope.everything())
        assert report.committed, report.as_text()
    assert Household.objects.count() == 4


def test_rows_past_a_sheet_s_stated_size_are_read(small_city, tmp_path):
    """A sheet claiming fewer rows than it has (some writers get it wrong) loses none of them."""
    rows = [*ROWS, ["H3", "西南路3号", "116.387", "39.907", "刘洋"]]
    path = tmp_path / "short_dimension.xlsx"
    path.write_bytes(corpus.xlsx_with_sheet(rows, corpus.sheet_with_dimension(rows, "A1:E2")))
    report = household_import(path=path, options=import_options(commit=True), scope=Scope.everything())
    assert report.committed and report.rows == 3, report.as_text()


def test_a_city_west_of_90_degrees_east_is_checked_not_crashed(generation, tmp_path):
    """
    Kashgar (75.99 E, 39.47 N): the check for swapped coordinates compares points with the city's extent,
    which lost its SRID on the way, so any such row ended the import with a database error.
    """
    square = Polygon.from_bbox((75.9, 39.4, 76.1, 39.6))
    square.srid = 4326
    GridUnit.objects.create(
        code="653100",
        name="喀什地区",
        level=Level.CITY,
        geom=MultiPolygon(square, srid=4326),
        generation_low=generation,
    )
    path = tmp_path / "kashgar.csv"
    rows = [HEADER, ["K1", "人民路1号", "75.99", "39.47", "阿依"], ["K2", "人民路2号", "39.47", "75.99", "古丽"]]
    path.write_bytes(corpus.csv_bytes(rows))
    report = household_import(path=path, options=import_options(), scope=Scope.everything())
    assert [(p.row, p.kind) for p in report.errors] == [(2, "swapped")], report.as_text()


def test_the_upload_size_limit(client_for, small_city, settings, tmp_path):
    settings.GEOGRID_MAX_UPLOAD_MB = 1
    settings.GEOGRID_PRIVATE_ROOT = tmp_path / "private"
    worker = client_for("grid_worker", units=["110101001001"])
    big = io.BytesIO(corpus.csv_bytes([HEADER] + [ROWS[1]] * 30_000))  # about 1.2 MB
    big.name = "big.csv"
    before = database_state()
    response = worker.post("/api/v1/imports/households/", {"file": big}, format="multipart")
    assert response.status_code == 400
    assert "larger than 1 MB" in response.json()["error"]["message"]
    assert database_state() == before
