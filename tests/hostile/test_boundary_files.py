"""Broken and hostile Shapefiles, GeoPackages, GeoJSON and zip archives fed to the boundary import and its command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from boundaries.models import GridUnit, Level
from boundaries.services import UPLOAD_SUFFIXES, boundary_import
from tests.hostile import corpus
from tests.hostile.cases import ABSOLUTE, BOUNDARY_CASES, COMMAND_OPTIONS, FIELDS
from tests.hostile.conftest import database_state

pytestmark = pytest.mark.django_db


@pytest.fixture(params=BOUNDARY_CASES, ids=lambda case: case.name)
def case(request, settings):
    for name, value in request.param.settings.items():
        setattr(settings, name, value)
    return request.param


def errors_of(errors: list[dict]) -> list[tuple[int | None, str]]:
    return [(error["row"], error["kind"]) for error in errors]


def test_the_import_boundaries_command_refuses_with_the_reason(case, boundary_files, capsys):
    before = database_state()
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_boundaries", str(boundary_files[case.name]), *COMMAND_OPTIONS)
    report = json.loads(capsys.readouterr().out)
    if case.row is None:
        assert errors_of(report["errors"]) == [(None, case.kind)]
    else:
        assert (case.row, case.kind) in errors_of(report["errors"])
    assert all(error["message"] for error in report["errors"])
    assert not report["committed"]
    assert database_state() == before


def test_nothing_lands_outside_the_scratch_directory(boundary_files, tmp_path, monkeypatch):
    """Unsafe member names are refused before anything is unpacked, wherever the process runs."""
    monkeypatch.chdir(tmp_path)
    for name in ("traversal.zip", "absolute.zip", "link.zip"):
        boundary_import(path=boundary_files[name], level=Level.GRID, **FIELDS)
    assert not Path(ABSOLUTE).exists()
    assert list(tmp_path.iterdir()) == []
    assert not (boundary_files["traversal.zip"].parent.parent / "etc").exists()


@pytest.mark.parametrize("name", ["bomb.zip", "ratio_bomb.zip", "declares_1gb.zip"])
def test_an_archive_over_the_limits_is_never_unpacked(name, boundary_files, opened_members):
    boundary_import(path=boundary_files[name], level=Level.GRID, **FIELDS)
    assert opened_members == []


def test_a_zipped_shapefile_still_imports(tmp_path):
    """The checks leave real archives alone: a zipped Shapefile in a folder, with a macOS resource fork."""
    rows = [{"CODE": "110100", "NAME": "测试市", "geometry": corpus.box(116.38, 39.90, 116.42, 39.94)}]
    parts = corpus.shapefile_parts(tmp_path, "city", rows)
    members = [corpus.member(f"export/city{suffix}", data) for suffix, data in parts.items()]
    path = tmp_path / "city.zip"
    path.write_bytes(corpus.raw_zip([*members, corpus.member("__MACOSX/export/._city.shp", b"\0\5\26\7")]))
    report = boundary_import(path=path, level=Level.CITY, commit=True, **FIELDS)
    assert report.committed, report.as_text()
    assert GridUnit.objects.get().code == "110100"


def test_the_upload_api_refuses_with_the_reason(case, boundary_files, small_city, client_for):
    """The same files uploaded through the API: refused before reading (400), or with the reason in the report."""
    admin = client_for("system_admin", ["110100"])
    path = boundary_files[case.name]
    before = database_state()
    with path.open("rb") as handle:
        response = admin.post(
            "/api/v1/imports/boundaries/",
            {"file": handle, "level": "grid", **FIELDS, "commit": "true"},
            format="multipart",
        )
    assert response.status_code == 400, response.content
    body = response.json()
    if path.suffix.lower() not in UPLOAD_SUFFIXES or case.kind == "empty":
        assert list(body["error"]["fields"]) == ["file"]  # refused at the door: a Shapefile comes zipped
    else:
        errors = errors_of(body["report"]["errors"])
        if case.row is None:
            assert errors == [(None, case.kind)]
        else:
            assert (case.row, case.kind) in errors
        assert not body["report"]["committed"]
    assert database_state() == before
