"""The assessment API: tables, a unit's report, people, scheme scores, exports, refresh."""

import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from assessment.models import Scheme
from assessment.periods import Period
from assessment.services import kpi_refresh_period
from tests.assessment.test_indicators import OCTOBER, at, case
from tests.conftest import client_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def rolled_up(staff, population):
    case(
        staff,
        day=3,
        steps=[
            ("accept", 0.5, {}),
            ("dispatch", 1, {}),
            ("start", 2, {}),
            ("resolve", 10, {}),
            ("evaluate", 11, {"satisfaction": 4}),
        ],
    )
    case(staff, day=6, source="patrol")
    kpi_refresh_period(Period("month", dt.date(2026, 9, 1)), now=at(31))
    kpi_refresh_period(OCTOBER, now=at(31))
    return staff


def test_indicator_registry(api_client, client_for, small_city):
    rows = client_for("viewer", units=["110101001"]).get("/api/v1/kpi/indicators/").json()["results"]
    keys = {r["key"]: r for r in rows}
    assert keys["resolve_on_time"]["direction"] == "higher" and keys["median_hours_to_resolve"]["unit"] == "hours"
    assert "sms_first_answer_minutes" in keys  # defined now, filled once the SMS platform runs


def test_unit_table_is_scoped_and_filtered(rolled_up):
    leader = client_of(rolled_up["leader"])
    body = leader.get("/api/v1/kpi/units/", {"period": "month:2026-10", "level": "grid"}).json()
    assert body["period"] == "month:2026-10"
    assert {r["code"] for r in body["results"]} == {
        "110101001001001",
        "110101001001002",
        "110101001002001",
        "110101001002002",
    }
    cell = next(r for r in body["results"] if r["code"] == "110101001001001")
    assert cell["values"]["incidents_reported"] == 2 and cell["values"]["satisfied_share"] == 1.0
    assert leader.get("/api/v1/kpi/units/", {"period": "month:2026-13"}).status_code == 400
    assert leader.get("/api/v1/kpi/units/", {"level": "galaxy"}).status_code == 400


def test_unit_detail_with_trend_and_rank(rolled_up):
    leader = client_of(rolled_up["leader"])
    body = leader.get("/api/v1/kpi/units/110101001001/", {"period": "month:2026-10"}).json()
    reported = next(i for i in body["indicators"] if i["key"] == "incidents_reported")
    assert reported["value"] == 2 and reported["previous"] == 0
    assert next(i for i in body["indicators"] if i["key"] == "resolve_on_time")["rank"] == 1
    assert leader.get("/api/v1/kpi/units/110101002/", {"period": "month:2026-10"}).status_code == 404


def test_people_and_scheme_scores(rolled_up):
    leader = client_of(rolled_up["leader"])
    people = leader.get("/api/v1/kpi/people/", {"period": "month:2026-10"}).json()["results"]
    worker = next(p for p in people if p["user"] == "worker-w")
    assert worker["values"]["incidents_found"] == 1 and worker["peer_group"] == "110101001"
    schemes = leader.get("/api/v1/schemes/").json()["results"]
    monthly = next(s for s in schemes if s["subject"] == "person")
    scores = leader.get(f"/api/v1/schemes/{monthly['id']}/scores/", {"period": "month:2026-10"}).json()
    row = next(r for r in scores["results"] if r["subject"] == str(rolled_up["worker"].pk))
    assert row["score"] is not None and row["rank"] == 1 and row["explanation"]
    assert leader.get("/api/v1/schemes/99999/scores/").status_code == 404
    community = Scheme.objects.get(subject_kind="unit", level=4)
    body = leader.get(f"/api/v1/schemes/{community.pk}/scores/", {"period": "quarter:2026-Q4"}).json()
    assert body["period"] == "quarter:2026-Q4"


def test_exports_xlsx_with_charts_and_pdf_report(rolled_up):
    leader = client_of(rolled_up["leader"])
    response = leader.get("/api/v1/kpi/units/export.xlsx", {"period": "month:2026-10", "level": "grid"})
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.worksheets[0].max_row == 5  # a header and the four cells in scope
    charted = [sheet for sheet in workbook.worksheets[1:] if sheet._images]
    assert charted and charted[0].title in {"incidents_reported", "visits"} | set(workbook.sheetnames)
    pdf = leader.get("/api/v1/kpi/units/110101001001/report.pdf", {"period": "month:2026-10"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and len(pdf.content) > 5000


def test_refresh_on_demand_is_for_administrators(rolled_up):
    assert client_of(rolled_up["leader"]).post("/api/v1/kpi/refresh/").status_code == 403
    response = client_of(rolled_up["admin"]).post("/api/v1/kpi/refresh/?period=month:2026-10")
    assert response.status_code == 200 and response.json()["refreshed"]["month:2026-10"] > 0
