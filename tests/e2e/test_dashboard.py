"""The leaders' dashboard in Chromium: landing per role, scope on the map, drill-down, layers, legend, language."""

from urllib.parse import urlparse

import pytest

from tests.e2e.conftest import rendered, shot, wait_for_map

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wait_for_unit(page, code: str):
    """Waits until the dashboard has selected `code`, drawn its panel and finished loading tiles."""
    page.wait_for_function("code => window.geogridDashboard && window.geogridDashboard.state.ready === code", arg=code)
    wait_for_map(page)


def click_lnglat(page, lon: float, lat: float):
    """Clicks the map where a point is drawn."""
    x, y = page.evaluate(
        "([lon, lat]) => { const p = window.geogridMap.project([lon, lat]); return [p.x, p.y]; }", [lon, lat]
    )
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)


LANDING = {
    "city_leader": "/map/",
    "street_leader": "/map/",
    "community_leader": "/map/",
    "planner": "/plan/",
    "viewer": "/map/",
    "dispatcher": "/dispatch/",
    "department_staff": "/dispatch/",
    "grid_worker": "/field/",
}


def test_each_role_lands_on_its_page(e2e_city, open_page):
    for username, landing in LANDING.items():
        page = open_page(username)
        assert urlparse(page.url).path == landing, username
        who = page.locator("[data-testid=who]").inner_text()
        assert f"{username} 测试" in who
        shot(page, f"landing-{username}")
        assert page.js_errors == [], username
        page.context.close()


def test_a_leader_sees_only_the_jurisdiction(e2e_city, open_page):
    page = open_page("street_leader")
    wait_for_unit(page, "110101001")
    assert "西街道" in page.locator("[data-testid=jurisdiction]").inner_text()
    codes = set(rendered(page, "units-line", "code"))
    # The west street's two communities are drawn; nothing of the east street.
    assert codes == {"110101001001", "110101001002"}
    parents = set(rendered(page, "units-line", "parent_code"))
    assert parents == {"110101001"}
    assert page.locator("[data-testid=unit-title]").inner_text() == "西街道"
    # The east street's incident is not in the list of open incidents; the three west ones are.
    titles = page.locator("[data-testid=open-incidents]").inner_text()
    assert "东街堆物" not in titles and "占道经营" in titles
    shot(page, "dashboard-street-leader")
    assert page.js_errors == []


def test_a_community_leader_cannot_reach_another_community(e2e_city, open_page):
    page = open_page("community_leader")
    wait_for_unit(page, "110101001001")
    assert set(rendered(page, "units-line", "code")) == {"110101001001001", "110101001001002"}
    # Asking the API for a unit outside the jurisdiction from the page answers 404.
    status = page.evaluate("() => fetch('/api/v1/units/110101002001/').then(r => r.status)")
    assert status == 404


def test_drill_down_twice_and_back_up(e2e_city, open_page):
    page = open_page("city_leader")
    wait_for_unit(page, "110100")
    assert set(rendered(page, "units-line", "code")) == {"110101"}
    click_lnglat(page, 116.39, 39.91)  # inside the district
    wait_for_unit(page, "110101")
    assert set(rendered(page, "units-line", "code")) == {"110101001", "110101002"}
    click_lnglat(page, 116.41, 39.93)  # inside the east street
    wait_for_unit(page, "110101002")
    assert set(rendered(page, "units-line", "code")) == {"110101002001"}
    crumbs = page.locator("[data-testid=breadcrumbs]").inner_text()
    assert "测试市" in crumbs and "测试区" in crumbs and "东街道" in crumbs
    shot(page, "dashboard-drilled-down")
    page.locator("[data-testid=breadcrumbs] button", has_text="测试区").click()
    wait_for_unit(page, "110101")
    assert set(rendered(page, "units-line", "code")) == {"110101001", "110101002"}
    assert page.js_errors == []


def test_switching_a_layer_changes_the_map_and_the_legend(e2e_city, open_page):
    page = open_page("city_leader", "/map/")
    wait_for_unit(page, "110100")
    legend = page.locator("[data-testid=legend-title]")
    page.wait_for_function("() => document.querySelector('[data-testid=legend-title]')")
    first = legend.inner_text()
    assert set(rendered(page, "overlay-fill", "code")) == {"110101"}  # the choropleth of the district

    page.select_option("[data-testid=layer-switcher]", "incident_hexagons")
    page.wait_for_function("t => document.querySelector('[data-testid=legend-title]').innerText !== t", arg=first)
    wait_for_map(page)
    hexagons = rendered(page, "overlay-fill")
    assert hexagons and sum(h["count"] for h in {h["h3"]: h for h in hexagons}.values()) == 4
    assert page.locator("[data-testid=legend-row]").count() >= 1
    shot(page, "dashboard-hexagons")

    page.select_option("[data-testid=layer-switcher]", "incidents")
    page.wait_for_function("() => window.geogridMap.getLayer('overlay-cluster')")
    page.evaluate("() => window.geogridMap.jumpTo({center: [116.40, 39.915], zoom: 14})")
    wait_for_map(page)
    titles = {f["number"] for f in rendered(page, "overlay-points")}
    assert titles == {incident.number for incident in e2e_city["incidents"]}
    assert page.js_errors == []


def test_wall_screen_shows_large_figures(e2e_city, open_page):
    page = open_page("city_leader", "/map/?wall=1", width=1920, height=1080)
    wait_for_unit(page, "110100")
    assert page.locator("body.wall").count() == 1
    assert not page.locator("header.topbar").is_visible()
    households = page.locator("[data-testid=kpi-card][data-key=households] .value").inner_text()
    assert households == "3"
    shot(page, "dashboard-wall")


def test_phone_layout_and_language(e2e_city, open_page):
    page = open_page("street_leader", "/map/", width=375, height=812, locale="zh-CN")
    wait_for_unit(page, "110101001")
    # The browser asks for Chinese: the page is in Simplified Chinese.
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert "退出登录" in page.locator("header").inner_text()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
    shot(page, "dashboard-phone-zh")
    page.locator("form.lang button[value=en]").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Sign out" in page.locator("header").inner_text()


def test_an_unreachable_base_map_leaves_the_grid_on_a_plain_background(e2e_city, open_page, settings):
    settings.GEOGRID_BASEMAP_URL = "http://127.0.0.1:9/{z}/{x}/{y}.png"  # nothing listens on port 9
    settings.GEOGRID_BASEMAP_ATTRIBUTION = "测试底图"
    page = open_page("street_leader")
    wait_for_unit(page, "110101001")
    page.wait_for_function("() => window.geogridMap.getLayoutProperty('basemap', 'visibility') === 'none'")
    assert set(rendered(page, "units-line", "code")) == {"110101001001", "110101001002"}
    assert "测试底图" in page.locator(".maplibregl-ctrl-attrib").inner_text()
    shot(page, "dashboard-no-basemap")
