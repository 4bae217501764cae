"""What the fuzz tests found, each pinned by a plain test: the API's answers, its schema, and geometry checks."""

import json

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.utils import timezone

from boundaries.models import Generation, GridUnit, Level
from boundaries.services import boundary_import

WEST_SOUTH = "110101001001"  # community with cells 001 (116.38-116.39) and 002 (116.39-116.40), y 39.90-39.92


def polygon(*points) -> dict:
    return {"type": "Polygon", "coordinates": [[*map(list, points), list(points[0])]]}


@pytest.fixture
def planner(small_city, client_for):
    return client_for("planner", ["110100"])


@pytest.fixture
def draft_id(planner):
    response = planner.post("/api/v1/generations/", {}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def edit(client, draft_id, **body):
    return client.post(f"/api/v1/drafts/{draft_id}/edits/", body, format="json")


def assert_error(response, status: int, field: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"} and error["message"] and field in error["fields"], error
    return error


# --- drafts: the geometry a planner draws ------------------------------------------------------------------


def test_a_drawn_boundary_with_heights_is_stored_flat(planner, draft_id):
    # Was a server error: the Z coordinates reached the two-dimensional column.
    ring = [(116.38, 39.90, 50.0), (116.39, 39.90, 50.0), (116.39, 39.92, 51.0), (116.38, 39.92, 49.5)]
    response = edit(planner, draft_id, operation="reshape", code=f"{WEST_SOUTH}001", geometry=polygon(*ring))
    assert response.status_code == 201, response.content
    unit = GridUnit.objects.get(generation_low_id=draft_id, code=f"{WEST_SOUTH}001")
    assert not unit.geom.hasz and unit.geom.extent == pytest.approx((116.38, 39.90, 116.39, 39.92))


@pytest.mark.parametrize(
    "ring",
    [
        [(116.0, 39.0), (500.0, 39.0), (500.0, 40.0), (116.0, 40.0)],
        [(-1e308, -1e308), (1e308, -1e308), (1e308, 1e308), (-1e308, 1e308)],
        [(116.38, 39.90), (116.42, 39.90), (116.42, 91.0), (116.38, 91.0)],
    ],
)
def test_a_boundary_off_the_globe_is_refused_for_a_unit_with_no_parent(planner, draft_id, ring):
    # Was stored as drawn: the city has no parent to clip it to.
    response = edit(planner, draft_id, operation="reshape", code="110100", geometry=polygon(*ring))
    assert_error(response, 400, "geometry")
    assert not GridUnit.objects.filter(generation_low_id=draft_id).exists()


def test_an_empty_drawn_boundary_is_refused_as_empty(planner, draft_id):
    response = edit(
        planner, draft_id, operation="reshape", code="110100", geometry={"type": "MultiPolygon", "coordinates": []}
    )
    error = assert_error(response, 400, "geometry")
    assert "empty" in error["message"].lower()


@pytest.mark.parametrize(
    "body",
    [
        {
            "operation": "create",
            "parent": "110100",
            "geometry": polygon((116.38, 39.90), (116.39, 39.90), (116.39, 39.91)),
        },
        {
            "operation": "split",
            "code": "110101",
            "line": {"type": "LineString", "coordinates": [[116.4, 39.8], [116.4, 40]]},
        },
        {
            "operation": "split",
            "code": "110100",
            "line": {"type": "LineString", "coordinates": [[116.4, 39.8], [116.4, 40]]},
        },
    ],
)
def test_no_city_or_district_is_drawn(planner, draft_id, body):
    # Were server errors: a sequence code for a district broke the code format, a split city found no code.
    field = "parent" if body["operation"] == "create" else "code"
    assert_error(edit(planner, draft_id, **body), 400, field)
    assert not Generation.objects.get(pk=draft_id).edits.exists()


def test_street_numbers_end_at_399(small_city, planner, draft_id):
    past = Generation.objects.create(description="past", active=False, activated_at=timezone.now())
    tiny = MultiPolygon(Polygon.from_bbox((100.0, 30.0, 100.0001, 30.0001)), srid=4326)
    GridUnit.objects.bulk_create(
        GridUnit(
            code=f"110101{n:03d}",
            name=f"旧街道{n}",
            level=Level.STREET,
            geom=tiny,
            generation_low=past,
            generation_high=past,
        )
        for n in range(3, 400)
    )
    line = {"type": "LineString", "coordinates": [[116.39, 39.89], [116.39, 39.95]]}
    error = assert_error(edit(planner, draft_id, operation="split", code="110101001", line=line), 409, "code")
    assert error["code"] == "codes_exhausted" and "399" in error["message"]


def test_codes_run_out_with_a_clear_refusal(small_city, planner, draft_id):
    # Every sequence number of the community was used once (by units long retired): nothing is left to give.
    past = Generation.objects.create(description="past", active=False, activated_at=timezone.now())
    tiny = MultiPolygon(Polygon.from_bbox((100.0, 30.0, 100.0001, 30.0001)), srid=4326)
    GridUnit.objects.bulk_create(
        GridUnit(
            code=f"{WEST_SOUTH}{sequence:03d}",
            name=f"旧网格{sequence}",
            level=Level.GRID,
            geom=tiny,
            generation_low=past,
            generation_high=past,
        )
        for sequence in range(3, 1000)
    )
    line = {"type": "LineString", "coordinates": [[116.385, 39.89], [116.385, 39.93]]}
    response = edit(planner, draft_id, operation="split", code=f"{WEST_SOUTH}001", line=line)
    assert_error(response, 409, "code")
    assert not Generation.objects.get(pk=draft_id).edits.exists()


# --- boundary files ---------------------------------------------------------------------------------------


def import_geojson(tmp_path, level, features, **options):
    path = tmp_path / "units.geojson"
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": code, "name": f"单元{code}"}, "geometry": geometry}
            for code, geometry in features
        ],
    }
    path.write_text(json.dumps(collection), encoding="utf-8")
    return boundary_import(path=path, level=level, code_field="code", name_field="name", commit=True, **options)


