"""The planners' page in Chromium: a draft, a split drawn with the mouse, the check, the impact and activation."""

from urllib.parse import urlparse

import pytest

from residents.models import Household
from tests.e2e.conftest import rendered, shot, wait_for_map

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CELL = "110101001001001"  # 116.38..116.39 x 39.90..39.92, household H001 at (116.385, 39.905)
NEW_CELL = "110101001001003"


def wait_for_plan(page):
    page.wait_for_function("() => window.geogridPlan && window.geogridPlan.state.ready === true")
    wait_for_map(page)


def pixels(page, lon: float, lat: float) -> tuple[float, float]:
    """Where a point is drawn on the page."""
    x, y = page.evaluate(
        "([lon, lat]) => { const p = window.geogridMap.project([lon, lat]); return [p.x, p.y]; }", [lon, lat]
    )
    box = page.locator("#map").bounding_box()
    return box["x"] + x, box["y"] + y


def click_map(page, lon: float, lat: float):
    """Moves the mouse to a point of the map and clicks there, as a person would."""
    x, y = pixels(page, lon, lat)
    page.mouse.move(x, y, steps=4)
    page.mouse.click(x, y)


def selected_codes(page) -> list[str]:
    return page.evaluate(
        "() => window.geogridPlan.state.selection.map(f => f.properties.code || f.id)",
    )


def test_a_planner_lands_on_the_plan_and_sees_the_active_grid(e2e_city, open_page):
    page = open_page("planner")
    assert urlparse(page.url).path == "/plan/"
    wait_for_plan(page)
    assert page.locator("nav.pages a[aria-current=page]").inner_text() == "Boundaries"
    assert CELL in set(rendered(page, "plan-fill", "code"))
    # Only the planner's district is drawn, and no draft is open yet.
    assert all(code.startswith("110101") for code in rendered(page, "plan-fill", "code"))
    assert page.locator("[data-testid=open-draft]").is_visible()
    assert not page.locator("[data-testid=draft]").is_visible()
    shot(page, "plan-start")
    assert page.js_errors == []


def test_a_planner_splits_a_grid_cell_checks_and_activates(e2e_city, open_page):
    page = open_page("planner", "/plan/")
    wait_for_plan(page)

    page.fill("[data-testid=draft-description]", "拆分西南社区第1网格")
    page.click("[data-testid=open-draft-button]")
    page.wait_for_selector("[data-testid=draft]:not([hidden])")
    assert "拆分西南社区第1网格" in page.locator("[data-testid=draft-title]").inner_text()
    page.evaluate("() => window.geogridMap.jumpTo({center: [116.387, 39.91], zoom: 15})")
    wait_for_map(page)

    click_map(page, 116.385, 39.915)
    page.wait_for_function("code => window.geogridPlan.state.selection.length === 1", arg=CELL)
    assert selected_codes(page) == [CELL]
    assert CELL in page.locator("[data-testid=unit-info]").inner_text()

    # A line across the cell south of its middle: the northern part keeps the code, the southern part
    # (with household H001) becomes a new cell. Clicking the last point again finishes the line.
    page.click("[data-tool=split]")
    assert "across the unit" in page.locator("[data-testid=tool-hint]").inner_text()
    click_map(page, 116.3775, 39.908)
    click_map(page, 116.3925, 39.908)
    shot(page, "plan-split-drawing")
    click_map(page, 116.3925, 39.908)
    page.wait_for_selector("[data-testid=edits] li[data-operation=split]")
    wait_for_map(page)
    assert NEW_CELL in page.locator("[data-testid=edits]").inner_text()
    codes = set(rendered(page, "plan-fill", "code"))
    assert {CELL, NEW_CELL} <= codes
    assert sorted(selected_codes(page)) == [CELL, NEW_CELL]
    shot(page, "plan-split")

    page.click("[data-testid=check]")
    page.wait_for_selector("[data-testid=check-summary]")
    assert page.locator("[data-testid=problems] li[data-severity=error]").count() == 0
    shot(page, "plan-check")

    page.click("[data-testid=impact]")
    page.wait_for_selector("[data-testid=impact-units]")
    assert page.locator("[data-key=households] .value").inner_text() == "1"
    assert page.locator(f"[data-testid=impact-units] tr[data-code='{NEW_CELL}']").count() == 1
    wait_for_map(page)
    assert len(rendered(page, "moved-points")) == 1
    shot(page, "plan-impact")

    page.click("[data-testid=activate]")
    page.wait_for_selector("[data-testid=activated], [data-testid=activate-refused]")
    if page.locator("[data-testid=activate-refused]").count():
        # Warnings (a cell holding too few households) need an explicit confirmation; errors would not.
        assert page.locator("[data-testid=confirm-warnings]").count() == 1
        assert page.locator("[data-testid=activate-confirmed]").is_disabled()
        shot(page, "plan-activate-warnings")
        page.check("[data-testid=confirm-warnings]")
        page.click("[data-testid=activate-confirmed]")
        page.wait_for_selector("[data-testid=activated]")
    assert "1 household moved" in page.locator("[data-testid=activated]").inner_text()
    wait_for_plan(page)
    shot(page, "plan-activated")

    generations = page.evaluate("() => fetch('/api/v1/generations/').then(r => r.json())")["results"]
    described = next(g for g in generations if g["description"] == "拆分西南社区第1网格")
    assert described["state"] == "active"
    assert [g["state"] for g in generations].count("active") == 1
    # Through the API the planner's page uses, and in the database: H001 is in the new cell now.
    listed = page.evaluate(f"() => fetch('/api/v1/households/?under={NEW_CELL}').then(r => r.json())")
    assert [row["grid_code"] for row in listed["results"]] == [NEW_CELL]
    assert Household.objects.get(ref="H001").grid_code == NEW_CELL
    assert Household.objects.get(ref="H002").grid_code == "110101001001002"
    # The page now shows the new active grid with both cells, and no draft.
    assert {CELL, NEW_CELL} <= set(rendered(page, "plan-fill", "code"))
    assert page.locator("[data-testid=open-draft]").is_visible()
    assert page.js_errors == []


