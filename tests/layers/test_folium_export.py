"""The folium export is one offline HTML page: Leaflet inlined, no external URL but the chosen basemap."""

import copy
import re
from pathlib import Path

import pytest

from layers.folium_export import layer_html, leaflet_dist_dir

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
]
URL = re.compile(r"https?://")
BASEMAP = "https://tiles.example.org/{z}/{x}/{y}.png"
ATTRIBUTION = '&copy; <a href="https://example.org/copyright">Example</a>'


def square(x0, y0, size=0.02):
    return [[[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]]


COLLECTION = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "东华门街道", "households": 1200, "fill": "#fc8d59"},
            "geometry": {"type": "Polygon", "coordinates": square(116.38, 39.90)},
        },
        {
            "type": "Feature",
            "properties": {"name": "景山街道", "households": 800, "fill": "#91bfdb"},
            "geometry": {"type": "Polygon", "coordinates": square(116.40, 39.90)},
        },
        {
            "type": "Feature",
            "properties": {"name": "占道经营 <b>", "fill": "#d73027"},
            "geometry": {"type": "Point", "coordinates": [116.41, 39.93]},
        },
    ],
}
LEGEND = [{"label": "多于 1000 户", "color": "#fc8d59"}, {"label": "< 1000 户", "color": "#91bfdb"}]
TOOLTIPS = [("name", "名称"), ("households", "户数")]


def render(**overrides):
    arguments = {
        "title": "东城区 <网格> 户数",
        "collection": COLLECTION,
        "legend": LEGEND,
        "tooltip_fields": TOOLTIPS,
        "note": "数据截至 2024 年",
    }
    return layer_html(**{**arguments, **overrides})


def test_no_external_url_without_basemap():
    page = render()
    assert not URL.search(page)
    assert not re.search(r"<script[^>]*\bsrc=|<link\b", page)


def test_leaflet_is_inlined():
    page = render()
    assert "Leaflet 1.9" in page  # leaflet.js banner
    assert ".leaflet-container" in page  # leaflet.css
    assert "L.map(" in page
    assert "jquery" not in page.lower() and "bootstrap" not in page.lower()


def test_utf8_title_and_legend_escaped():
    page = render()
    assert page.index('<meta charset="utf-8">') < page.index("<title>")
    assert "<title>东城区 &lt;网格&gt; 户数</title>" in page
    assert "<h4>东城区 &lt;网格&gt; 户数</h4>" in page
    assert "多于 1000 户" in page and "&lt; 1000 户" in page and "数据截至 2024 年" in page
    assert "<网格>" not in page and "< 1000 户" not in page


def test_tooltip_values_are_escaped():
    page = render()
    # Tooltips are built with innerHTML, so a name holding markup must arrive as text.
    assert "<b>" not in page


def test_coordinates_are_embedded():
    page = render()
    for x, y in [(116.38, 39.9), (116.4, 39.92), (116.42, 39.92), (116.41, 39.93)]:
        assert f"[{x}, {y}]" in page
    # The map frames the features rather than a default view.
    assert "fitBounds" in page and "[[39.9, 116.38], [39.93, 116.42]]" in page


def test_with_basemap_only_the_basemap_is_external():
    page = render(basemap_url=BASEMAP, basemap_attribution=ATTRIBUTION)
    assert BASEMAP in page
    assert set(re.findall(r"https?://[^\s\"'<>\\)]+", page)) == {BASEMAP, "https://example.org/copyright"}


def test_basemap_needs_attribution():
    with pytest.raises(ValueError, match="attribution"):
        render(basemap_url=BASEMAP)


def test_empty_collection_renders():
    page = render(collection={"type": "FeatureCollection", "features": []}, legend=[])
    assert "L.map(" in page and "[39.91, 116.4]" in page
    assert not URL.search(page)


def test_input_is_not_modified():
    before = copy.deepcopy(COLLECTION)
    render()
    assert before == COLLECTION


def test_bad_colour_is_replaced():
    feature = {**COLLECTION["features"][0], "properties": {"name": "x", "fill": "red;}</style><script>"}}
    page = render(
        collection={"type": "FeatureCollection", "features": [feature]}, legend=[{"label": "x", "color": "x"}]
    )
    assert "</style><script>" not in page and "#999999" in page


def test_assets_found_in_vendor_dir(settings, tmp_path):
    vendor = tmp_path / "var" / "vendor" / "leaflet"
    vendor.mkdir(parents=True)
    (vendor / "leaflet.js").write_text("/* Leaflet */")
    (vendor / "leaflet.css").write_text("")
    settings.BASE_DIR = tmp_path
    assert leaflet_dist_dir() == vendor


def test_missing_assets_say_how_to_fix(settings, tmp_path):
    settings.BASE_DIR = tmp_path
    with pytest.raises(RuntimeError, match="make assets"):
        render()


@pytest.mark.e2e
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed (apt-get install chromium)")
def test_opens_offline_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "map.html"
    page_file.write_text(render(), encoding="utf-8")
    errors, blocked = [], []

    def only_local(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            page.route("**/*", only_local)
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(page_file.as_uri(), wait_until="load")
            page.wait_for_selector(".leaflet-overlay-pane svg path")

            assert page.evaluate("typeof window.L") == "object"
            paths = page.locator(".leaflet-overlay-pane svg path")
            assert paths.count() >= len(COLLECTION["features"])
            fills = {paths.nth(i).get_attribute("fill") for i in range(paths.count())}
            assert {"#fc8d59", "#91bfdb", "#d73027"} <= fills
            assert page.locator(".geogrid-legend").is_visible()

            paths.first.hover()
            tooltip = page.locator(".leaflet-tooltip")
            tooltip.wait_for()
            assert "东华门街道" in tooltip.inner_text()
            # Markup in a property shows as text, not as an element.
            paths.last.hover()
            page.wait_for_function("document.querySelector('.leaflet-tooltip').innerText.includes('占道经营')")
            assert "占道经营 <b>" in tooltip.inner_text()
            paths.first.hover()

            # A fixed path so the picture can be looked at after the run.
            page.screenshot(path="/tmp/folium_export.png")  # noqa: S108
        finally:
            browser.close()

    assert errors == []
    assert blocked == []