@pytest.mark.parametrize(
    "ring",
    [
        [(400.0, 30.0), (500.0, 30.0), (500.0, 60.0), (400.0, 60.0)],  # a projected file read as degrees, say
        [(-1e308, 30.0), (1e308, 30.0), (1e308, 31.0), (-1e308, 31.0)],
    ],
)
def test_a_unit_off_the_globe_is_not_imported(small_city, tmp_path, ring):
    # Was imported: a city has no parent that would have shown it sticking out.
    report = import_geojson(tmp_path, Level.CITY, [("120100", polygon(*ring))], fix_invalid=True)
    assert not report.committed
    assert [(p.kind, p.row, p.code) for p in report.errors] == [("geometry_out_of_range", 1, "120100")]
    assert not GridUnit.objects.filter(code="120100").exists()


def test_a_unit_smaller_than_the_smallest_is_imported_with_a_warning(small_city, tmp_path, settings):
    settings.GEOGRID_MIN_UNIT_AREA_M2 = 2000
    tiny = polygon((100.0, 30.0), (100.0001, 30.0), (100.0001, 30.0001), (100.0, 30.0001))  # about 100 m²
    report = import_geojson(tmp_path, Level.CITY, [("120100", tiny)])
    assert report.committed
    assert [(p.kind, p.row) for p in report.warnings] == [("sliver", 1)]
    assert "2000" in report.warnings[0].message


# --- query parameters that were silently ignored -------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "path", "field"),
    [
        ("viewer", "/api/v1/categories/?family=vehicles", "family"),
        ("viewer", "/api/v1/notifications/?unread=-177314796", "unread"),
        ("city_leader", "/api/v1/users/?role=emperor", "role"),
    ],
)
def test_a_query_value_outside_its_choices_is_refused(small_city, client_for, role, path, field):
    assert_error(client_for(role, ["110100"]).get(path), 400, field)


@pytest.mark.parametrize(("path", "field"), [("/api/v1/kpi/refresh/?background=1e-308", "background")])
def test_a_flag_that_is_no_boolean_is_refused(small_city, client_for, path, field):
    assert_error(client_for("system_admin", ["110100"]).post(path), 400, field)


def test_the_documented_values_still_work(small_city, client_for):
    viewer = client_for("viewer", ["110100"])
    families = {row["family"] for row in viewer.get("/api/v1/categories/?family=event").json()["results"]}
    assert families == {"event"}
    assert viewer.get("/api/v1/categories/?family=").status_code == 200  # empty: like leaving it out
    assert viewer.get("/api/v1/notifications/?unread=true").status_code == 200
    leader = client_for("city_leader", ["110100"])
    usernames = [row["username"] for row in leader.get("/api/v1/users/?role=city_leader").json()["results"]]
    assert usernames == [leader.user.username]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/sms/api/broadcasts/preview/?unit_code=110101001&tag=%00%0D", "tag"),  # was a server error
        ("/sms/api/messages/?state=sent%00", "state"),
        ("/api/v1/kpi/units/?under=110101%00", "under"),
        ("/api/v1/buildings/?q=%00", "q"),
        ("/api/v1/tags/?applies_to=%00", "applies_to"),
    ],
)
def test_a_nul_byte_in_a_query_value_is_refused(small_city, client_for, path, field):
    # PostgreSQL refuses NUL in text: these values went to the database as they came.
    assert_error(client_for("system_admin", ["110100"]).get(path), 400, field)


