"""
Properties that hold for any input: coordinate parsing and datum conversion, the geometry a planner draws
or a boundary file brings, and the codes new grid units get.
"""

import json
import math
import re

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from accounts.selectors import scope_for_user
from boundaries import drafts
from boundaries.models import GridUnit, Level
from boundaries.selectors import generation_active, valid_at_q
from boundaries.services import boundary_import
from boundaries.sql import valid_at
from core.coords import (
    SUPPORTED_CRS,
    CoordinateError,
    bd09_to_wgs84,
    gcj02_to_wgs84,
    parse_lon_lat,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from core.errors import ApiError

# Each property runs a bounded, fixed set of examples: the same ones on every machine.
PURE = settings(max_examples=150, deadline=None, derandomize=True, database=None)
WITH_DB = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- coordinates --------------------------------------------------------------------------------------

# What reaches the parser from query strings, JSON bodies, CSV and XLSX cells: text, numbers of every
# kind (and their non-finite values), and whatever else a client or a spreadsheet can put there.
numeric_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers().map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.from_regex(r"\A\s*[+-]?\d{0,4}([.,]\d{0,8})?([eE][+-]?\d{1,4})?\s*\Z"),
)
raw_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.fractions(),
    st.datetimes(),
    st.times(),
    numeric_text,
    st.text(max_size=30),
    st.lists(st.floats(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.binary(max_size=8),
)
raw_crs = st.one_of(
    st.sampled_from(SUPPORTED_CRS),
    st.sampled_from(SUPPORTED_CRS).map(lambda name: f" {name.upper()}\t"),
    st.text(max_size=10),
    st.none(),
    st.integers(),
)
longitude = st.floats(-180.0, 180.0)
latitude = st.floats(-90.0, 90.0)
# The published GCJ-02 box; inside it the three datums differ, outside they coincide.
CHINA = (72.004, 0.8293, 137.8347, 55.8271)
# Far enough from the box's edge that a converted point (offsets stay under 0.02 degrees) is still inside.
inner_lon = st.floats(CHINA[0] + 0.05, CHINA[2] - 0.05)
inner_lat = st.floats(CHINA[1] + 0.05, CHINA[3] - 0.05)
FIELDS = {"lon", "lat", "coordinates", "crs"}


@PURE
@given(raw_value, raw_value, raw_crs)
def test_parsing_answers_a_point_on_the_globe_or_a_coordinate_error(lon, lat, crs):
    try:
        x, y = parse_lon_lat(lon, lat, crs=crs)
    except CoordinateError as error:
        assert error.field in FIELDS and error.code
        assert str(error.message).strip()  # renders, whatever the input
        return
    assert isinstance(x, float) and isinstance(y, float)
    assert math.isfinite(x) and math.isfinite(y)
    assert -180.0 <= x <= 180.0 and -90.0 <= y <= 90.0


@PURE
@given(longitude, latitude, st.sampled_from(SUPPORTED_CRS))
def test_any_valid_pair_stays_valid_in_every_datum(lon, lat, crs):
    x, y = parse_lon_lat(lon, lat, crs=crs)
    assert -180.0 <= x <= 180.0 and -90.0 <= y <= 90.0
    assert (x, y) == to_wgs84(lon, lat, crs)


@PURE
@given(st.floats(90.0, 180.0, exclude_min=True), latitude, st.booleans(), st.booleans())
def test_a_longitude_given_as_latitude_is_called_swapped(lon, lat, east, as_text):
    lon = lon if east else -lon
    first, second = (repr(lat), repr(lon)) if as_text else (lat, lon)
    with pytest.raises(CoordinateError) as caught:
        parse_lon_lat(first, second)
    assert (caught.value.field, caught.value.code) == ("coordinates", "swapped")


@PURE
@given(st.floats(min_value=180.0, exclude_min=True, allow_infinity=False), latitude, st.booleans())
def test_a_longitude_out_of_range_is_named(lon, lat, east):
    with pytest.raises(CoordinateError) as caught:
        parse_lon_lat(lon if east else -lon, lat)
    assert (caught.value.field, caught.value.code) == ("lon", "out_of_range")


@PURE
@given(
    st.one_of(st.floats(90.0, 180.0, exclude_min=True), st.floats(-180.0, -90.0, exclude_max=True)),
    st.floats(90.0, 1e300, exclude_min=True),
    st.booleans(),
)
def test_a_latitude_out_of_range_is_named(lon, lat, north):
    # The longitude is no latitude either, so the pair cannot just be swapped.
    with pytest.raises(CoordinateError) as caught:
        parse_lon_lat(lon, lat if north else -lat)
    assert (caught.value.field, caught.value.code) == ("lat", "out_of_range")


@PURE
@given(longitude, latitude, st.sampled_from(["{:.7f}", "{:.12g}", "{:e}", "{:+.3f}", " {!r}\t", "\u3000{}"]))
def test_text_and_numbers_parse_alike(lon, lat, pattern):
    lon_text, lat_text = pattern.format(lon), pattern.format(lat)
    assert parse_lon_lat(lon_text, lat_text) == (float(lon_text.strip()), float(lat_text.strip()))


@PURE
@given(st.integers(-179, 179), st.integers(1, 999_999), latitude)
def test_a_decimal_comma_is_refused_with_the_dotted_number(whole, fraction, lat):
    with pytest.raises(CoordinateError) as caught:
        parse_lon_lat(f"{whole},{fraction}", lat)
    assert (caught.value.field, caught.value.code) == ("lon", "not_a_number")
    assert f"{whole}.{fraction}" in str(caught.value.message)


@PURE
@given(st.sampled_from(["nan", "NaN", "-nan", "inf", "+Infinity", "-inf", "1e999", "-1E400"]), latitude)
def test_non_finite_text_is_refused(text, lat):
    with pytest.raises(CoordinateError) as caught:
        parse_lon_lat(text, lat)
    assert (caught.value.field, caught.value.code) == ("lon", "not_finite")


@PURE
@given(inner_lon, inner_lat)
def test_round_trips_anywhere_in_china(lon, lat):
    assert _distance(gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat)), (lon, lat)) < 1e-7
    assert _distance(wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat)), (lon, lat)) < 1e-8
    # Baidu's published inverse is itself approximate (about 2e-6 degrees, 0.2 m).
    assert _distance(bd09_to_wgs84(*wgs84_to_bd09(lon, lat)), (lon, lat)) < 3e-6
    for crs in SUPPORTED_CRS:
        assert _distance(parse_lon_lat(repr(lon), repr(lat), crs=crs), to_wgs84(lon, lat, crs)) == 0.0


