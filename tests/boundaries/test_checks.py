"""Checks of draft boundaries and the impact preview, against drafts built row by row and shapely."""

import json
import re

import numpy as np
import pytest
import shapely
from django.contrib.gis.geos import Point, Polygon
from django.db import connection
from pyproj import Geod
from shapely.geometry.polygon import orient

from boundaries.checks import changed_area, draft_impact, draft_problems
from boundaries.models import Generation, GridUnit, Level
from boundaries.selectors import valid_at_q
from boundaries.services import points_assign_units
from core.scope import Scope
from incidents.models import Category, Incident
from incidents.services import incident_create
from residents.models import Household, Resident
from tests.conftest import X0, X1, XM, Y0, Y1, YM, box, make_unit, multi

pytestmark = pytest.mark.django_db

SW, SW1, SW2 = "110101001001", "110101001001001", "110101001001002"
NW, NW1, NW2 = "110101001002", "110101001002001", "110101001002002"
EAST, E1, E2, E3 = "110101002001", "110101002001001", "110101002001002", "110101002001003"
ISLAND = ((116.401, 39.901), (116.403, 39.901), (116.403, 39.903), (116.401, 39.903), (116.401, 39.901))
GEOD = Geod(ellps="WGS84")


@pytest.fixture(autouse=True)
def any_workload(settings):
    """Workload warnings stay out of the way unless a test asks for them."""
    settings.GEOGRID_GRID_HOUSEHOLDS_RANGE = (0, 1_000_000)


# --- Drafts built by hand, as the edit operations store them ---------------------------------------


def open_draft() -> tuple[Generation, Generation]:
    active = Generation.objects.get(active=True)
    return active, Generation.objects.create(description="draft", active=False)


def redraw(active, draft, code, geom, name=None) -> GridUnit:
    """Closes the unit's row at the active generation and adds its new shape from the draft on."""
    old = GridUnit.objects.get(valid_at_q(active), code=code)
    GridUnit.objects.filter(pk=old.pk).update(generation_high=active)
    return make_unit(draft, code, name or old.name, old.level, geom)


def retire(active, code) -> None:
    GridUnit.objects.filter(valid_at_q(active), code=code).update(generation_high=active)


def create(draft, code, geom) -> GridUnit:
    return make_unit(draft, code, f"新单元{code[-3:]}", Level.GRID if len(code) == 15 else Level.COMMUNITY, geom)


def polygon(ring) -> Polygon:
    return Polygon(ring, srid=4326)


def shape(geometry) -> shapely.Geometry:
    """A GEOS geometry or a GeoJSON dict as shapely."""
    if isinstance(geometry, shapely.Geometry):
        return geometry
    return shapely.from_geojson(geometry.json if hasattr(geometry, "json") else json.dumps(geometry))


def same_shape(a, b, m2: float = 0.01) -> bool:
    return geodesic_area(shapely.symmetric_difference(shape(a), shape(b))) < m2


def geodesic_area(geometry) -> float:
    """Area in m² on the WGS-84 ellipsoid, each polygon oriented first so that no two parts cancel out."""
    parts = shapely.get_parts(shape(geometry))
    return sum(GEOD.geometry_area_perimeter(orient(part))[0] for part in parts if part.geom_type == "Polygon")


def kinds(problems) -> list[tuple[str, list[str]]]:
    return [(p["properties"]["problem"], p["properties"]["units"]) for p in problems]


def reported_area(problem) -> float:
    return float(re.search(r"([0-9.]+) m²", problem["properties"]["reason"]).group(1))


# --- Problems --------------------------------------------------------------------------------------


def test_a_draft_without_changes_and_a_clean_draft_have_no_problems(small_city):
    active, draft = open_draft()
    assert draft_problems(draft) == []
    # The edge between the two south-west cells moves east; they still fill their community.
    redraw(active, draft, SW1, box(X0, Y0, 116.396, YM))
    redraw(active, draft, SW2, box(116.396, Y0, XM, YM))
    assert draft_problems(draft) == []


