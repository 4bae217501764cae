"""The household records page in Chromium: a file checked, imported without its bad row, and a household placed."""

import csv

import pytest

from residents.models import Household, ImportJob
from tests.e2e.conftest import shot, wait_for_map
from tests.e2e.test_plan import click_map

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CELL = "110101001001001"  # 116.38..116.39 x 39.90..39.92, in the grid worker's community
OUTSIDE = (116.377, 39.905)  # west of the city: nearest to CELL, so in the worker's view


def wait_for_records(page):
    page.wait_for_function("() => window.geogridRecords && window.geogridRecords.state.ready === true")
    wait_for_map(page)


def households_file(path):
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["户号", "地址", "经度", "纬度", "姓名", "与户主关系"])
        writer.writerow(["R1", "西南路8号", "116.386", "39.907", "赵磊", "户主"])
        writer.writerow(["R2", "西南路9号", "东经116度", "39.908", "钱进", "户主"])  # data row 2: not a number
        writer.writerow(["R3", "城西路1号", str(OUTSIDE[0]), str(OUTSIDE[1]), "孙丽", "户主"])
        writer.writerow(["R4", "城西路2号", str(OUTSIDE[0]), str(OUTSIDE[1] + 0.004), "李强", "户主"])
    return path


def summary(page) -> str:
    return page.locator("[data-testid=import-summary]").inner_text()


def test_a_grid_worker_imports_a_file_without_its_bad_row_and_places_a_household(
    e2e_city, open_page, tmp_path, live_server
):
    page = open_page("grid_worker", "/records/")
    wait_for_records(page)
    assert page.locator("nav.pages a[aria-current=page]").inner_text() == "Household records"
    assert page.locator("[data-testid=unassigned-none]").is_visible()
    path = households_file(tmp_path / "households.csv")
    form = page.locator("[data-testid=import-form]")
    form.locator("[data-testid=import-file]").set_input_files(str(path))

    # The check: the bad row is named by row and column, and nothing is written.
    form.locator("[data-testid=import-check]").click()
    page.wait_for_selector("[data-testid=import-summary]")
    assert summary(page) == "1 error: nothing was written."
    problems = page.locator("[data-testid=import-problems] li")
    assert problems.count() == 1
    assert "row 2" in problems.first.inner_text() and "经度" in problems.first.inner_text()
    assert not Household.objects.filter(ref__startswith="R").exists()
    shot(page, "records-check")

    # The import, leaving the bad row out: the good rows are written and the bad one comes back as a file.
    form.locator("[data-testid=import-skip-bad]").check()
    form.locator("[data-testid=import-commit]").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=import-summary]')?.textContent.startsWith('Imported')"
    )
    assert summary(page) == "Imported: 3 households and 3 residents written, 1 of them assigned to a grid cell."
    assert page.locator("[data-testid=import-counts] [data-count=unassigned] .value").inner_text() == "2"
    assert page.locator("[data-testid=import-counts] [data-count=rejected_rows] .value").inner_text() == "1"
    rejects = page.locator("[data-testid=import-rejects]")
    answer = page.request.get(live_server.url + rejects.get_attribute("href"))
    assert answer.ok and "钱进" in answer.text() and "赵磊" not in answer.text()
    assert sorted(Household.objects.filter(ref__startswith="R").values_list("ref", flat=True)) == ["R1", "R3", "R4"]
    # Both runs are listed, the newest first.
    jobs = page.locator("[data-testid=import-jobs] tbody tr")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=import-jobs] tbody tr').length === 2")
    assert "3 households written" in jobs.first.inner_text()
    assert [job.options["commit"] for job in ImportJob.objects.order_by("-pk")] == [True, False]

    # The households outside every cell are listed; placed inside the cell, each is assigned there:
    # one by a click on the map, one by its coordinates typed.
    unassigned = page.locator("[data-testid=unassigned-list] li[data-household]")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=unassigned-list] li[data-household]').length === 2"
    )
    assert "城西路1号" in unassigned.all_inner_texts()[0] + unassigned.all_inner_texts()[1]
    shot(page, "records-imported")
    page.locator("[data-testid=unassigned-list] li", has_text="城西路1号").locator("[data-action=place]").click()
    assert page.locator("[data-testid=pick-banner]").is_visible()
    wait_for_map(page)
    click_map(page, 116.383, 39.905)
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=unassigned-list] li[data-household]').length === 1"
    )
    assert "now in grid cell " + CELL in page.locator("#toast").inner_text()
    household = Household.objects.get(ref="R3")
    assert household.grid_code == CELL
    assert abs(household.location.x - 116.383) < 1e-4 and abs(household.location.y - 39.905) < 1e-4
    unassigned.first.locator("[data-action=place]").click()
    page.locator("[data-testid=pick-coordinates]").fill("116.384, 39.911")
    page.locator("[data-testid=pick-coordinates]").press("Enter")
    page.wait_for_selector("[data-testid=unassigned-none]")
    household = Household.objects.get(ref="R4")
    assert household.grid_code == CELL
    assert abs(household.location.x - 116.384) < 1e-6 and abs(household.location.y - 39.911) < 1e-6
    shot(page, "records-placed")
    assert page.js_errors == []


def test_the_page_is_only_for_those_who_import_households(e2e_city, open_page, live_server):
    viewer = open_page("viewer", "/map/")
    assert "Household records" not in viewer.locator("nav.pages").inner_text()
    assert viewer.request.get(f"{live_server.url}/records/").status == 404
    admin = open_page("admin", "/records/", locale="zh-CN")
    wait_for_records(admin)
    assert admin.locator("nav.pages a[aria-current=page]").inner_text() == "住户信息"
    assert admin.locator("[data-testid=import-check]").inner_text() == "检查文件"
    # The blank file's headers are in the page's language (the importer reads them back).
    headers = admin.evaluate("() => window.GeoGrid.boot.import_columns")
    assert headers[:4] == ["户号", "地址", "楼栋", "单元"] and "身份证号" in headers
    assert admin.js_errors == []