def drag_map(page, start: tuple[float, float], end: tuple[float, float]):
    """Presses the mouse at one point of the map, moves it to another and lets go."""
    x0, y0 = pixels(page, *start)
    x1, y1 = pixels(page, *end)
    page.mouse.move(x0, y0, steps=4)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=12)
    page.mouse.up()


def wait_for_edits(page, count: int):
    page.wait_for_function("n => document.querySelectorAll('[data-testid=edits] li').length === n", arg=count)
    wait_for_map(page)


def draft_unit(page, draft_id: int, code: str) -> dict:
    return page.evaluate(
        "([id, code]) => fetch(`/api/v1/units/${code}/?generation=${id}`).then(r => r.json())", [draft_id, code]
    )


def test_reshape_merge_retire_create_undo_compare_and_discard(e2e_city, open_page):
    page = open_page("planner", "/plan/")
    wait_for_plan(page)
    page.fill("[data-testid=draft-description]", "边界调整")
    page.click("[data-testid=open-draft-button]")
    page.wait_for_selector("[data-testid=draft]:not([hidden])")
    draft_id = page.evaluate("() => window.geogridPlan.state.draft.id")
    page.evaluate("() => window.geogridMap.jumpTo({center: [116.39, 39.91], zoom: 14})")
    wait_for_map(page)
    east = "110101001001002"  # 116.39..116.40 x 39.90..39.92, east of CELL

    # A split line that stays inside the cell is refused with the reason, and nothing is recorded.
    click_map(page, 116.385, 39.91)
    page.wait_for_function("() => window.geogridPlan.state.selection.length === 1")
    page.click("[data-tool=split]")
    for lon, lat in [(116.383, 39.91), (116.387, 39.91), (116.387, 39.91)]:
        click_map(page, lon, lat)
    page.wait_for_selector("[data-testid=tool-error]")
    assert "does not cut the unit in two" in page.locator("[data-testid=tool-error]").inner_text()
    assert page.locator("[data-testid=edits] li").count() == 0
    shot(page, "plan-split-refused")
    page.click("[data-tool=select]")
    assert page.locator("[data-testid=tool-error]").count() == 0

    # Reshape: drag the east cell's south-west corner west along the community's southern edge; the
    # corner snaps onto that edge and the west cell gives up the triangle.
    click_map(page, 116.395, 39.91)
    page.wait_for_function("() => window.geogridPlan.state.selection.length === 1")
    page.click("[data-tool=reshape]")
    page.wait_for_selector("[data-testid=save-reshape]")
    drag_map(page, (116.39, 39.90), (116.386, 39.9002))
    shot(page, "plan-reshape")
    page.click("[data-testid=save-reshape]")
    wait_for_edits(page, 1)
    assert f"Reshape {east}" in page.locator("[data-testid=edits]").inner_text()
    assert CELL in page.locator("[data-testid=edits] li[data-operation=reshape]").inner_text()
    ring = draft_unit(page, draft_id, east)["geometry"]["coordinates"][0][0]
    south_west = min(ring, key=lambda c: (c[1], c[0]))
    assert south_west[1] == pytest.approx(39.90, abs=1e-9)  # snapped onto the edge, not 20 m above it
    assert south_west[0] == pytest.approx(116.386, abs=0.0006)

    page.click("[data-testid=undo]")
    wait_for_edits(page, 0)
    ring = draft_unit(page, draft_id, east)["geometry"]["coordinates"][0][0]
    assert min(c[0] for c in ring) == pytest.approx(116.39)

    # Merge: the two cells of the community, clicked with the merge tool.
    page.click("[data-tool=merge]")
    click_map(page, 116.385, 39.91)
    click_map(page, 116.395, 39.91)
    page.wait_for_function("() => window.geogridPlan.state.selection.length === 2")
    assert page.locator("[data-testid=merge-button]").inner_text() == "Merge 2 units"
    page.click("[data-testid=merge-button]")
    wait_for_edits(page, 1)
    codes = set(rendered(page, "plan-fill", "code"))
    assert CELL in codes and east not in codes
    shot(page, "plan-merge")
    page.click("[data-testid=undo]")
    wait_for_edits(page, 0)
    assert east in set(rendered(page, "plan-fill", "code"))

    # Retire: the east cell; the west one takes its area.
    page.click("[data-tool=select]")
    click_map(page, 116.395, 39.91)
    page.wait_for_function(f"() => window.geogridPlan.state.selection[0]?.properties.code === '{east}'")
    page.click("[data-tool=retire]")
    click_map(page, 116.385, 39.91)
    page.click("[data-testid=retire-button]")
    wait_for_edits(page, 1)
    assert "Retire 110101001001002; 110101001001001 takes its area" in page.locator("[data-testid=edits]").inner_text()
    assert east not in set(rendered(page, "plan-fill", "code"))
    page.click("[data-testid=undo]")
    wait_for_edits(page, 0)

    # Create: a square drawn inside the west cell, closed by clicking its first corner again.
    page.click("[data-tool=create]")
    page.wait_for_function("() => window.geogridPlan.state.snap.vertices.length > 0")
    corners = [(116.382, 39.912), (116.386, 39.912), (116.386, 39.916), (116.382, 39.916), (116.382, 39.912)]
    for lon, lat in corners:
        click_map(page, lon, lat)
    page.wait_for_selector("[data-testid=create-name]")
    assert "110101001001" in page.locator("[data-testid=tool-form]").inner_text()  # the community found
    page.fill("[data-testid=create-name]", "新建网格")
    page.click("[data-testid=create-button]")
    wait_for_edits(page, 1)
    assert set(rendered(page, "plan-fill", "code")) >= {CELL, east, NEW_CELL}
    assert draft_unit(page, draft_id, NEW_CELL)["properties"]["name"] == "新建网格"
    shot(page, "plan-create")

    # History: compare the draft with the active version (dashed), then look at the active version.
    active = page.evaluate("() => window.geogridPlan.state.active")
    page.select_option("[data-testid=compare]", str(active))
    page.wait_for_function("() => window.geogridMap.getLayer('compare-line')")
    wait_for_map(page)
    assert CELL in set(rendered(page, "compare-line", "code"))
    assert NEW_CELL not in set(rendered(page, "compare-line", "code"))
    shot(page, "plan-compare")
    page.select_option("[data-testid=generation]", str(active))
    page.wait_for_function("() => !document.querySelector('#draft-elsewhere').hidden")
    wait_for_map(page)
    assert NEW_CELL not in set(rendered(page, "plan-fill", "code"))
    assert not page.locator("[data-testid=tools]").is_visible()

    # Discard the draft: asked once more, then gone.
    page.click("[data-testid=discard]")
    page.click("[data-testid=discard-yes]")
    page.wait_for_selector("[data-testid=open-draft]:not([hidden])")
    generations = page.evaluate("() => fetch('/api/v1/generations/').then(r => r.json())")["results"]
    assert [g["state"] for g in generations] == ["active"]
    assert page.js_errors == []