def test_a_broadcast_outside_the_jurisdiction_names_the_unit_code(small_city, client_for):
    leader = client_for("street_leader", ["110101002"])
    response = leader.get("/sms/api/broadcasts/preview/?tag=elderly_alone&unit_code=110101001")
    assert_error(response, 400, "unit_code")
    response = leader.post(
        "/sms/api/broadcasts/", {"text": "通知", "tag": "elderly_alone", "unit_code": "110101001"}, format="json"
    )
    assert_error(response, 400, "unit_code")


# --- the schema ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield f"{method.upper()} {path}", operation


def test_every_operation_documents_its_errors_in_the_error_shape(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert set(schema["components"]["schemas"]["ErrorDetail"]["properties"]) == {"code", "message", "fields"}
    for label, operation in operations(schema):
        responses = operation["responses"]
        if operation.get("security") and {} not in operation["security"]:
            assert {"401", "403"} <= set(responses), label
        if operation.get("parameters") or operation.get("requestBody"):
            assert {"400", "404"} <= set(responses), label
        if operation.get("requestBody"):
            assert {"413", "415"} <= set(responses), label
        for status, response in responses.items():
            if status.startswith("4"):
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (
                    label,
                    status,
                )


def test_conflicts_and_refusals_are_documented_where_they_happen(schema):
    paths = schema["paths"]
    for path, method in [
        ("/api/v1/generations/", "post"),
        ("/api/v1/drafts/{draft_id}/edits/", "post"),
        ("/api/v1/drafts/{draft_id}/undo/", "post"),
        ("/api/v1/drafts/{draft_id}/activate/", "post"),
        ("/api/v1/incidents/{incident_id}/actions/{action}/", "post"),
        ("/sms/api/broadcasts/{broadcast_id}/approve/", "post"),
        ("/sms/api/broadcasts/{broadcast_id}/send/", "post"),
    ]:
        assert "409" in paths[path][method]["responses"], path
    login = paths["/api/v1/auth/login/"]["post"]["responses"]
    assert {"401", "429"} <= set(login)


def test_lists_are_documented_as_pages(schema):
    for path in ("/api/v1/tokens/", "/api/v1/users/", "/api/v1/audit/"):
        operation = schema["paths"][path]["get"]
        body = operation["responses"]["200"]["content"]["application/json"]["schema"]
        body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]] if "$ref" in body else body
        assert {"count", "next", "previous", "results"} <= set(body["properties"]), path
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert {"page", "page_size"} <= names, path
    for path in ("/api/v1/buildings/", "/api/v1/visit-logs/", "/api/v1/notifications/", "/sms/api/messages/"):
        names = {parameter["name"] for parameter in schema["paths"][path]["get"]["parameters"]}
        assert {"page", "page_size"} <= names, path
    # Exports are not paged: a page there was accepted and ignored.
    for path in ("/api/v1/households/export.{file_format}", "/api/v1/incidents/export.xlsx"):
        names = {parameter["name"] for parameter in schema["paths"][path]["get"]["parameters"]}
        assert not names & {"page", "page_size"}, path


def test_answers_are_documented_with_the_content_types_they_have(schema):
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    def types(path, status="200"):
        return set(schema["paths"][path]["get"]["responses"][status]["content"])

    assert types("/api/v1/incidents/export.xlsx") == {xlsx}
    assert types("/api/v1/kpi/units/export.xlsx") == {xlsx}
    assert types("/api/v1/residents/export.{file_format}") == {"text/csv", xlsx}
    assert types("/api/v1/households/export.{file_format}") == {"text/csv", xlsx, "application/geo+json"}
    for path in ("/api/v1/units/", "/api/v1/units/{code}/", "/api/v1/units/{code}/children/"):
        assert types(path) == {"application/geo+json"}, path
    assert types("/api/v1/attachments/{token}/") == {"image/jpeg", "image/png", "image/webp", "application/pdf"}


def test_a_user_without_a_department_matches_the_schema(schema, small_city, client_for):
    department = schema["components"]["schemas"]["UserOutput"]["properties"]["department"]
    assert department.get("nullable") is True
    me = client_for("viewer", ["110100"]).get("/api/v1/me/").json()
    assert me["department"] is None


def test_empty_query_values_mean_what_leaving_them_out_means(small_city, client_for):
    leader = client_for("city_leader", ["110100"])
    for path in ("/api/v1/units/", "/api/v1/households/", "/api/v1/incidents/", "/api/v1/tokens/"):
        response = leader.get(f"{path}?page=&page_size=&under=")
        assert response.status_code == 200, (path, response.content)  # page_size= was refused as no number
        assert response.json() == leader.get(path).json(), path


def test_empty_query_values_are_documented_as_allowed(schema):
    for label, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query" and not parameter.get("required"):
                assert parameter.get("allowEmptyValue") is True, (label, parameter["name"])
