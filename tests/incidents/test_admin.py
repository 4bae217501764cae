"""Administrators edit categories and routing rules; incidents and households are read in the admin."""

import pytest
from django.contrib.auth import get_user_model

from incidents.models import Category
from tests.conftest import WOMAN_1949

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("superroot", "root@example.org", "a-long-password-1"))
    return client


def test_categories_are_edited_as_data(admin_client):
    category = Category.objects.get(code="E0402")
    page = admin_client.get(f"/admin/incidents/category/{category.pk}/change/")
    assert page.status_code == 200
    assert admin_client.get("/admin/incidents/routingrule/").status_code == 200
    response = admin_client.post(
        f"/admin/incidents/category/{category.pk}/change/",
        {
            "code": "E0402",
            "name": "占道经营（修订）",
            "family": "event",
            "parent": category.parent_id,
            "accept_hours": 0.5,
            "dispatch_hours": 1,
            "resolve_hours": 12,
            "default_priority": "high",
            "default_department": category.default_department_id,
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content[:500]
    category.refresh_from_db()
    assert category.resolve_hours == 12 and category.default_priority == "high"


def test_incidents_and_households_are_read_only_and_masked(admin_client, report, population):
    incident = report(category="E0402")
    assert admin_client.get("/admin/incidents/incident/").status_code == 200
    detail = admin_client.get(f"/admin/incidents/incident/{incident.pk}/change/")
    assert detail.status_code == 200 and incident.number in detail.content.decode()
    page = admin_client.get(f"/admin/residents/household/{population['west'].pk}/change/").content.decode()
    assert "张桂英" in page and WOMAN_1949 not in page and "13812345678" not in page
