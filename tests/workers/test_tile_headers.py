"""Tile answers a shared cache may honour: private, and kept by a proxy only under a URL naming the scope."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from accounts.selectors import scope_for_user
from tests.tiles.conftest import tile_of

pytestmark = pytest.mark.django_db


def tile_path(z: int = 14) -> str:
    x, y = tile_of(116.385, 39.905, z)
    return f"/tiles/units/{z}/{x}/{y}.mvt"


def test_tilejson_names_the_viewers_scope_in_the_tile_urls(client_for, small_city):
    west, east = client_for("viewer", ["110101001"]), client_for("viewer", ["110101002"])
    urls = [c.get("/tiles/units.json", {"level": "grid"}).json()["tiles"][0] for c in (west, east)]
    queries = [parse_qs(urlsplit(url).query) for url in urls]
    assert queries[0]["level"] == ["grid"]
    assert queries[0]["s"] == [scope_for_user(west.user).cache_key]
    assert queries[0]["s"] != queries[1]["s"]  # other units, other URLs
    assert "{z}/{x}/{y}.mvt?" in urls[0]


def test_a_tile_is_private_and_kept_by_a_proxy_only_under_its_viewers_scope(client_for, small_city, settings):
    settings.GEOGRID_TILE_MAX_AGE = 60
    west = client_for("viewer", ["110101001"])
    scope_key = scope_for_user(west.user).cache_key
    labelled = west.get(tile_path(), {"s": scope_key})
    assert labelled.status_code == 200
    assert labelled["Cache-Control"] == "private, max-age=60"
    assert {v.strip() for v in labelled["Vary"].split(",")} >= {"Authorization", "Cookie"}
    assert labelled["X-Accel-Expires"] == "60"
    # Without the label, or under another scope's (the viewer's units changed since the map loaded): not kept.
    assert west.get(tile_path())["X-Accel-Expires"] == "0"
    stale = west.get(tile_path(), {"s": "global"})
    assert stale["X-Accel-Expires"] == "0" and stale.content == labelled.content
    # The ETag differs between scopes, so a revalidation never hands one viewer another's tile.
    east = client_for("viewer", ["110101002"])
    assert east.get(tile_path(), {"s": scope_key})["ETag"] != labelled["ETag"]


def test_the_web_map_asks_for_tiles_under_the_viewers_scope(make_user, small_city):
    user = make_user("street_leader", ["110101001"], username="web-leader")
    client = Client()
    client.force_login(user)
    page = client.get("/map/")
    assert page.status_code == 200
    assert page.context["boot"]["tile_scope"] == scope_for_user(user).cache_key
