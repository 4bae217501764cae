"""The draft API: open, edit, undo, problems, impact, activate, discard; who may do what, where."""

import pytest
from django.contrib.gis.geos import Point
from django.db import connection

from boundaries.models import Generation, GridUnit
from boundaries.selectors import generation_active, valid_at_q
from residents.models import Building, Household, Resident
from tests.boundaries.test_drafts import WEST_SOUTH, box, line


@pytest.fixture
def planner_api(small_city, client_for):
    return client_for("planner", ["110101001"])


@pytest.fixture
def draft_id(planner_api):
    response = planner_api.post("/api/v1/generations/", {"description": "拆分网格"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["state"] == "draft"
    return response.json()["id"]


def edit(client, draft_id, **body):
    return client.post(f"/api/v1/drafts/{draft_id}/edits/", body, format="json")


def test_generations_are_listed_with_their_state(planner_api, draft_id):
    states = {row["id"]: row["state"] for row in planner_api.get("/api/v1/generations/").json()["results"]}
    assert states[draft_id] == "draft" and states[generation_active().pk] == "active"
    again = planner_api.post("/api/v1/generations/", {}, format="json")
    assert again.status_code == 409


def test_an_edit_is_recorded_and_undone(planner_api, draft_id):
    response = edit(
        planner_api, draft_id, operation="split", code=f"{WEST_SOUTH}001", line=line((116.386, 39.89), (116.386, 39.93))
    )
    assert response.status_code == 201, response.content
    assert response.json()["codes"] == [f"{WEST_SOUTH}001", f"{WEST_SOUTH}003"]
    detail = planner_api.get(f"/api/v1/drafts/{draft_id}/").json()
    assert [(e["seq"], e["operation"], e["by"]) for e in detail["edits"]] == [(1, "split", planner_api.user.username)]
    assert detail["changed_codes"] == [f"{WEST_SOUTH}001", f"{WEST_SOUTH}003"]
    # The draft's units are read like any generation's.
    codes = [
        f["id"] for f in planner_api.get(f"/api/v1/units/?generation={draft_id}&parent={WEST_SOUTH}").json()["features"]
    ]
    assert codes == [f"{WEST_SOUTH}001", f"{WEST_SOUTH}002", f"{WEST_SOUTH}003"]
    assert planner_api.post(f"/api/v1/drafts/{draft_id}/undo/").status_code == 200
    assert planner_api.get(f"/api/v1/drafts/{draft_id}/").json()["edits"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"operation": "split", "code": f"{WEST_SOUTH}001"}, "line"),
        ({"operation": "explode", "code": f"{WEST_SOUTH}001"}, "operation"),
        (
            {"operation": "reshape", "code": f"{WEST_SOUTH}001", "geometry": {"type": "Point", "coordinates": [1, 2]}},
            "geometry",
        ),
        ({"operation": "merge", "codes": [f"{WEST_SOUTH}001"]}, "codes"),
        ({"operation": "retire", "code": f"{WEST_SOUTH}002"}, "into"),
    ],
)
def test_bad_edits_are_refused_plainly(planner_api, draft_id, body, field):
    response = edit(planner_api, draft_id, **body)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert Generation.objects.get(pk=draft_id).edits.count() == 0


def test_outside_the_jurisdiction_a_unit_does_not_exist(planner_api, draft_id):
    response = edit(
        planner_api, draft_id, operation="split", code="110101002001001", line=line((116.41, 39.89), (116.41, 39.93))
    )
    assert response.status_code == 404


def test_only_planners_edit(small_city, client_for, draft_id):
    viewer = client_for("viewer", ["110101"])
    assert viewer.post("/api/v1/generations/", {}, format="json").status_code == 403
    assert viewer.get(f"/api/v1/drafts/{draft_id}/").status_code == 403
    assert edit(viewer, draft_id, operation="merge", codes=[f"{WEST_SOUTH}001", f"{WEST_SOUTH}002"]).status_code == 403
    assert viewer.post(f"/api/v1/drafts/{draft_id}/activate/").status_code == 403


def test_anonymous_callers_are_refused(api_client, draft_id):
    for url in ("/api/v1/generations/", f"/api/v1/drafts/{draft_id}/", f"/api/v1/drafts/{draft_id}/problems/"):
        assert api_client.get(url).status_code == 401


