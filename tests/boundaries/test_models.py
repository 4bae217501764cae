"""The rules the database holds for grid units: code formats, uniqueness per generation, parents."""

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.db import IntegrityError, connection, transaction

from boundaries.models import Generation, GridUnit, Level
from tests.conftest import box, make_unit


def immediate():
    """Fires the deferred constraint triggers now, as a commit would."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("110101", Level.CITY),  # a city code ends in 00
        ("110100", Level.DISTRICT),  # a district code never does
        ("11010100", Level.STREET),
        ("110101000", Level.STREET),  # street sequence starts at 001
        ("110101400", Level.STREET),  # and stops at 399
        ("110101001000", Level.COMMUNITY),
        ("1101010010010", Level.GRID),
        ("11010100100100a", Level.GRID),
        ("010101001001001", Level.GRID),
    ],
)
def test_code_format_is_enforced_by_the_database(generation, code, level):
    with pytest.raises(IntegrityError, match="gridunit_code_format"), transaction.atomic():
        make_unit(generation, code, "x", level, box(0, 0, 1, 1))


def test_code_is_unique_within_a_generation_but_not_across_generations(small_city, generation):
    with pytest.raises(IntegrityError, match="gridunit_code_unique_per_generation"), transaction.atomic():
        make_unit(generation, "110101001001001", "again", Level.GRID, box(0, 0, 1, 1))
    # Retired at the active generation, the code may appear again in history only as the same unit's
    # next version, from a later generation on.
    cell = small_city["110101001001001"]
    later = Generation.objects.create(description="draft")
    cell.generation_high = generation
    cell.save(update_fields=["generation_high"])
    make_unit(later, cell.code, cell.name, Level.GRID, box(116.38, 39.90, 116.39, 39.92))
    immediate()
    assert GridUnit.objects.filter(code=cell.code).count() == 2


def test_parent_code_follows_from_the_code(small_city):
    assert small_city["110100"].parent_code is None
    units = {u.code: u.parent_code for u in GridUnit.objects.all()}
    assert units["110101"] == "110100"
    assert units["110101001"] == "110101"
    assert units["110101001002"] == "110101001"
    assert units["110101001002002"] == "110101001002"


def test_a_unit_needs_its_parent(small_city, generation):
    make_unit(generation, "110101003", "无父街道", Level.STREET, box(116.38, 39.90, 116.39, 39.91))
    immediate()  # the street's parent 110101 exists
    make_unit(generation, "110101009001", "孤儿社区", Level.COMMUNITY, box(116.38, 39.90, 116.39, 39.91))
    with pytest.raises(IntegrityError, match="no parent 110101009"):
        immediate()


def test_a_parent_cannot_be_retired_while_its_children_live(small_city, generation):
    immediate()  # the fixture's own inserts are checked and out of the way
    community = small_city["110101001001"]
    community.generation_high = generation
    community.save(update_fields=["generation_high"])
    later = Generation.objects.create(description="draft")
    assert later.pk > generation.pk
    with pytest.raises(IntegrityError, match="still has child"):
        immediate()


def test_invalid_geometry_is_refused(generation):
    bowtie = Polygon(((0, 0), (1, 1), (1, 0), (0, 1), (0, 0)), srid=4326)
    with pytest.raises(IntegrityError, match="gridunit_geom_valid"), transaction.atomic():
        GridUnit.objects.create(
            code="110100", name="x", level=Level.CITY, geom=MultiPolygon(bowtie, srid=4326), generation_low=generation
        )


def test_area_and_label_point_are_computed_by_postgis(small_city):
    cell = GridUnit.objects.get(code="110101001001001")
    # 0.01° x 0.02° at latitude 39.91: about 853 m x 2,220 m.
    assert 1.85e6 < cell.area_m2 < 1.95e6
    assert cell.geom.contains(cell.label_point)
