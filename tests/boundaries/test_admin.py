"""The admin shows grid units with their boundary on a map served by the project."""

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.org", "a-long-password-1")
    client.force_login(user)
    return client


def test_grid_unit_change_page_has_a_local_map_widget(admin_client, small_city):
    unit = small_city["110101001002001"]
    response = admin_client.get(f"/admin/boundaries/gridunit/{unit.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "vendor/ol/ol.js" in html and "OLMapWidget.js" in html
    assert "cdn." not in html and "openstreetmap" not in html.lower()
    assert "MultiPolygon" in html  # the boundary, serialised for the widget


def test_grid_unit_list_and_search(admin_client, small_city):
    response = admin_client.get("/admin/boundaries/gridunit/", {"q": "西北社区"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "110101001002001" in html and "110101002001001" not in html


def test_boundaries_are_not_edited_in_place(admin_client, small_city):
    unit = small_city["110101001001001"]
    response = admin_client.post(
        f"/admin/boundaries/gridunit/{unit.pk}/change/",
        {"name": "改名网格", "geom": '{"type": "MultiPolygon", "coordinates": [[[[0,0],[1,0],[1,1],[0,0]]]]}'},
    )
    assert response.status_code == 302
    unit.refresh_from_db()
    assert unit.name == "改名网格"
    assert unit.geom.extent[0] == pytest.approx(116.38)  # the posted geometry was ignored
    assert admin_client.get("/admin/boundaries/gridunit/add/").status_code == 403