def test_overlapping_siblings(small_city):
    active, draft = open_draft()
    redraw(active, draft, SW1, box(X0, Y0, 116.391, YM))
    problems = draft_problems(draft)
    assert kinds(problems) == [("overlap", [SW1, SW2])]
    overlap = problems[0]
    assert overlap["type"] == "Feature" and overlap["properties"]["severity"] == "error"
    expected = box(116.39, Y0, 116.391, YM)
    assert same_shape(overlap["geometry"], expected)
    assert reported_area(overlap) == pytest.approx(geodesic_area(shape(expected)), abs=0.1)
    assert overlap["properties"]["reason"].startswith(f"Grid cells {SW1} and {SW2} overlap by ")

    # Two new rows overlapping each other are one problem, not two.
    redraw(active, draft, SW2, box(116.389, Y0, XM, YM))
    problems = draft_problems(draft)
    assert kinds(problems) == [("overlap", [SW1, SW2])]
    assert same_shape(problems[0]["geometry"], box(116.389, Y0, 116.391, YM))


def test_gaps_are_reported_one_polygon_at_a_time_and_noise_is_dropped(small_city):
    active, draft = open_draft()
    redraw(active, draft, SW1, box(X0, Y0, 116.389, YM))
    # A notch of about half a square metre at the community's corner is below the tolerance.
    notched = ((116.39, Y0), (XM, Y0), (XM, YM - 1e-5), (XM - 1e-5, YM), (116.39, YM), (116.39, Y0))
    redraw(active, draft, SW2, polygon(notched))
    problems = draft_problems(draft)
    assert kinds(problems) == [("gap", [SW])]
    expected = box(116.389, Y0, 116.39, YM)
    assert same_shape(problems[0]["geometry"], expected)
    assert reported_area(problems[0]) == pytest.approx(geodesic_area(shape(expected)), abs=0.1)
    assert problems[0]["properties"]["reason"].startswith(f"Community {SW} has a gap of ")

    # Computed independently, the community's uncovered area is the strip and the notch, which is dropped.
    community = shape(GridUnit.objects.get(valid_at_q(draft), code=SW).geom)
    cells = shapely.union_all([shape(u.geom) for u in GridUnit.objects.filter(valid_at_q(draft), parent_code=SW)])
    parts = sorted(geodesic_area(part) for part in shapely.get_parts(community.difference(cells)))
    assert len(parts) == 2 and 0 < parts[0] < 1 and parts[1] == pytest.approx(reported_area(problems[0]), abs=0.1)


def test_a_parent_left_without_children_is_one_gap(small_city):
    active, draft = open_draft()
    retire(active, NW1)
    retire(active, NW2)
    problems = draft_problems(draft)
    assert kinds(problems) == [("gap", [NW])]
    assert same_shape(problems[0]["geometry"], box(X0, YM, XM, Y1))


def test_a_cell_sticking_out_of_its_community(small_city):
    active, draft = open_draft()
    redraw(active, draft, SW2, box(116.39, Y0, 116.401, YM))
    problems = draft_problems(draft)
    # Cells of another community are not siblings: the overlap with the east cell is this problem too.
    assert kinds(problems) == [("outside_parent", [SW2, SW])]
    expected = box(XM, Y0, 116.401, YM)
    assert same_shape(problems[0]["geometry"], expected)
    assert reported_area(problems[0]) == pytest.approx(geodesic_area(shape(expected)), abs=0.1)
    assert problems[0]["properties"]["reason"].startswith(f"Grid cell {SW2} sticks out of its parent {SW} by ")


def test_a_shrunk_parent_leaves_its_children_outside_and_a_gap_above(small_city):
    active, draft = open_draft()
    redraw(active, draft, SW, box(X0, Y0, XM, 39.919))
    problems = draft_problems(draft)
    assert kinds(problems) == [
        ("gap", ["110101001"]),
        ("outside_parent", [SW1, SW]),
        ("outside_parent", [SW2, SW]),
    ]
    assert same_shape(problems[0]["geometry"], box(X0, 39.919, XM, YM))
    assert same_shape(problems[1]["geometry"], box(X0, 39.919, 116.39, YM))