def test_a_gap_is_an_error_that_blocks_activation(planner_api, draft_id):
    # Shrinking a cell without giving the strip to anyone leaves a gap in the community.
    assert (
        edit(
            planner_api,
            draft_id,
            operation="reshape",
            code=f"{WEST_SOUTH}001",
            geometry=box(116.38, 39.90, 116.388, 39.92),
        ).status_code
        == 201
    )
    problems = planner_api.get(f"/api/v1/drafts/{draft_id}/problems/").json()
    gaps = [f for f in problems["features"] if f["properties"]["problem"] == "gap"]
    assert problems["errors"] >= 1 and gaps and gaps[0]["properties"]["severity"] == "error"
    refused = planner_api.post(f"/api/v1/drafts/{draft_id}/activate/", {"confirm_warnings": True}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "invalid_draft"
    assert not Generation.objects.get(pk=draft_id).active


def test_impact_and_activation_move_the_households_of_the_changed_area(planner_api, draft_id, population):
    west = population["west"]  # at 116.385, 39.905 in cell 001: in the smaller, southern piece, the new cell 003
    # Buildings of the gazetteer carry their cell too: the one beside the household moves with it.
    building, other_building = (
        Building.objects.create(ref=ref, address=ref, location=point, grid_code=code, unit_code=code)
        for ref, point, code in (
            ("B1", Point(116.3851, 39.9051, srid=4326), f"{WEST_SOUTH}001"),
            ("B2", Point(116.385, 39.915, srid=4326), f"{WEST_SOUTH}001"),
        )
    )
    assert (
        edit(
            planner_api,
            draft_id,
            operation="split",
            code=f"{WEST_SOUTH}001",
            line=line((116.37, 39.908), (116.395, 39.908)),
        ).status_code
        == 201
    )
    impact = planner_api.get(f"/api/v1/drafts/{draft_id}/impact/").json()
    assert impact["households"] == 1 and impact["residents"] == 3
    moved = impact["moved"]["features"]
    assert [(f["properties"]["from"], f["properties"]["to"]) for f in moved] == [
        (f"{WEST_SOUTH}001", f"{WEST_SOUTH}003")
    ]
    response = planner_api.post(f"/api/v1/drafts/{draft_id}/activate/", {"confirm_warnings": True}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["households_moved"] == 1 and response.json()["buildings_moved"] == 1
    assert generation_active().pk == draft_id
    building.refresh_from_db()
    other_building.refresh_from_db()
    assert building.grid_code == building.unit_code == f"{WEST_SOUTH}003"
    assert other_building.grid_code == f"{WEST_SOUTH}001"
    west.refresh_from_db()
    assert west.grid_code == west.unit_code == f"{WEST_SOUTH}003"
    assert set(Resident.objects.filter(household=west).values_list("unit_code", flat=True)) == {f"{WEST_SOUTH}003"}
    # The other households did not move; the old generation still reads as it was.
    assert Household.objects.get(pk=population["west2"].pk).grid_code == f"{WEST_SOUTH}002"
    previous = response.json()["previous"]
    assert set(
        GridUnit.objects.filter(valid_at_q(previous), parent_code=WEST_SOUTH).values_list("code", flat=True)
    ) == {
        f"{WEST_SOUTH}001",
        f"{WEST_SOUTH}002",
    }


def test_a_failure_during_activation_leaves_everything_as_it_was(planner_api, draft_id, population, monkeypatch):
    from boundaries import drafts

    assert (
        edit(
            planner_api,
            draft_id,
            operation="split",
            code=f"{WEST_SOUTH}001",
            line=line((116.37, 39.908), (116.395, 39.908)),
        ).status_code
        == 201
    )
    original = drafts._reassign

    def failing(draft, active):
        original(draft, active)
        raise RuntimeError("disk full")

    monkeypatch.setattr(drafts, "_reassign", failing)
    active = generation_active().pk
    with pytest.raises(RuntimeError):
        planner_api.post(f"/api/v1/drafts/{draft_id}/activate/", {"confirm_warnings": True}, format="json")
    assert generation_active().pk == active
    assert Household.objects.get(pk=population["west"].pk).grid_code == f"{WEST_SOUTH}001"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'draft_%%' AND relpersistence = 't'")
        assert cursor.fetchone()[0] == 0


def test_discard(planner_api, draft_id):
    assert planner_api.delete(f"/api/v1/drafts/{draft_id}/").status_code == 204
    assert not Generation.objects.filter(pk=draft_id).exists()
    assert planner_api.get(f"/api/v1/drafts/{draft_id}/").status_code == 404