@PURE
@given(longitude, latitude, st.sampled_from(SUPPORTED_CRS))
def test_conversion_moves_a_point_by_at_most_two_kilometres(lon, lat, crs):
    # Everywhere, including the edge of the box where the published formulas jump: a few hundred metres
    # is the offset in China, and nothing ever turns into NaN or runs away.
    x, y = to_wgs84(lon, lat, crs)
    assert math.isfinite(x) and math.isfinite(y)
    assert _distance((x, y), (lon, lat)) < 0.02


def _distance(a, b) -> float:
    return max(abs(a[0] - b[0]), abs(a[1] - b[1]))


# --- geometry a planner draws --------------------------------------------------------------------------

# Around the small city (116.38-116.42, 39.90-39.94), now and then far away, off the globe, or with a height.
near_point = st.tuples(st.floats(116.37, 116.43), st.floats(39.89, 39.95))
any_point = st.tuples(st.floats(-1e300, 1e300), st.floats(-1e300, 1e300))
point = st.one_of(near_point, near_point, near_point, any_point, near_point.map(lambda p: (*p, 42.0)))


@st.composite
def rings(draw):
    points = draw(st.lists(point, max_size=7))
    if points and draw(st.booleans()):
        points.append(points[0])  # closed, as GeoJSON wants; open rings must be refused
    return [list(p) for p in points]


@st.composite
def boxes(draw):
    """A rectangle of any size from a billionth of a degree to most of the city, or a bow-tie of it."""
    x, y = draw(near_point)
    width, height = draw(st.floats(1e-9, 0.05)), draw(st.floats(1e-9, 0.05))
    corners = [[x, y], [x + width, y], [x + width, y + height], [x, y + height]]
    if draw(st.booleans()):
        corners[1], corners[2] = corners[2], corners[1]  # self-intersecting
    return {"type": "Polygon", "coordinates": [[*corners, corners[0]]]}


