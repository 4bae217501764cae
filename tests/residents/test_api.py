"""The households and residents API: CRUD, search, map queries, statistics and masked exports."""

import csv
import io
import json
import math

import pytest
from auditlog.models import LogEntry
from openpyxl import load_workbook

from residents.models import Household, Resident
from tests.residents.conftest import WOMAN_1949

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker(client_for, small_city):
    return client_for("grid_worker", units=["110101001001"])


@pytest.fixture
def leader(client_for, small_city):
    return client_for("street_leader", units=["110101001"])


def ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


def metres(lon1, lat1, lon2, lat2) -> float:
    """Haversine on the WGS-84 mean radius: an independent check of PostGIS's geography distances."""
    r = 6371008.8
    p1, p2, dp, dl = map(math.radians, (lat1, lat2, lat2 - lat1, lon2 - lon1))
    return 2 * r * math.asin(math.sqrt(math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2))


def test_a_grid_worker_creates_a_household_with_residents(worker):
    created = worker.post(
        "/api/v1/households/",
        {
            "address": "西南路9号",
            "location": {"lon": 116.386, "lat": 39.906},
            "housing_type": "owned",
            "tags": ["rented_out"],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["grid_code"] == "110101001001001" and body["assigned"] and body["tags"] == ["rented_out"]
    resident = worker.post(
        "/api/v1/residents/",
        {"household": body["id"], "name": "孙丽", "id_number": WOMAN_1949, "phone": "13811112222", "relation": "head"},
        format="json",
    )
    assert resident.status_code == 201, resident.content
    assert resident.json()["gender"] == "female" and resident.json()["birth_date"] == "1949-12-31"
    assert resident.json()["id_number"] == WOMAN_1949  # grid workers may see it
    assert Household.objects.get(pk=body["id"]).size == 1
    duplicate = worker.post(
        "/api/v1/residents/", {"household": body["id"], "name": "冒名", "id_number": WOMAN_1949}, format="json"
    )
    assert duplicate.status_code == 400 and "id_number" in duplicate.json()["error"]["fields"]
    second_head = worker.post(
        "/api/v1/residents/", {"household": body["id"], "name": "又一个", "relation": "head"}, format="json"
    )
    assert second_head.status_code == 400 and "relation" in second_head.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"address": "x", "location": {"lon": 116.41, "lat": 39.93}}, "location"),  # outside the worker's cells
        ({"address": "x", "location": {"lon": 39.9, "lat": 116.4}}, "location"),  # swapped
        ({"address": "x", "location": "somewhere"}, "location"),
        ({"location": {"lon": 116.386, "lat": 39.906}}, "address"),
        ({"address": "x", "location": {"lon": 116.386, "lat": 39.906}, "tags": ["vip"]}, "tags"),
        ({"address": "x", "location": {"lon": 116.386, "lat": 39.906}, "housing_type": "castle"}, "housing_type"),
    ],
)
def test_bad_household_input_is_400_and_writes_nothing(worker, payload, field):
    response = worker.post("/api/v1/households/", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert Household.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "id_number": "110105194912310021"}, "id_number"),  # checksum
        ({"name": "x", "id_number": WOMAN_1949, "gender": "male"}, "gender"),  # contradicts the ID
        ({"name": "x", "phone": "12345"}, "phone"),
        ({"name": "x", "birth_date": "2999-01-01"}, "birth_date"),
        ({"name": "x", "tags": ["alien"]}, "tags"),
        ({"id_number": WOMAN_1949}, "name"),
    ],
)
def test_bad_resident_input_is_400(worker, population, payload, field):
    response = worker.post("/api/v1/residents/", {"household": population["west"].pk, **payload}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_moving_a_household_moves_its_residents(client_for, population):
    admin = client_for("system_admin", units=["110100"])
    west = population["west"]
    response = admin.patch(
        f"/api/v1/households/{west.pk}/", {"location": {"lon": 116.41, "lat": 39.905}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["grid_code"] == "110101002001001"
    assert set(Resident.objects.filter(household=west).values_list("unit_code", flat=True)) == {"110101002001001"}
    history = LogEntry.objects.get_for_object(Household.objects.get(pk=west.pk))
    assert history.filter(action=LogEntry.Action.UPDATE, changes__has_key="grid_code").exists()


def test_viewers_and_leaders_cannot_change_anything(leader, population):
    west = population["west"]
    assert leader.patch(f"/api/v1/households/{west.pk}/", {"address": "改"}, format="json").status_code == 403
    assert leader.delete(f"/api/v1/households/{west.pk}/").status_code == 403
    resident = west.residents.first()
    assert leader.patch(f"/api/v1/residents/{resident.pk}/", {"name": "改"}, format="json").status_code == 403


def test_a_worker_cannot_change_households_outside_their_cells(client_for, population):
    worker = client_for("grid_worker", units=["110101001001001"])  # one cell: west2 lies elsewhere in view? no
    west2 = population["west2"]
    assert worker.patch(f"/api/v1/households/{west2.pk}/", {"address": "改"}, format="json").status_code == 404


def test_deleting_a_resident_updates_the_household_size(worker, population):
    west = population["west"]
    resident = west.residents.get(name="李小红")
    assert worker.delete(f"/api/v1/residents/{resident.pk}/").status_code == 204
    assert Household.objects.get(pk=west.pk).size == 2
    assert worker.delete(f"/api/v1/households/{west.pk}/").status_code == 204
    assert not Resident.objects.filter(household_id=west.pk).exists()


def test_search_by_address_name_id_number_and_phone(leader, population):
    west = population["west"].pk
    assert ids(leader.get("/api/v1/households/", {"q": "西南路1号院"}))[0] == west
    assert ids(leader.get("/api/v1/households/", {"name": "李明"})) == [west]
    assert ids(leader.get("/api/v1/households/", {"id_number": WOMAN_1949.lower()})) == [west]
    assert ids(leader.get("/api/v1/households/", {"phone": "+86 138-1234-5678"})) == [west]
    assert ids(leader.get("/api/v1/households/", {"phone": "13700002222"})) == []  # the east household: out of scope
    residents = leader.get("/api/v1/residents/", {"id_number": WOMAN_1949}).json()["results"]
    assert [r["name"] for r in residents] == ["张桂英"]


def test_filters_by_tag_status_age_and_unit(leader, population):
    assert ids(leader.get("/api/v1/households/", {"tags": "rented_out"})) == [population["west"].pk]
    names = {r["name"] for r in leader.get("/api/v1/residents/", {"residence_status": "floating"}).json()["results"]}
    assert names == {"李明"}
    kids = leader.get("/api/v1/residents/", {"age_band": "0-17"}).json()["results"]
    assert [r["name"] for r in kids] == ["李小红"]
    elderly = leader.get("/api/v1/residents/", {"age_min": 70}).json()["results"]
    assert {r["name"] for r in elderly} == {"张桂英", "王强"}
    assert len(ids(leader.get("/api/v1/households/", {"under": "110101001001"}))) == 2
    assert ids(leader.get("/api/v1/households/", {"under": "110101001002"})) == []
    assert leader.get("/api/v1/residents/", {"age_band": "200+"}).status_code == 400


def test_near_orders_by_true_distance_within_the_radius(client_for, population):
    admin = client_for("system_admin", units=["110100"])
    here = (116.40, 39.92)
    rows = admin.get("/api/v1/households/", {"near": f"{here[0]},{here[1]}", "radius": 3000}).json()["results"]
    expected = sorted(
        ((metres(*here, h.location.x, h.location.y), h.pk) for h in Household.objects.all()), key=lambda t: t[0]
    )
    assert [r["id"] for r in rows] == [pk for _d, pk in expected]
    for row, (distance, _pk) in zip(rows, expected, strict=True):
        assert row["distance_m"] == pytest.approx(distance, rel=0.005)
    tight = admin.get("/api/v1/households/", {"near": f"{here[0]},{here[1]}", "radius": 1200}).json()["results"]
    assert [r["id"] for r in tight] == [pk for d, pk in expected if d <= 1200]
    assert admin.get("/api/v1/households/", {"radius": 100}).status_code == 400


def test_which_household_is_here(leader, population):
    west = population["west"]
    response = leader.get("/api/v1/households/at/", {"lon": 116.38501, "lat": 39.90501})
    assert [r["id"] for r in response.json()["results"]] == [west.pk]
    assert response.json()["results"][0]["distance_m"] < 2
    assert leader.get("/api/v1/households/at/", {"lon": 116.3, "lat": 39.9}).json()["results"] == []
    assert leader.get("/api/v1/households/at/", {"lon": "x", "lat": 39.9}).status_code == 400


def test_bbox_filter(leader, population):
    inside = ids(leader.get("/api/v1/households/", {"bbox": "116.38,39.90,116.39,39.91"}))
    assert inside == [population["west"].pk]


def test_personal_data_is_masked_for_roles_without_the_permission(leader, worker, population):
    west = population["west"].pk
    masked = leader.get(f"/api/v1/households/{west}/").json()["residents"]
    head = next(r for r in masked if r["relation"] == "head")
    assert head["id_number"] == "110105********002X" and head["phone"] == "138****5678"
    assert not LogEntry.objects.filter(additional_data__event="personal_data_viewed").exists()
    clear = worker.get(f"/api/v1/households/{west}/").json()["residents"]
    assert next(r for r in clear if r["relation"] == "head")["id_number"] == WOMAN_1949
    assert LogEntry.objects.filter(additional_data__event="personal_data_viewed").count() == 1


def test_a_household_without_its_residents_reveals_and_audits_nothing(worker, population):
    west = population["west"].pk
    alone = worker.get(f"/api/v1/households/{west}/", {"residents": "false"})
    assert alone.status_code == 200
    assert "residents" not in alone.json() and alone.json()["id"] == west
    moved = worker.patch(
        f"/api/v1/households/{west}/?residents=false", {"location": {"lon": 116.386, "lat": 39.906}}, format="json"
    )
    assert moved.status_code == 200 and "residents" not in moved.json()
    assert moved.json()["location"] == {"lon": 116.386, "lat": 39.906}
    assert not LogEntry.objects.filter(additional_data__event="personal_data_viewed").exists()
    # Without it, the residents come along, unmasked for this role, and their viewing is audited.
    assert len(worker.get(f"/api/v1/households/{west}/").json()["residents"]) == 3
    assert LogEntry.objects.filter(additional_data__event="personal_data_viewed").count() == 1


def test_unit_statistics(leader, population):
    stats = leader.get("/api/v1/units/110101001/stats/").json()
    assert stats["households"] == 2 and stats["residents"] == 4
    assert stats["by_sex"] == {"male": 2, "female": 2}
    assert stats["by_residence_status"] == {"registered": 3, "floating": 1, "away": 0}
    # Born 2015, 1985, 1949 and 1880: one child, one adult, one in their seventies, one very old.
    assert stats["by_age_band"] == {"0-17": 1, "18-34": 0, "35-59": 1, "60-79": 1, "80+": 1, "unknown": 0}
    assert stats["by_tag"]["elderly_alone"] == 1 and stats["by_tag"]["rented_out"] == 1
    assert stats["by_housing_type"] == {"owned": 1, "rented": 1, "collective": 0}
    # The street is 0.02° x 0.04°: about 7.58 km².
    assert stats["area_km2"] == pytest.approx(7.58, abs=0.05)
    assert stats["density_per_km2"]["households"] == pytest.approx(2 / stats["area_km2"], abs=0.05)
    # Complete residents have ID number, gender, birth date and phone: only the head of H001.
    assert stats["completeness"]["residents"] == 0.25
    assert leader.get("/api/v1/units/110101002/stats/").status_code == 404
    empty = leader.get("/api/v1/units/110101001002/stats/").json()
    assert empty["households"] == 0 and empty["completeness"]["residents"] is None


def _csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def test_exports_are_scoped_masked_and_audited(leader, client_for, population):
    rows = _csv_rows(leader.get("/api/v1/residents/export.csv"))
    assert len(rows) == 1 + 4  # the west street's residents only
    text = "\n".join(",".join(r) for r in rows)
    assert "110105********002X" in text and WOMAN_1949 not in text and "13812345678" not in text
    assert LogEntry.objects.filter(additional_data__event="export", object_repr="residents").exists()

    workbook = load_workbook(io.BytesIO(leader.get("/api/v1/residents/export.xlsx").content))
    values = [list(row) for row in workbook.active.iter_rows(values_only=True)]
    assert len(values) == 5 and WOMAN_1949 not in str(values)

    geojson = json.loads(b"".join(leader.get("/api/v1/households/export.geojson").streaming_content))
    assert geojson["count"] == 2 and {f["properties"]["ref"] for f in geojson["features"]} == {"H001", "H002"}
    assert "name" not in geojson["features"][0]["properties"]

    households = _csv_rows(leader.get("/api/v1/households/export.csv", {"tags": "rented_out"}))
    assert [r[1] for r in households[1:]] == ["H001"]

    admin = client_for("system_admin", units=["110100"])
    clear = "\n".join(",".join(r) for r in _csv_rows(admin.get("/api/v1/residents/export.csv")))
    assert WOMAN_1949 in clear
    assert LogEntry.objects.filter(additional_data__event="personal_data_viewed", object_repr="residents export")

    worker = client_for("grid_worker", units=["110101001001"])
    assert worker.get("/api/v1/households/export.csv").status_code == 403


def test_buildings_and_tags(leader, population):
    assert {t["code"] for t in leader.get("/api/v1/tags/").json()["results"]} >= {"elderly_alone", "rented_out"}
    assert leader.get("/api/v1/buildings/", {"q": "楼"}).json()["count"] == 0
