"""Seeds a database the live app of the fault tests serves: a small grid, a grid worker and a token."""

import json

from django.contrib.gis.geos import MultiPolygon, Polygon

from accounts.services import token_create, user_create
from boundaries.models import Generation, GridUnit, Level
from core.scope import Scope

# One community of two cells side by side: x 116.38-116.39 and 116.39-116.40, y 39.90-39.92.
CITY = (116.38, 39.90, 116.40, 39.92)
CELLS = {"110101001001001": (116.38, 39.90, 116.39, 39.92), "110101001001002": (116.39, 39.90, 116.40, 39.92)}
USERNAME = "worker-fault"


def _box(x0, y0, x1, y1) -> MultiPolygon:
    return MultiPolygon(Polygon(((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))), srid=4326)


def seed() -> dict:
    generation = Generation.objects.create(description="faults", active=True)
    units = [
        ("110100", Level.CITY, CITY),
        ("110101", Level.DISTRICT, CITY),
        ("110101001", Level.STREET, CITY),
        ("110101001001", Level.COMMUNITY, CITY),
        *((code, Level.GRID, bounds) for code, bounds in CELLS.items()),
    ]
    for code, level, bounds in units:
        GridUnit.objects.create(code=code, name=code, level=level, geom=_box(*bounds), generation_low=generation)
    worker = user_create(
        scope=Scope.everything(),
        username=USERNAME,
        password=None,
        roles=["grid_worker"],
        units=["110101001001"],
        validate_password=False,
    )
    _token, key = token_create(user=worker, name="faults")
    return {"token": key, "generation": generation.pk}


def main() -> None:
    """Run by the fault tests in a subprocess, with DATABASE_URL naming the database to seed."""
    print(json.dumps(seed()))
