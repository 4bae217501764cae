"""The incidents API: intake with photos, actions, duplicates, queries, progress, exports, visit logs."""

import datetime as dt
import io

import pytest
from auditlog.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from openpyxl import load_workbook
from PIL import Image

from incidents.models import Incident
from residents.models import Household
from tests.conftest import client_of
from tests.incidents.conftest import WEST_CELL

pytestmark = pytest.mark.django_db


def png(size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def clients(staff):
    return {who: client_of(user) for who, user in staff.items()}


def new_incident(client, **fields):
    payload = {
        "description": "菜市场门口占道经营",
        "category": "E0402",
        "source": "patrol",
        "location": {"lon": 116.385, "lat": 39.905},
        **fields,
    }
    return client.post("/api/v1/incidents/", payload, format="json")


def test_reporting(clients):
    created = new_incident(clients["worker"], title="占道经营")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "reported" and body["assigned_unit_code"] == "110101001"
    assert body["timeline"][0]["action"] == "report"
    assert body["actions"] == []  # a grid worker cannot accept


def test_photos_through_an_action_and_their_access(clients, report):
    incident = report(category="E0402")
    clients["dispatcher"].post(f"/api/v1/incidents/{incident.pk}/actions/accept/", {}, format="json")
    clients["dispatcher"].post(
        f"/api/v1/incidents/{incident.pk}/actions/dispatch/", {"assignee": "worker-w"}, format="json"
    )
    clients["worker"].post(f"/api/v1/incidents/{incident.pk}/actions/start/", {}, format="json")
    photo = SimpleUploadedFile("after.png", png(), content_type="image/png")
    response = clients["worker"].post(
        f"/api/v1/incidents/{incident.pk}/actions/resolve/", {"note": "已清理", "files": [photo]}, format="multipart"
    )
    assert response.status_code == 200, response.content
    attachment = response.json()["timeline"][-1]["attachments"][0]
    assert attachment["content_type"] == "image/png" and attachment["name"] == "after.png"
    served = clients["leader"].get(attachment["url"])
    assert served.status_code == 200 and b"".join(served.streaming_content).startswith(b"\x89PNG")
    assert clients["east_dispatcher"].get(attachment["url"]).status_code == 404


@pytest.mark.parametrize(
    ("upload", "reason"),
    [
        (SimpleUploadedFile("x.png", b"MZ\x90\x00 not an image", content_type="image/png"), "not a JPEG"),
        (SimpleUploadedFile("x.jpg", b"\xff\xd8\xff" + b"broken", content_type="image/jpeg"), "not a readable"),
        (SimpleUploadedFile("big.png", png() + b"\0" * (11 * 1024 * 1024), content_type="image/png"), "larger"),
    ],
)
def test_wrong_or_oversized_photos_are_refused(clients, report, upload, reason):
    incident = report(category="E0402")
    response = clients["dispatcher"].post(
        f"/api/v1/incidents/{incident.pk}/actions/reject/", {"reason": "x", "files": [upload]}, format="multipart"
    )
    assert response.status_code == 400 and reason in str(response.json()["error"]["fields"])
    assert Incident.objects.get(pk=incident.pk).status == "reported"  # nothing half-written


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"category": "Z9999"}, "category"),
        ({"description": ""}, "description"),
        ({"location": {"lon": 117.5, "lat": 40.5}}, "location"),  # outside the city
        ({"location": {"lon": "x", "lat": 39.9}}, "location"),
        ({"source": "pigeon"}, "source"),
    ],
)
def test_bad_intake_is_400(clients, fields, field):
    response = new_incident(clients["worker"], **fields)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert Incident.objects.count() == 0


def test_viewers_cannot_report(clients):
    assert new_incident(clients["viewer"]).status_code == 403


