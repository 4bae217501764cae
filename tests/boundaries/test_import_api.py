"""Boundary files uploaded through the API: the same import as the command, within the caller's units."""

import io
import zipfile
from pathlib import Path

import pytest
from auditlog.models import LogEntry

from boundaries.models import GridUnit, Level
from tests.boundaries.test_import import EAST, WEST, city_and_district, streets, write  # noqa: F401 (a fixture)

# Every test starts from a city and its district, imported from files.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("city_and_district")]

URL = "/api/v1/imports/boundaries/"


def upload(client, path, *, name=None, language="en", **fields):
    with open(path, "rb") as handle:
        data = {"code_field": "CODE", "name_field": "NAME", "level": "street", **fields}
        data["file"] = io.BytesIO(handle.read())
        data["file"].name = name or path.name
        return client.post(URL, data, format="multipart", HTTP_ACCEPT_LANGUAGE=language)


def zipped_shapefile(tmp_path, shapefile: Path) -> Path:
    archive = tmp_path / "streets.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for part in shapefile.parent.glob(f"{shapefile.stem}.*"):
            out.write(part, f"streets/{part.name}")
    return archive


def street_codes() -> list[str]:
    return sorted(GridUnit.objects.filter(level=Level.STREET).values_list("code", flat=True))


def test_a_dry_run_answers_the_report_and_writes_nothing(tmp_path, client_for):
    planner = client_for("planner", ["110101"])
    response = upload(planner, streets(tmp_path, name="streets.geojson", driver="GeoJSON"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True and body["committed"] is False
    assert body["feature_count"] == 2
    assert body["source"] == "streets.geojson"
    assert body["counts_per_level"] == {"city": 1, "district": 1, "street": 2}  # as a commit would leave it
    assert street_codes() == []


def test_a_zipped_shapefile_is_committed_and_audited(tmp_path, client_for):
    planner = client_for("planner", ["110101"])
    response = upload(planner, zipped_shapefile(tmp_path, streets(tmp_path)), parent_field="PARENT", commit="true")
    assert response.status_code == 201, response.content
    assert response.json()["committed"] is True
    assert street_codes() == ["110101001", "110101002"]
    entry = LogEntry.objects.filter(additional_data__event="boundary_import").latest("timestamp")
    assert entry.actor == planner.user
    assert entry.additional_data["source"] == "streets.zip"


def test_units_outside_the_callers_units_are_refused(tmp_path, client_for):
    rows = [
        {"CODE": "110101001", "NAME": "西街道", "geometry": WEST},
        {"CODE": "110102001", "NAME": "别区街道", "geometry": EAST},
    ]
    path = write(tmp_path / "mixed.geojson", rows, driver="GeoJSON")
    # A planner of district 110101 may not reach into district 110102; one bound to the city may (the
    # commit is refused all the same: district 110102 does not exist).
    for units, outside in ((["110101"], ["110102001"]), (["110100"], [])):
        response = upload(client_for("planner", units), path, commit="true")
        problems = {(p["kind"], p["code"]) for p in response.json()["report"]["errors"]}
        assert {code for kind, code in problems if kind == "outside_scope"} == set(outside)
        assert response.status_code == 400
    assert street_codes() == []


def test_a_refused_commit_names_the_errors_and_writes_nothing(tmp_path, client_for):
    rows = [{"CODE": "110101001", "NAME": "", "geometry": WEST}, {"CODE": "12345", "NAME": "东", "geometry": EAST}]
    path = write(tmp_path / "bad.geojson", rows, driver="GeoJSON")
    response = upload(client_for("planner", ["110101"]), path, commit="true", language="zh-hans")
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "import_refused"
    assert body["error"]["message"] == "共 3 个错误，未写入任何内容。"
    # 12345 breaks the street code format and lies outside the planner's district as well.
    errors = sorted((p["kind"], p["code"]) for p in body["report"]["errors"])
    assert errors == [("code_format", "12345"), ("name_missing", "110101001"), ("outside_scope", "12345")]
    assert body["report"]["committed"] is False
    assert street_codes() == []


def test_bad_requests_are_refused_before_anything_is_read(tmp_path, client_for):
    planner = client_for("planner", ["110101"])
    geojson = streets(tmp_path, name="streets.geojson", driver="GeoJSON")
    response = upload(planner, geojson, name="streets.csv")
    assert response.status_code == 400
    assert "file" in response.json()["error"]["fields"]
    response = upload(planner, geojson, level="county")
    assert response.status_code == 400
    assert "level" in response.json()["error"]["fields"]
    # A file that is not what its name says: a file-level error in the report.
    fake = tmp_path / "streets.gpkg"
    fake.write_text('{"type": "FeatureCollection", "features": []}')
    response = upload(planner, fake)
    assert response.status_code == 200
    assert [p["kind"] for p in response.json()["errors"]] == ["wrong_type"]


@pytest.mark.parametrize(("role", "expected"), [(None, 401), ("viewer", 403), ("district_leader", 403)])
def test_only_staff_who_may_edit_boundaries_may_upload(tmp_path, client_for, api_client, role, expected):
    client = api_client if role is None else client_for(role, ["110101"])
    response = upload(client, streets(tmp_path, name="streets.geojson", driver="GeoJSON"), commit="true")
    assert response.status_code == expected
    assert street_codes() == []


JOB_URL = "/api/v1/imports/boundaries/{}/"


def test_a_large_file_is_imported_as_a_background_job(
    tmp_path, client_for, settings, django_capture_on_commit_callbacks
):
    settings.GEOGRID_PRIVATE_ROOT = tmp_path / "private"
    # Every file counts as large here; the job runs when the upload's transaction commits.
    settings.GEOGRID_BOUNDARY_UPLOAD_BACKGROUND_MB = 0
    planner = client_for("planner", ["110101"])
    archive = zipped_shapefile(tmp_path, streets(tmp_path))
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(planner, archive, parent_field="PARENT", commit="true")
    assert response.status_code == 202, response.content
    queued = response.json()
    assert queued["file_name"] == "streets.zip" and queued["options"]["level"] == "street"
    job = planner.get(JOB_URL.format(queued["id"]))
    assert job.status_code == 200
    body = job.json()
    assert body["status"] == "done" and body["stage"] == "done" and body["finished_at"]
    assert body["report"]["committed"] is True and body["report"]["feature_count"] == 2
    assert street_codes() == ["110101001", "110101002"]
    # The file is kept only while the job needs it.
    assert list((tmp_path / "private" / "boundary-imports").iterdir()) == []
    # Only its planner sees the job; one who may not import boundaries cannot ask.
    assert client_for("planner", ["110101"]).get(JOB_URL.format(queued["id"])).status_code == 404
    assert client_for("viewer", ["110101"]).get(JOB_URL.format(queued["id"])).status_code == 403
    assert planner.get(JOB_URL.format(queued["id"] + 1)).status_code == 404


def test_a_background_job_reports_a_refusal_and_writes_nothing(
    tmp_path, client_for, settings, django_capture_on_commit_callbacks
):
    settings.GEOGRID_PRIVATE_ROOT = tmp_path / "private"
    rows = [
        {"CODE": "110101001", "NAME": "西街道", "geometry": WEST},
        {"CODE": "110102001", "NAME": "东", "geometry": EAST},
    ]
    path = write(tmp_path / "mixed.geojson", rows, driver="GeoJSON")
    planner = client_for("planner", ["110101"])
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(planner, path, commit="true", background="true")
    assert response.status_code == 202, response.content
    body = planner.get(JOB_URL.format(response.json()["id"])).json()
    assert body["status"] == "done" and body["report"]["committed"] is False
    assert {p["code"] for p in body["report"]["errors"] if p["kind"] == "outside_scope"} == {"110102001"}
    assert street_codes() == []


def test_a_small_file_stays_in_the_request_and_background_false_keeps_a_large_one_there(tmp_path, client_for, settings):
    planner = client_for("planner", ["110101"])
    path = streets(tmp_path, name="streets.geojson", driver="GeoJSON")
    assert upload(planner, path).status_code == 200  # under the default size
    settings.GEOGRID_BOUNDARY_UPLOAD_BACKGROUND_MB = 0
    response = upload(planner, path, background="false")
    assert response.status_code == 200 and response.json()["feature_count"] == 2


def test_a_field_sent_twice_is_refused(tmp_path, client_for):
    planner = client_for("planner", ["110101"])
    path = streets(tmp_path, name="streets.geojson", driver="GeoJSON")
    with open(path, "rb") as handle:
        data = {"code_field": "CODE", "name_field": ["NAME", "OTHER"], "level": "street", "file": handle}
        response = planner.post(URL, data, format="multipart")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["name_field"]
    assert street_codes() == []