def test_slivers(small_city, settings):
    active, draft = open_draft()
    hole = ((116.395, 39.91), (116.3954, 39.91), (116.3954, 39.9104), (116.395, 39.9104), (116.395, 39.91))
    redraw(active, draft, SW2, box(116.39, Y0, XM, YM, holes=[hole]))
    create(draft, "110101001001003", box(116.395, 39.91, 116.3954, 39.9104))
    problems = draft_problems(draft)
    assert kinds(problems) == [("sliver", ["110101001001003"])]
    area = geodesic_area(shape(box(116.395, 39.91, 116.3954, 39.9104)))
    assert 1000 < area < 2000
    assert reported_area(problems[0]) == pytest.approx(area, abs=0.1)
    assert problems[0]["properties"]["reason"].endswith("less than the minimum of 2000 m².")
    settings.GEOGRID_MIN_UNIT_AREA_M2 = 1000
    assert draft_problems(draft) == []


def test_workload_warnings_count_households_in_the_draft_cells(population, settings):
    active, draft = open_draft()
    redraw(active, draft, SW1, box(X0, Y0, 116.396, YM))
    redraw(active, draft, SW2, box(116.396, Y0, XM, YM))
    del settings.GEOGRID_GRID_HOUSEHOLDS_RANGE  # the default, 300 to 500
    problems = draft_problems(draft)
    assert kinds(problems) == [("workload", [SW1]), ("workload", [SW2])]
    assert {p["properties"]["severity"] for p in problems} == {"warning"}
    # Both south-west households now lie in the west cell.
    assert problems[0]["properties"]["reason"] == (
        f"Grid cell {SW1} would hold 2 households, outside the range of 300 to 500."
    )
    assert problems[1]["properties"]["reason"] == (
        f"Grid cell {SW2} would hold 0 households, outside the range of 300 to 500."
    )

    settings.GEOGRID_GRID_HOUSEHOLDS_RANGE = (1, 1)
    points = [shapely.Point(h.location.x, h.location.y) for h in Household.objects.all()]
    expected = [
        cell.code
        for cell in GridUnit.objects.filter(generation_low=draft, level=Level.GRID).order_by("code")
        if sum(shape(cell.geom).covers(point) for point in points) != 1
    ]
    assert [p["properties"]["units"][0] for p in draft_problems(draft)] == expected == [SW1, SW2]
    settings.GEOGRID_GRID_HOUSEHOLDS_RANGE = (0, 2)
    assert draft_problems(draft) == []


def test_an_invalid_geometry_is_reported_and_the_other_checks_still_run(small_city):
    with connection.cursor() as cursor:
        # The database refuses invalid polygons; a draft written around that rule must still be checked.
        # The deferred parent checks of the fixture run first: a table with pending events cannot be altered.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE boundaries_gridunit DROP CONSTRAINT gridunit_geom_valid")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    active, draft = open_draft()
    bow_tie = polygon(((X0, Y0), (116.39, YM), (116.39, Y0), (X0, YM), (X0, Y0)))
    redraw(active, draft, SW1, bow_tie)
    problems = draft_problems(draft)
    invalid = problems[0]
    assert invalid["properties"]["problem"] == "invalid_geometry"
    assert invalid["properties"]["units"] == [SW1]
    assert "Self-intersection" in invalid["properties"]["reason"]
    assert invalid["geometry"]["type"] == "Point"
    assert invalid["geometry"]["coordinates"] == pytest.approx([116.385, 39.91])
    # Repaired, the bow tie is two triangles: the triangles above and below it are gaps.
    assert kinds(problems[1:]) == [("gap", [SW]), ("gap", [SW])]