def test_an_impossible_action_is_409_with_the_allowed_ones(clients, report):
    incident = report(category="E0402")
    response = clients["dispatcher"].post(
        f"/api/v1/incidents/{incident.pk}/actions/resolve/", {"note": "x"}, format="json"
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict" and "accept" in error["fields"]["allowed"]
    stale = clients["dispatcher"].post(
        f"/api/v1/incidents/{incident.pk}/actions/accept/", {"version": 99}, format="json"
    )
    assert stale.status_code == 409
    assert clients["dispatcher"].post(f"/api/v1/incidents/{incident.pk}/actions/fly/", {}).status_code == 404
    forbidden = clients["viewer"].post(f"/api/v1/incidents/{incident.pk}/actions/accept/", {}, format="json")
    assert forbidden.status_code == 403


def test_the_detail_lists_the_callers_actions_and_duplicates(clients, report):
    first = report(category="E0402")
    second = report(category="E0402", description="同一处又有人占道")
    far = report(category="E0402", point=WEST_CELL.__class__(116.389, 39.912, srid=4326))
    other_kind = report(category="E0102")
    detail = clients["dispatcher"].get(f"/api/v1/incidents/{second.pk}/").json()
    assert set(detail["actions"]) == {"accept", "reject", "merge", "supervise"} - {"supervise"}
    assert [d["number"] for d in detail["duplicates"]] == [first.number]
    assert detail["duplicates"][0]["distance_m"] < 1
    suggested = (
        clients["worker"]
        .get("/api/v1/incidents/duplicates/", {"category": "E0402", "near": "116.3851,39.9051"})
        .json()["results"]
    )
    assert {d["number"] for d in suggested} == {first.number, second.number}
    assert far.number not in {d["number"] for d in suggested} and other_kind.number not in str(suggested)
    merged = clients["dispatcher"].post(
        f"/api/v1/incidents/{second.pk}/actions/merge/", {"target": first.number}, format="json"
    )
    assert merged.json()["status"] == "merged" and merged.json()["merged_into"] == first.number


def test_filters_and_sorting(clients, report):
    old = report(category="E0402", at=timezone.now() - dt.timedelta(days=20), title="旧的")
    new = report(category="E0102", title="新的垃圾")
    base = "/api/v1/incidents/"
    leader = clients["leader"]

    def numbers(**params):
        return [row["number"] for row in leader.get(base, params).json()["results"]]

    assert numbers() == [new.number, old.number]
    assert numbers(sort="reported_at") == [old.number, new.number]
    assert numbers(category="E04") == [old.number]  # a major class takes its minors
    assert numbers(q="垃圾") == [new.number]
    assert numbers(reported_after=(timezone.now() - dt.timedelta(days=2)).isoformat()) == [new.number]
    assert numbers(status="reported,accepted") == [new.number, old.number]
    assert numbers(overdue="true") == [old.number]
    assert numbers(department="urban-management", under="110101001001") == [new.number, old.number]
    assert leader.get(base, {"status": "lost"}).status_code == 400
    assert leader.get(base, {"sort": "random"}).status_code == 400


def test_progress_per_child_unit(clients, report):
    report(category="E0402")
    report(category="E0102", at=timezone.now() - dt.timedelta(days=3))
    body = clients["leader"].get("/api/v1/incidents/progress/", {"unit": "110101001"}).json()
    rows = {row["code"]: row for row in body["children"]}
    assert set(rows) == {"110101001001", "110101001002"}
    assert rows["110101001001"]["total"] == 2 and rows["110101001001"]["overdue"] == 1
    assert rows["110101001002"]["total"] == 0 and rows["110101001001"]["by_status"]["reported"] == 2
    assert clients["leader"].get("/api/v1/incidents/progress/", {"unit": "110101002"}).status_code == 404


def test_progress_medians_and_satisfaction(staff, report):
    from accounts.selectors import scope_for_user
    from incidents.selectors import incident_progress
    from incidents.services import incident_transition

    admin = staff["admin"]
    start = timezone.now() - dt.timedelta(days=5)
    for hours, score in ((10, 5), (20, 3), (60, 4)):
        incident = report(category="E0402", at=start)
        for action in ("accept", "dispatch", "start", "resolve", "evaluate"):
            incident = incident_transition(
                scope=scope_for_user(admin),
                actor=admin,
                incident_id=incident.pk,
                action=action,
                note="ok",
                satisfaction=score,
                now=start + dt.timedelta(hours=hours),
            )
    rows = incident_progress(scope=scope_for_user(staff["leader"]), unit_code="110101001")
    cell = next(r for r in rows if r["code"] == "110101001001")
    assert cell["median_hours_to_resolve"] == 20.0 and cell["satisfaction"] == 4.0 and cell["evaluations"] == 3


def test_export_is_xlsx_scoped_and_audited(clients, report):
    report(category="E0402")
    response = clients["leader"].get("/api/v1/incidents/export.xlsx")
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][2] == "E0402"
    assert LogEntry.objects.filter(additional_data__event="export", object_repr="incidents").exists()
    assert clients["east_dispatcher"].get("/api/v1/incidents/export.xlsx").status_code == 403