json_values = st.recursive(
    # Finite floats: JSON has no others (a client sending `Infinity` is refused by the parser).
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
drawn_geometry = st.one_of(
    boxes(),
    boxes(),
    st.builds(lambda rs: {"type": "Polygon", "coordinates": rs}, st.lists(rings(), max_size=3)),
    st.builds(
        lambda ps: {"type": "MultiPolygon", "coordinates": ps}, st.lists(st.lists(rings(), max_size=2), max_size=3)
    ),
    st.builds(lambda ps: {"type": "LineString", "coordinates": ps}, rings()),
    # GeoJSON as text: the only way NaN and Infinity reach the geometry parser (JSON bodies refuse them).
    boxes().map(json.dumps),
    st.builds(lambda rs: json.dumps({"type": "Polygon", "coordinates": rs}), st.lists(rings(), max_size=2)),
    st.sampled_from(['{"type": "Polygon", "coordinates": [[[116.39, NaN], [116.4, 39.91], [116.39, 39.91]]]}']),
    json_values,
)
# Units of the west street, where the planner works, and the city itself, which has no parent to clip to.
EDITED = ["110100", "110101", "110101001", "110101001001", "110101001001001", "110101001002001", "110101001002002"]


@pytest.fixture
def planner_draft(small_city, client_for):
    client = client_for("planner", ["110100"])
    response = client.post("/api/v1/generations/", {"description": "fuzz"}, format="json")
    assert response.status_code == 201, response.content
    return client, response.json()["id"]


def _problems(codes, generation_id) -> list[str]:
    """What is wrong with the given units in a generation: invalid, 3D, off the globe, outside the parent."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT u.code, ST_IsValid(u.geom), ST_NDims(u.geom), ST_XMin(u.geom), ST_YMin(u.geom),
                   ST_XMax(u.geom), ST_YMax(u.geom),
                   COALESCE((SELECT ST_Area(ST_Difference(u.geom, p.geom)::geography) FROM boundaries_gridunit p
                             WHERE p.code = u.parent_code AND {valid_at("p")}), 0)
            FROM boundaries_gridunit u WHERE u.code = ANY(%(codes)s) AND {valid_at("u")}
            """,
            {"codes": list(codes), "generation": generation_id},
        )
        rows = cursor.fetchall()
    problems = []
    for code, valid, dims, x0, y0, x1, y1, outside_m2 in rows:
        if not valid:
            problems.append(f"{code} invalid")
        if dims != 2:
            problems.append(f"{code} has {dims} dimensions")
        if not (x0 >= -180 and x1 <= 180 and y0 >= -90 and y1 <= 90):
            problems.append(f"{code} off the globe")
        if outside_m2 > 1.0:
            problems.append(f"{code} sticks {outside_m2:.1f} m² out of its parent")
    return problems


@settings(WITH_DB, max_examples=80)
@given(st.sampled_from(["reshape", "create"]), st.sampled_from(EDITED), drawn_geometry)
def test_a_drawn_boundary_is_stored_clean_or_refused_plainly(planner_draft, operation, code, geometry):
    client, draft_id = planner_draft
    body = {"operation": operation, "geometry": geometry, ("code" if operation == "reshape" else "parent"): code}
    with transaction.atomic():  # each example starts from the same draft
        response = client.post(f"/api/v1/drafts/{draft_id}/edits/", body, format="json")
        if response.status_code == 201:
            assert _problems(response.json()["codes"], draft_id) == []
        transaction.set_rollback(True)
    assert response.status_code in (201, 400, 404), response.content
    if response.status_code == 400:
        error = response.json()["error"]
        assert error["code"] == "invalid" and error["message"] and error["fields"], error
        assert set(error["fields"]) <= {"geometry", "parent", "code"}, error


# --- geometry a boundary file brings ----------------------------------------------------------------


