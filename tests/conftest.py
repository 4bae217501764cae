"""Fixtures shared by every test: a small, hand-drawn city whose geometry is known exactly."""

import datetime as dt
import importlib

import pytest
from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from rest_framework.test import APIClient

from accounts.services import token_create, user_create
from boundaries.models import Generation, GridUnit, Level
from core.scope import Scope
from residents.services import household_create, resident_create

# The small city: a 0.04° square at (116.38, 39.90). Two streets split it west / east at x = 116.40;
# each street has two communities split north / south at y = 39.92; each community has grid cells.
X0, Y0, X1, Y1, XM, YM = 116.38, 39.90, 116.42, 39.94, 116.40, 39.92


def box(x0, y0, x1, y1, holes=()) -> Polygon:
    return Polygon(((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)), *holes, srid=4326)


def multi(*polygons) -> MultiPolygon:
    return MultiPolygon(*polygons, srid=4326)


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with an empty cache (scopes, throttles, tiles)."""
    from django.core.cache import cache

    cache.clear()


def _transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])):
        return True
    return "transactional_db" in request.fixturenames or "live_server" in request.fixturenames


@pytest.fixture(autouse=True)
def seeded_rows(request):
    """
    Transactional tests (threads, the browser's live server) leave an emptied database behind them,
    without the rows the migrations seed: put those back (categories, departments, tags, schemes).
    """
    if not _transactional(request):
        return
    request.getfixturevalue("transactional_db")
    from django.apps import apps

    from incidents.models import Category

    if Category.objects.exists():
        return
    for module, function in (
        ("accounts.migrations.0002_departments_and_append_only_audit", "add_departments"),
        ("incidents.migrations.0002_catalog_and_case_numbers", "load_catalog"),
        ("residents.migrations.0002_tags_and_functions", "add_tags"),
        ("assessment.migrations.0002_demo_schemes", "add_schemes"),
    ):
        getattr(importlib.import_module(module), function)(apps, None)


@pytest.fixture
def generation(db):
    return Generation.objects.create(description="test", active=True)


def make_unit(generation, code, name, level, geom, **extra):
    if isinstance(geom, Polygon):
        geom = multi(geom)
    return GridUnit.objects.create(code=code, name=name, level=level, geom=geom, generation_low=generation, **extra)


@pytest.fixture
def small_city(generation):
    """
    City 110100 > district 110101 > streets 110101001 (west of x=116.40) and 110101002 (east).

    West street: community 110101001001 (south) with grids 001 (west half) and 002 (east half);
    community 110101001002 (north) whose grid 001 is a ring around a hole that grid 002 fills.
    East street: community 110101002001 with grids 001 (south) and 002 (north); grid 001 has a
    hole that is an island of grid 002.
    """
    return build_small_city(generation)


def build_small_city(generation) -> dict:
    """The units of the small_city fixture, for fixtures of a wider scope."""
    units = {}

    def add(code, name, level, geom):
        units[code] = make_unit(generation, code, name, level, geom)

    whole = box(X0, Y0, X1, Y1)
    add("110100", "测试市", Level.CITY, whole)
    add("110101", "测试区", Level.DISTRICT, whole)
    add("110101001", "西街道", Level.STREET, box(X0, Y0, XM, Y1))
    add("110101002", "东街道", Level.STREET, box(XM, Y0, X1, Y1))
    # West street, south community: two cells side by side.
    add("110101001001", "西南社区", Level.COMMUNITY, box(X0, Y0, XM, YM))
    add("110101001001001", "西南社区第1网格", Level.GRID, box(X0, Y0, 116.39, YM))
    add("110101001001002", "西南社区第2网格", Level.GRID, box(116.39, Y0, XM, YM))
    # West street, north community: cell 001 is a ring around cell 002 (a hole filled by 002).
    add("110101001002", "西北社区", Level.COMMUNITY, box(X0, YM, XM, Y1))
    hole = ((116.385, 39.925), (116.395, 39.925), (116.395, 39.935), (116.385, 39.935), (116.385, 39.925))
    add("110101001002001", "西北社区第1网格", Level.GRID, box(X0, YM, XM, Y1, holes=[hole]))
    add("110101001002002", "西北社区第2网格", Level.GRID, box(116.385, 39.925, 116.395, 39.935))
    # East street: one community; cell 002 (north) also has an island cut out of cell 001 (south).
    add("110101002001", "东社区", Level.COMMUNITY, box(XM, Y0, X1, Y1))
    island = ((116.401, 39.901), (116.403, 39.901), (116.403, 39.903), (116.401, 39.903), (116.401, 39.901))
    add("110101002001001", "东社区第1网格", Level.GRID, box(XM, Y0, X1, YM, holes=[island]))
    add(
        "110101002001002",
        "东社区第2网格",
        Level.GRID,
        multi(box(XM, YM, X1, Y1), box(116.401, 39.901, 116.403, 39.903)),
    )
    return units


@pytest.fixture
def api_client():
    """A client that has not signed in."""
    return APIClient()


@pytest.fixture
def make_user(db):
    """make_user(role, units, **fields): a user created through the service, as an administrator would."""
    counter = iter(range(1, 10_000))

    def make(role="viewer", units=("110100",), username=None, **fields):
        return user_create(
            scope=Scope.everything(),
            username=username or f"{role}-{next(counter)}",
            password=fields.pop("password", None),
            roles=[role] if isinstance(role, str) else role,
            units=units,
            validate_password=False,
            **fields,
        )

    return make


def client_of(user) -> APIClient:
    """An API client sending a real token of `user`."""
    client = APIClient()
    _token, key = token_create(user=user, name="test")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.user = user
    return client


@pytest.fixture
def client_for(make_user):
    """client_for(role, units): an API client signed in with a token of a new user of that role."""

    def make(role="viewer", units=("110100",), **fields):
        return client_of(make_user(role, units, **fields))

    return make


@pytest.fixture
def admin_api(small_city, client_for):
    """A system administrator's API client."""
    return client_for("system_admin", ["110100"])


@pytest.fixture
def city_api(small_city, client_for):
    """A city leader's API client: the whole small city in view."""
    return client_for("city_leader", ["110100"])


# Computed with the GB 11643 check digit: a woman born 1949-12-31 and a man born 1880-01-01 are the
# standard's examples; the others are built the same way in tests/residents/test_import.py.
WOMAN_1949 = "11010519491231002X"
MAN_1880 = "440524188001010014"


@pytest.fixture
def population(small_city):
    """Two households in the west street (one with three residents), one in the east street."""
    return build_population()


def build_population() -> dict:
    """The households of the population fixture (on the small city), for fixtures of a wider scope."""
    everything = Scope.everything()
    west = household_create(
        scope=everything,
        location=Point(116.385, 39.905, srid=4326),
        address="西南路1号院1号楼101",
        ref="H001",
        housing_type="owned",
        source="public_security",
        tags=["rented_out"],
    )
    resident_create(
        scope=everything,
        household=west,
        name="张桂英",
        id_number=WOMAN_1949,
        phone="13812345678",
        relation="head",
        residence_status="registered",
        tags=["elderly_alone"],
    )
    resident_create(
        scope=everything,
        household=west,
        name="李明",
        relation="child",
        gender="male",
        birth_date=dt.date(1985, 5, 1),
        residence_status="floating",
        phone="13900001111",
    )
    resident_create(
        scope=everything,
        household=west,
        name="李小红",
        relation="grandchild",
        gender="female",
        birth_date=dt.date(2015, 3, 1),
        tags=["left_behind_child"],
    )
    west2 = household_create(
        scope=everything,
        location=Point(116.395, 39.915, srid=4326),
        address="西南路2号",
        ref="H002",
        housing_type="rented",
    )
    resident_create(scope=everything, household=west2, name="王强", id_number=MAN_1880, relation="head")
    east = household_create(
        scope=everything,
        location=Point(116.41, 39.93, srid=4326),
        address="东大街8号",
        ref="H003",
        housing_type="owned",
    )
    resident_create(
        scope=everything,
        household=east,
        name="赵敏",
        relation="head",
        gender="female",
        birth_date=dt.date(1990, 1, 1),
        phone="13700002222",
    )
    return {"west": west, "west2": west2, "east": east}