def test_a_viewer_on_a_phone_sees_the_versions_without_tools_in_chinese(e2e_city, open_page):
    page = open_page("viewer", "/plan/", width=375, height=812, locale="zh-CN")
    wait_for_plan(page)
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    # The viewer's street only, no link to the page in the menu (it is the planners' page), no tools.
    assert set(rendered(page, "plan-fill", "code")) == {"110101002001001", "110101002001002"}
    assert page.locator("nav.pages a[href='/plan/']").count() == 0
    assert not page.locator("[data-testid=open-draft]").is_visible()
    assert not page.locator("[data-testid=tools]").is_visible()
    assert page.locator("[data-testid=generation] option").count() == 1
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
    shot(page, "plan-phone-viewer")
    assert page.js_errors == []


@pytest.mark.parametrize("background", [False, True], ids=["in-the-request", "in-the-background"])
def test_a_planner_checks_a_boundary_file_sees_its_errors_and_imports_it(
    e2e_city, open_page, tmp_path, settings, background
):
    import geopandas as gpd
    from shapely.geometry import box

    from boundaries.models import BoundaryImportJob, GridUnit

    # In the background, every upload is a job the page follows until its report is in.
    settings.GEOGRID_PRIVATE_ROOT = tmp_path / "private"
    settings.GEOGRID_BOUNDARY_UPLOAD_BACKGROUND_MB = 0 if background else 10

    def geojson(name, geometry):
        path = tmp_path / name
        rows = [{"CODE": NEW_CELL, "NAME": "新网格", "geometry": geometry}]
        gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326").to_file(path, driver="GeoJSON")
        return str(path)

    page = open_page("planner", "/plan/")
    wait_for_plan(page)
    page.locator("#import summary").click()
    form = page.locator("[data-testid=import-form]")
    # A cell drawn over a neighbour: the check lists the overlap and writes nothing.
    form.locator("[data-testid=import-file]").set_input_files(
        geojson("over.geojson", box(116.38, 39.90, 116.39, 39.92))
    )
    form.locator("[data-testid=import-check]").click()
    problems = page.locator("[data-testid=import-problems] li")
    problems.first.wait_for()
    assert "overlap" in [problems.nth(i).get_attribute("data-kind") for i in range(problems.count())]
    assert "errors" in page.locator("[data-testid=import-summary]").inner_text()
    assert not GridUnit.objects.filter(code=NEW_CELL).exists()
    shot(page, "plan-import-refused")
    # A speck of 0.3 m² over a neighbour (within the overlap tolerance) passes with a warning, and is imported.
    sliver = box(116.385, 39.905, 116.385006, 39.9050055)
    form.locator("[data-testid=import-file]").set_input_files(geojson("sliver.geojson", sliver))
    form.locator("[data-testid=import-check]").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=import-summary]')?.textContent.includes('Nothing was written yet')"
    )
    assert page.locator("[data-testid=import-problems] li[data-severity=warning]").count() >= 1
    page.locator("[data-testid=import-commit]").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=import-summary]')?.textContent === 'Imported: 1 unit written.'"
    )
    assert GridUnit.objects.get(code=NEW_CELL).name == "新网格"
    page.wait_for_function("() => !document.querySelector('[data-testid=import-commit]').disabled")
    shot(page, "plan-import-done" + ("-background" if background else ""))
    assert BoundaryImportJob.objects.filter(status="done").count() == (3 if background else 0)
    assert page.js_errors == []