@st.composite
def boundary_features(draw, level):
    """Features of new cities (no parent to clip them) or new grid cells of the east community."""
    centre = (100.0, 30.0) if level == Level.CITY and draw(st.booleans()) else (116.41, 39.92)
    near = st.tuples(st.floats(centre[0] - 0.02, centre[0] + 0.02), st.floats(centre[1] - 0.02, centre[1] + 0.02))
    features = []
    for number in range(draw(st.integers(1, 3))):
        code = f"1{number + 2}0100" if level == Level.CITY else f"110101002001{number + 3:03d}"
        x, y = draw(near)
        size = draw(st.floats(1e-9, 0.03))
        ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size]]
        kind = draw(st.sampled_from(["box", "bowtie", "3d", "off the globe", "open", "spike", "random"]))
        if kind == "bowtie":
            ring[1], ring[2] = ring[2], ring[1]
        elif kind == "3d":
            ring = [[*p, 12.5] for p in ring]
        elif kind == "off the globe":
            ring = [[p[0] + draw(st.sampled_from([360.0, 1e6, 1e300])), p[1]] for p in ring]
        elif kind == "spike":
            ring.insert(2, [x + size * 2, y + size / 2])
            ring.insert(3, [x + size, y + size / 2])
        elif kind == "random":
            ring = [list(p) for p in draw(st.lists(point, min_size=1, max_size=6))]
        closed = ring if kind == "open" else [*ring, ring[0]]
        geometry = {"type": "Polygon", "coordinates": [closed]}
        features.append((code, kind, geometry))
    return features


@settings(WITH_DB, max_examples=60)
@given(
    st.sampled_from([Level.CITY, Level.GRID]).flatmap(
        lambda level: st.tuples(st.just(level), boundary_features(level))
    ),
    st.booleans(),
)
def test_a_boundary_file_is_imported_whole_and_clean_or_refused_with_reasons(
    small_city, tmp_path, imported, fix_invalid
):
    level, features = imported
    path = tmp_path / "units.geojson"
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": code, "name": f"单元{code}"}, "geometry": geometry}
            for code, _kind, geometry in features
        ],
    }
    path.write_text(json.dumps(collection), encoding="utf-8")
    before = GridUnit.objects.count()
    report = boundary_import(
        path=path, level=level, code_field="code", name_field="name", commit=True, fix_invalid=fix_invalid
    )
    codes = [code for code, _kind, _geometry in features]
    event("committed" if report.committed else "refused")
    if report.committed:
        assert GridUnit.objects.count() == before + len(features)
        assert _problems(codes, generation_active().pk) == []
        GridUnit.objects.filter(code__in=codes).delete()  # the next example starts from the small city again
        return
    assert GridUnit.objects.count() == before  # all or nothing
    assert report.errors and all(problem.kind and problem.message for problem in report.errors)
    flagged = {problem.row for problem in report.errors}
    for row, (_code, kind, _geometry) in enumerate(features, start=1):
        if kind == "off the globe" or (kind == "bowtie" and not fix_invalid):
            assert row in flagged, (kind, report.as_dict())


# --- codes of new units ---------------------------------------------------------------------------------

# The west street's two communities and their cells: rectangles side by side, and a ring around an island.
COMMUNITIES = ["110101001001", "110101001002"]


@st.composite
def draft_steps(draw):
    """A planner's session: splits (by one line or two), retirements, new units, and activations."""
    steps = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["split", "split", "split", "retire", "create", "activate"]))
        community = draw(st.sampled_from(COMMUNITIES))
        if kind == "split":
            cuts = sorted(draw(st.lists(st.floats(0.15, 0.85), min_size=1, max_size=2, unique=True)))
            steps.append((kind, community, draw(st.integers(0, 10)), draw(st.booleans()), cuts))
        elif kind == "retire":
            steps.append((kind, community, draw(st.integers(0, 10)), draw(st.integers(0, 10))))
        elif kind == "create":
            corner = (draw(st.floats(0.0, 0.8)), draw(st.floats(0.0, 0.8)))
            steps.append((kind, community, corner, draw(st.floats(0.05, 0.3))))
        else:
            steps.append((kind,))
    return steps


def _live(generation, parent: str) -> dict[str, GridUnit]:
    return {u.code: u for u in GridUnit.objects.filter(valid_at_q(generation), parent_code=parent).order_by("code")}


def _lines(unit: GridUnit, vertical: bool, cuts: list[float]) -> dict:
    """Straight lines across the unit's bounding box (and a little beyond) at the given fractions."""
    x0, y0, x1, y1 = unit.geom.extent
    margin = 0.001
    if vertical:
        lines = [[[x0 + (x1 - x0) * f, y0 - margin], [x0 + (x1 - x0) * f, y1 + margin]] for f in cuts]
    else:
        lines = [[[x0 - margin, y0 + (y1 - y0) * f], [x1 + margin, y0 + (y1 - y0) * f]] for f in cuts]
    return {"type": "MultiLineString", "coordinates": lines}


