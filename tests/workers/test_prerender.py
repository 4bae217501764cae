"""Tiles built ahead: answered from the cache without a query, equal to a fresh build, and only for their own scope."""

import pytest
from django.core.management import call_command
from django.http import QueryDict

from accounts.selectors import scope_for_user
from assessment.services import kpi_refresh
from layers.registry import get_layer
from tests.tiles.conftest import covering, decode, tile_of
from tiles.prerender import common_viewers, covering_tiles

pytestmark = pytest.mark.django_db


def fresh(user, layer: str, z: int, x: int, y: int) -> bytes:
    """The tile as the layer builds it, without any cache."""
    layer_class = get_layer(layer)
    return layer_class(scope_for_user(user), layer_class.parse_params(QueryDict(""))).tile(z, x, y)


def test_the_common_viewers_are_everyone_the_city_and_each_district(small_city):
    viewers = common_viewers()
    assert [viewer.label for viewer in viewers] == ["all", "110100", "110101"]
    assert viewers[0].bounds == pytest.approx((116.38, 39.90, 116.42, 39.94))
    assert sorted(covering_tiles(viewers[0].bounds, 14)) == sorted(covering(14))
    assert [viewer.label for viewer in common_viewers(unit="110101001")] == ["110101001"]


def test_a_prerendered_tile_is_answered_from_the_cache_without_a_query(
    city_api, client_for, django_assert_num_queries, capsys
):
    call_command("prerender_tiles", "--layer", "units", "--max-zoom", "12")
    assert "units:" in capsys.readouterr().out
    city_api.get("/tiles/units/13/0/0.mvt")  # the caller's token and scope are cached by a first request

    for z in (9, 12):
        x, y = tile_of(116.385, 39.905, z)
        with django_assert_num_queries(0):
            response = city_api.get(f"/tiles/units/{z}/{x}/{y}.mvt")
        assert response.status_code == 200
        assert response.content == fresh(city_api.user, "units", z, x, y)

    # Beyond --max-zoom, the tile is built on request.
    x, y = tile_of(116.385, 39.905, 13)
    with django_assert_num_queries(1):
        assert city_api.get(f"/tiles/units/13/{x}/{y}.mvt").status_code == 200


def test_prerendered_tiles_are_never_served_to_another_scope(small_city, client_for, django_assert_max_num_queries):
    call_command("prerender_tiles", "--layer", "units", "--max-zoom", "11", verbosity=0)
    district, west = client_for("viewer", ["110101"]), client_for("viewer", ["110101001"])
    for client in (district, west):
        client.get("/tiles/units/13/0/0.mvt")
    x, y = tile_of(116.385, 39.905, 11)
    with django_assert_max_num_queries(0):
        response = district.get(f"/tiles/units/11/{x}/{y}.mvt")
    assert response.status_code == 200 and response.content == fresh(district.user, "units", 11, x, y)
    # A street's viewer sees the same tile URL, but not the district's tile: theirs is built for them.
    with django_assert_max_num_queries(5) as captured:
        response = west.get(f"/tiles/units/11/{x}/{y}.mvt")
    assert any("ST_AsMVT" in query["sql"] for query in captured.captured_queries)
    assert {f["properties"]["code"] for f in decode(response.content)["units"]["features"]} == {"110101001"}
    # Built ahead for the street's viewers when asked to.
    call_command("prerender_tiles", "--layer", "units", "--max-zoom", "10", "--unit", "110101001", verbosity=0)
    x, y = tile_of(116.385, 39.905, 10)
    with django_assert_max_num_queries(0):
        response = west.get(f"/tiles/units/10/{x}/{y}.mvt")
    assert response.status_code == 200 and response.content == fresh(west.user, "units", 10, x, y)


def test_a_kpi_refresh_builds_the_choropleth_ahead_when_configured(
    population, city_api, settings, django_capture_on_commit_callbacks, django_assert_num_queries
):
    settings.GEOGRID_PRERENDER_MAX_ZOOM = 10
    settings.GEOGRID_PRERENDER_LAYERS = ["choropleth", "units"]
    with django_capture_on_commit_callbacks(execute=True):
        kpi_refresh()
    city_api.get("/tiles/choropleth/13/0/0.mvt")
    x, y = tile_of(116.385, 39.905, 10)
    with django_assert_num_queries(0):
        response = city_api.get(f"/tiles/choropleth/10/{x}/{y}.mvt")
    assert response.status_code == 200
    assert response.content == fresh(city_api.user, "choropleth", 10, x, y)


def test_a_committed_household_import_builds_the_households_ahead_when_configured(
    population, city_api, settings, tmp_path, django_capture_on_commit_callbacks, django_assert_num_queries
):
    from core.scope import Scope
    from residents.importing import household_import, import_options
    from tests.residents.test_import import GOOD_ROWS, write_csv

    def households_in(tile: bytes) -> int:
        return sum(f["properties"]["count"] for f in decode(tile).get("household_clusters", {}).get("features", []))

    settings.GEOGRID_PRERENDER_MAX_ZOOM = 10
    settings.GEOGRID_PRERENDER_LAYERS = ["households"]
    x, y = tile_of(116.41, 39.93, 10)  # where the imported household lies
    before = households_in(fresh(city_api.user, "households", 10, x, y))
    path = write_csv(tmp_path / "h.csv", [GOOD_ROWS[2]])
    # A dry run changes nothing, so nothing is built.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        household_import(path=path, options=import_options(), scope=Scope.everything())
    assert callbacks == []
    with django_capture_on_commit_callbacks(execute=True):
        report = household_import(path=path, options=import_options(commit=True), scope=Scope.everything())
    assert report.committed
    city_api.get("/tiles/households/13/0/0.mvt")  # the token and the scope, read once and cached
    with django_assert_num_queries(0):
        response = city_api.get(f"/tiles/households/10/{x}/{y}.mvt")
    assert response.status_code == 200
    assert response.content == fresh(city_api.user, "households", 10, x, y)
    assert households_in(response.content) == before + 1