def test_under_limits_the_checks_to_a_subtree(small_city):
    active, draft = open_draft()
    redraw(active, draft, SW1, box(X0, Y0, 116.391, YM))
    redraw(active, draft, E1, box(XM, Y0, X1, 39.918, holes=[ISLAND]))
    assert kinds(draft_problems(draft)) == [("overlap", [SW1, SW2]), ("gap", [EAST])]
    assert kinds(draft_problems(draft, under="110101001")) == [("overlap", [SW1, SW2])]
    assert kinds(draft_problems(draft, under="110101002")) == [("gap", [EAST])]
    assert draft_problems(draft, under=NW) == []


# --- Impact ----------------------------------------------------------------------------------------


def build_redrawn_city(active, draft) -> None:
    """A draft changing every community: an edge moved, a merge, a split, and a cell that shrinks."""
    redraw(active, draft, SW1, box(X0, Y0, 116.396, YM))
    redraw(active, draft, SW2, box(116.396, Y0, XM, YM))
    redraw(active, draft, NW1, box(X0, YM, XM, Y1))  # takes in the cell in its hole
    retire(active, NW2)
    redraw(active, draft, E2, multi(box(XM, YM, 116.41, Y1), box(*ISLAND[0], *ISLAND[2])))
    create(draft, E3, box(116.41, YM, X1, Y1))
    redraw(active, draft, E1, box(XM, Y0, X1, 39.918, holes=[ISLAND]))  # leaves a strip of no cell


@pytest.fixture
def many_households(population):
    """The population plus 600 random households in and around the city, placed as the live grid says."""
    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(116.378, 116.422, 600), rng.uniform(39.898, 39.942, 600)
    special = [(116.396, 39.91), (116.39, 39.93), (116.41, 39.919), (116.41, 39.935), (116.402, 39.902)]
    points = [*zip(lon, lat, strict=True), *special]
    created = Household.objects.bulk_create(
        Household(location=Point(float(x), float(y), srid=4326), address=f"测试路{i}号")
        for i, (x, y) in enumerate(points)
    )
    Resident.objects.bulk_create(
        Resident(household=household, name=f"居民{n}") for household in created[::3] for n in range(2)
    )
    points_assign_units(table="residents_household", geom_column="location")
    return created


def expected_impact(draft, *, prefixes=None):
    """The draft cell of every household by shapely (the smallest code among the cells covering it)."""
    cells = [
        (cell.code, shape(cell.geom))
        for cell in GridUnit.objects.filter(valid_at_q(draft), level=Level.GRID).order_by("code")
    ]
    households = Household.objects.order_by("id")
    if prefixes is not None:
        households = [h for h in households if h.unit_code.startswith(tuple(prefixes))]
    placed = {}
    for household in households:
        point = shapely.Point(household.location.x, household.location.y)
        after = next((code for code, polygon in cells if polygon.covers(point)), "")
        placed[household.id] = (household.grid_code, after)
    moved = {hid: pair for hid, pair in placed.items() if pair[0] != pair[1]}
    return placed, moved


