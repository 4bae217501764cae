"""Staff of the small city and a helper to report incidents through the service."""

import datetime as dt

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from accounts.models import Department
from accounts.selectors import scope_for_user
from incidents.models import Category
from incidents.services import incident_create

WEST_CELL = Point(116.385, 39.905, srid=4326)  # cell 110101001001001
EAST_CELL = Point(116.41, 39.905, srid=4326)  # cell 110101002001001


@pytest.fixture
def staff(small_city, make_user):
    urban = Department.objects.get(code="urban-management")
    return {
        "dispatcher": make_user("dispatcher", units=["110101001"], username="dispatcher-w"),
        "east_dispatcher": make_user("dispatcher", units=["110101002"], username="dispatcher-e"),
        "district_dispatcher": make_user("dispatcher", units=["110101"], username="dispatcher-d"),
        "worker": make_user("grid_worker", units=["110101001001"], username="worker-w"),
        "department": make_user("department_staff", units=["110101"], username="urban", department=urban),
        "leader": make_user("street_leader", units=["110101001"], username="leader-w"),
        "viewer": make_user("viewer", units=["110101001"], username="viewer-w"),
        "admin": make_user("system_admin", units=["110100"], username="root"),
    }


@pytest.fixture
def report(staff):
    """report(point=..., category=..., by=...) -> an incident reported through the service."""

    def make(point=WEST_CELL, category="E0401", by="worker", source="patrol", at=None, **extra):
        user = staff[by]
        return incident_create(
            scope=scope_for_user(user),
            actor=user,
            title=extra.pop("title", "测试事件"),
            description=extra.pop("description", "路边有人占道经营。"),
            category=Category.objects.get(code=category),
            location=point,
            source=source,
            reported_at=at or timezone.now() - dt.timedelta(minutes=5),
            **extra,
        )

    return make