def test_notifications(clients, report, staff):
    incident = report(category="E0402")
    clients["dispatcher"].post(f"/api/v1/incidents/{incident.pk}/actions/accept/", {}, format="json")
    clients["dispatcher"].post(
        f"/api/v1/incidents/{incident.pk}/actions/dispatch/", {"assignee": "worker-w"}, format="json"
    )
    inbox = clients["worker"].get("/api/v1/notifications/", {"unread": "true"}).json()["results"]
    kinds = [n["kind"] for n in inbox]
    assert "dispatched" in kinds and "status" in kinds  # dispatched to them; they reported it too
    assert clients["worker"].post("/api/v1/notifications/", {}, format="json").json()["marked"] == len(inbox)
    assert clients["worker"].get("/api/v1/notifications/", {"unread": "true"}).json()["count"] == 0


def test_visit_logs_turn_into_incidents_and_follow_them(clients, staff, small_city):
    from django.contrib.gis.geos import Point

    from core.scope import Scope
    from residents.services import household_create

    household = household_create(
        scope=Scope.everything(), location=Point(116.386, 39.906, srid=4326), address="西南路3号"
    )
    created = clients["worker"].post(
        "/api/v1/visit-logs/",
        {
            "location": {"lon": 116.386, "lat": 39.906},
            "discussion": "了解独居老人近况",
            "sentiment": "negative",
            "problems": "楼道灯坏了",
            "households": [household.pk],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    log = created.json()
    assert log["grid_code"] == "110101001001001" and log["households"] == [household.pk]
    incident = clients["worker"].post(
        f"/api/v1/visit-logs/{log['id']}/incidents/", {"category": "C0107"}, format="json"
    )
    assert incident.status_code == 201
    assert incident.json()["source"] == "visit_log" and incident.json()["visit_log"] == log["id"]
    shown = clients["leader"].get(f"/api/v1/visit-logs/{log['id']}/").json()
    assert shown["incidents"][0]["number"] == incident.json()["number"]
    outside = clients["worker"].post(
        "/api/v1/visit-logs/", {"location": {"lon": 116.41, "lat": 39.93}, "discussion": "x"}, format="json"
    )
    assert outside.status_code == 400
    coverage = (
        clients["leader"]
        .get(
            "/api/v1/visit-logs/coverage/",
            {
                "under": "110101001",
                "since": (timezone.now() - dt.timedelta(days=1)).isoformat(),
                "until": (timezone.now() + dt.timedelta(days=1)).isoformat(),
            },
        )
        .json()["results"]
    )
    cell = next(c for c in coverage if c["grid_code"] == "110101001001001")
    assert cell == {
        "grid_code": "110101001001001",
        "logs": 1,
        "households_visited": 1,
        "households": Household.objects.filter(grid_code="110101001001001").count(),
        "coverage": 1.0,
    }
    by_worker = (
        clients["leader"]
        .get(
            "/api/v1/visit-logs/coverage/",
            {
                "under": "110101001",
                "since": (timezone.now() - dt.timedelta(days=1)).isoformat(),
                "until": (timezone.now() + dt.timedelta(days=1)).isoformat(),
                "by": "worker",
            },
        )
        .json()["results"]
    )
    assert by_worker == [{"worker": "worker-w", "name": "", "logs": 1, "households_visited": 1, "cells": 1}]


def test_categories(clients):
    rows = clients["viewer"].get("/api/v1/categories/", {"family": "component"}).json()["results"]
    assert rows and {r["family"] for r in rows} == {"component"}
    manhole = next(r for r in rows if r["code"] == "C0101")
    assert manhole["parent"] == "C01" and manhole["default_department"] == "water-affairs"


def test_reporting_with_a_photo_as_a_multipart_form(clients):
    photo = SimpleUploadedFile("before.png", png(), content_type="image/png")
    created = clients["worker"].post(
        "/api/v1/incidents/",
        {"description": "楼门口堆放装修垃圾", "category": "E0402", "location": "116.385,39.905", "files": [photo]},
        format="multipart",
    )
    assert created.status_code == 201, created.content
    assert created.json()["location"] == {"lon": 116.385, "lat": 39.905}
    assert [a["content_type"] for a in created.json()["attachments"]] == ["image/png"]


@pytest.mark.parametrize("location", ["116.385,39.905,1", "116.385", "east,north"])
def test_a_point_in_a_form_must_be_two_numbers(clients, location):
    created = clients["worker"].post(
        "/api/v1/incidents/", {"description": "x", "category": "E0402", "location": location}, format="multipart"
    )
    assert created.status_code == 400 and "location" in created.json()["error"]["fields"]
    assert not Incident.objects.filter(description="x").exists()
