"""Households and residents of the small city, created through the services."""

import datetime as dt

import pytest
from django.contrib.gis.geos import Point

from core.scope import Scope
from residents.services import household_create, resident_create

# Computed with the GB 11643 check digit: a woman born 1949-12-31 and a man born 1880-01-01 are the
# standard's examples; the others are built the same way in tests/residents/test_import.py.
WOMAN_1949 = "11010519491231002X"
MAN_1880 = "440524188001010014"


@pytest.fixture
def population(small_city):
    """Two households in the west street (one with three residents), one in the east street."""
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