def _apply(step, planner, draft):
    kind, act = step[0], {"scope": planner["scope"], "actor": planner["user"], "draft": draft}
    if kind == "split":
        _kind, community, pick, vertical, cuts = step
        cells = list(_live(draft, community).values())
        unit = cells[pick % len(cells)]
        return drafts.draft_split(**act, code=unit.code, line=_lines(unit, vertical, cuts))
    if kind == "retire":
        _kind, community, pick, into = step
        cells = list(_live(draft, community).values())
        unit = cells[pick % len(cells)]
        neighbours = [c for c in cells if c.code != unit.code and c.geom.intersects(unit.geom)]
        if not neighbours:
            return None
        return drafts.draft_retire(**act, code=unit.code, into=neighbours[into % len(neighbours)].code)
    _kind, community, (fx, fy), size = step
    x0, y0, x1, y1 = GridUnit.objects.filter(valid_at_q(draft), code=community).get().geom.extent
    box = [[x0 + (x1 - x0) * fx, y0 + (y1 - y0) * fy], [x0 + (x1 - x0) * (fx + size), y0 + (y1 - y0) * (fy + size)]]
    (a, b), (c, d) = box
    geometry = {"type": "Polygon", "coordinates": [[[a, b], [c, b], [c, d], [a, d], [a, b]]]}
    return drafts.draft_create(**act, parent=community, geometry=geometry)


@pytest.fixture
def planner(small_city, make_user):
    user = make_user("planner", units=["110101001"], username="planner-codes")
    return {"user": user, "scope": scope_for_user(user)}


@settings(WITH_DB, max_examples=40)
@given(draft_steps())
def test_new_codes_follow_the_rule_and_never_come_back(planner, steps):
    with transaction.atomic():  # each session starts from the small city
        _check_session(planner, steps)
        transaction.set_rollback(True)


def _check_session(planner, steps):
    draft = drafts.draft_open(scope=planner["scope"], actor=planner["user"])
    # Every code that was ever part of the live grid; a new unit may take none of them.
    ever_live = {code for parent in COMMUNITIES for code in _live(generation_active(), parent)}
    for step in steps:
        if step[0] == "activate":
            try:
                drafts.draft_activate(scope=planner["scope"], actor=planner["user"], draft=draft, confirm_warnings=True)
            except ApiError as error:
                assert error.status_code == 409, error.detail  # slivers after many cuts, say
                event("activation refused")
                continue
            event("activated")
            ever_live |= {code for parent in COMMUNITIES for code in _live(generation_active(), parent)}
            draft = drafts.draft_open(scope=planner["scope"], actor=planner["user"])
            continue
        before = {parent: _live(draft, parent) for parent in COMMUNITIES}
        try:
            edit = _apply(step, planner, draft)
        except ApiError as error:
            assert error.status_code == 400 and error.fields, (error.detail, error.fields)
            event(f"{step[0]} refused")
            continue
        if edit is None:
            continue
        event(f"{step[0]} done")
        for parent in COMMUNITIES:
            after = _live(draft, parent)
            new = sorted(set(after) - set(before[parent]))
            for code in new:
                assert re.fullmatch(rf"{parent}\d{{3}}", code) and code[-3:] != "000", code
                assert code not in ever_live, f"{code} was live before"
            # Codes are stable: a unit that was not retired keeps its code.
            assert set(before[parent]) - set(edit.codes) <= set(after)
            if len(new) == 2:
                event("two new units at once")
                _assert_reading_order(*(after[code] for code in new))
        if step[0] == "retire":
            retired = edit.codes[1]
            assert retired not in _live(draft, retired[:-3])


def _assert_reading_order(first: GridUnit, second: GridUnit) -> None:
    """Of two new units, the one numbered first lies north (a row above) or, in the same row, west."""
    a, b = first.label_point, second.label_point
    dx, dy = b.x - a.x, b.y - a.y
    # With two units a row is as high as half their distance: the same row when |dx| > sqrt(3) |dy|.
    if abs(dx) > 2 * abs(dy):
        assert dx > 0, f"{first.code} lies east of {second.code} in the same row"
    elif abs(dy) > abs(dx):
        assert dy < 0, f"{first.code} lies south of {second.code}"