def test_impact_matches_an_independent_computation(small_city, many_households, make_user):
    active, draft = open_draft()
    build_redrawn_city(active, draft)
    make_user("grid_worker", units=[NW2], username="worker-hole")
    make_user("grid_worker", units=[NW, E2], username="worker-kept")
    category = Category.objects.get(code="E0401")
    for point, status in (((116.39, 39.93), "reported"), ((116.39, 39.931), "closed"), ((116.383, 39.905), "reported")):
        incident = incident_create(
            scope=Scope.everything(),
            actor=None,
            title="测试",
            description="占道经营",
            category=category,
            location=Point(*point, srid=4326),
            source="patrol",
        )
        Incident.objects.filter(pk=incident.pk).update(status=status)

    impact = draft_impact(draft)

    placed, moved = expected_impact(draft)
    assert impact["households"] == len(moved) > 50
    assert impact["residents"] == Resident.objects.filter(household_id__in=moved).count() > 10
    features = impact["moved"]["features"]
    assert {f["properties"]["id"]: (f["properties"]["from"], f["properties"]["to"]) for f in features} == moved
    assert impact["moved"]["truncated"] is False
    assert impact["moved"]["type"] == "FeatureCollection"
    assert features[0]["type"] == "Feature" and features[0]["geometry"]["type"] == "Point"
    # The household on the moved edge belongs to both cells: the smaller code wins.
    on_edge = next(h for h in many_households if (h.location.x, h.location.y) == (116.396, 39.91))
    assert moved[on_edge.id] == (SW2, SW1)
    # The household on the split line stays in the cell with the smaller code.
    assert placed[next(h.id for h in many_households if (h.location.x, h.location.y) == (116.41, 39.935))] == (E2, E2)
    assert any(to == "" for _from, to in moved.values())  # the strip no cell covers any more
    assert impact["open_incidents"] == 1
    assert impact["bindings"] == [{"user": "worker-hole", "code": NW2}]

    units = {unit["code"]: unit for unit in impact["units"]}
    for code, unit in units.items():
        prefix = "1101" if code == "110100" else code
        assert unit["before"] == sum(before.startswith(prefix) for before, _after in placed.values()), code
        assert unit["after"] == sum(after.startswith(prefix) for _before, after in placed.values()), code
    assert {SW1, SW2, NW1, NW2, E1, E2, E3, SW, NW, EAST} <= set(units)
    assert units[NW2]["after"] == 0 and units[NW2]["level"] == "grid" and units[NW2]["name"] == "西北社区第2网格"
    assert units[E3]["before"] == 0 and units[E3]["after"] > 0
    assert units[EAST]["level"] == "community"
    # Households leaving every cell lower the counts all the way up.
    assert units["110100"]["after"] == units["110100"]["before"] - sum(to == "" for _f, to in moved.values())


def test_impact_within_a_scope_and_a_moved_limit(small_city, many_households, make_user):
    active, draft = open_draft()
    build_redrawn_city(active, draft)
    make_user("grid_worker", units=[NW2], username="worker-hole")
    east = Scope.build(user_id=None, view_codes=["110101002"])

    impact = draft_impact(draft, active=active, scope=east, moved_limit=3)

    _placed, moved = expected_impact(draft, prefixes=["110101002"])
    assert impact["households"] == len(moved) > 3
    assert len(impact["moved"]["features"]) == 3 and impact["moved"]["truncated"] is True
    assert {f["properties"]["id"] for f in impact["moved"]["features"]} == set(sorted(moved)[:3])
    assert impact["bindings"] == []
    assert impact["units"] and all(unit["code"].startswith("110101002") for unit in impact["units"])
    assert draft_impact(draft, scope=Scope.nothing())["households"] == 0


def test_an_unchanged_draft_moves_nothing(population):
    _active, draft = open_draft()
    assert draft_impact(draft) == {
        "households": 0,
        "residents": 0,
        "open_incidents": 0,
        "bindings": [],
        "units": [],
        "moved": {"type": "FeatureCollection", "features": [], "truncated": False},
    }
    assert changed_area(draft) is None


def test_changed_area_is_the_union_of_old_and_new_shapes(small_city):
    active, draft = open_draft()
    build_redrawn_city(active, draft)
    redraw(active, draft, SW, box(X0, Y0, XM, 39.919))  # a community too: in the area of all levels only
    changed = GridUnit.objects.filter(
        (valid_at_q(active) & ~valid_at_q(draft)) | (valid_at_q(draft) & ~valid_at_q(active))
    )
    cells = shapely.union_all([shape(u.geom) for u in changed if u.level == Level.GRID])
    area = changed_area(draft, active, level=Level.GRID)
    assert area.geom_type == "MultiPolygon" and area.srid == 4326
    assert same_shape(area, cells)
    assert same_shape(changed_area(draft), shapely.union_all([shape(u.geom) for u in changed]))
