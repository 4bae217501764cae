"""The field page on a 375 px phone: finding a household, near me, typed coordinates, visit logs and reports."""

import io
import math

import pytest
from django.contrib.gis.geos import Point
from PIL import Image
from playwright.sync_api import expect

from core.coords import wgs84_to_gcj02
from core.personal import mask_id_number, mask_phone
from core.scope import Scope
from residents.services import household_create
from tests.e2e.conftest import PASSWORD, rendered, shot, wait_for_map

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}
SEARCH = "[data-testid=household-search]"
RESULTS = "[data-testid=search-results]"
CARD = "[data-testid=household-card]"
WEST = (116.385, 39.905)  # the population fixture's 西南路1号院1号楼101


def metres(a, b) -> float:
    """Great-circle distance between two (lon, lat) pairs."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def open_field(open_page):
    page = open_page("grid_worker", "/field/", **PHONE)
    return ready(page)


def ready(page):
    expect(page.locator("main.field[data-ready=true]")).to_be_attached()
    wait_for_map(page)
    return page


def settled(page):
    """Waits until the map has stopped moving and drawn its tiles."""
    page.wait_for_function("() => window.geogridMap && !window.geogridMap.isMoving()")
    wait_for_map(page)


def snap(page, name: str):
    """A screenshot once the bottom sheet has stopped sliding."""
    page.wait_for_function("() => document.querySelector('.sheet').getAnimations().length === 0")
    shot(page, name)


def map_center(page) -> tuple[float, float]:
    return tuple(page.evaluate("() => window.geogridMap.getCenter().toArray()"))


def api(page, path: str):
    """GET an API path as the page's signed-in user."""
    return page.evaluate(
        """async (path) => {
            const response = await fetch(path, {headers: {Accept: "application/json"}});
            return {status: response.status, body: await response.json()};
        }""",
        path,
    )


def find_household(page, text: str, household_id: int):
    """Searches, and opens the household's card (the page opens it by itself when it is the only match)."""
    page.fill(SEARCH, text)
    page.press(SEARCH, "Enter")
    expect(page.locator(f"{RESULTS} [data-household-id='{household_id}']")).to_be_attached()
    if page.locator(f"{RESULTS} [data-household-id]").count() > 1:
        page.locator(f"{RESULTS} [data-household-id='{household_id}'] button").click()
    card = page.locator(CARD)
    expect(card).to_have_attribute("data-household-id", str(household_id))
    return card


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_grid_worker_finds_a_household_by_a_residents_name(e2e_city, open_page):
    west = e2e_city["households"]["west"]
    occupied, piled, *_ = e2e_city["incidents"]
    page = open_field(open_page)

    page.fill(SEARCH, "张桂英")
    page.press(SEARCH, "Enter")
    expect(page.locator(f"{RESULTS} [data-household-id]")).to_have_count(1)
    card = page.locator(CARD)
    expect(card).to_be_visible()
    expect(card).to_have_attribute("data-household-id", str(west.pk))
    expect(card.locator("h2")).to_have_text("西南路1号院1号楼101")
    expect(card.locator(".residents > li strong")).to_have_text(["张桂英", "李明", "李小红"])  # the head first

    # Personal data: masked on screen the way the server masks it; the grid worker may ask to see it.
    detail = api(page, f"/api/v1/households/{west.pk}/")["body"]
    zhang = next(r for r in detail["residents"] if r["name"] == "张桂英")
    phone = card.locator(f"[data-resident-id='{zhang['id']}'] [data-role=phone]")
    id_number = card.locator(f"[data-resident-id='{zhang['id']}'] [data-role=id-number]")
    expect(phone).to_have_text(mask_phone(zhang["phone"]))
    expect(id_number).to_have_text(mask_id_number(zhang["id_number"]))
    assert mask_phone(zhang["phone"]) == "138****5678"
    card.locator("[data-action=show-numbers]").click()
    expect(phone).to_have_text(zhang["phone"])
    expect(id_number).to_have_text(zhang["id_number"])

    # Tags by name, and the open incidents in and around the household, nearest first.
    tags = {t["code"]: t["name"] for t in api(page, "/api/v1/tags/")["body"]["results"]}
    expect(card.locator("header .tags")).to_contain_text(tags["rented_out"])
    expect(card.locator(f"[data-resident-id='{zhang['id']}'] .tags")).to_contain_text(tags["elderly_alone"])
    nearby = card.locator("[data-role=household-incidents] [data-incident-number]")
    expect(nearby).to_have_count(2)
    assert nearby.evaluate_all("items => items.map(i => i.dataset.incidentNumber)") == [occupied.number, piled.number]
    expect(card.locator("[data-role=household-visits]")).to_contain_text("No visits recorded yet.")

    # The map flew there, marks it above the sheet and draws the household itself.
    settled(page)
    assert metres(map_center(page), WEST) < 5
    marker = page.locator("[data-testid=highlight]")
    expect(marker).to_be_visible()
    box = marker.bounding_box()
    assert 0 < box["x"] < PHONE["width"]
    assert box["y"] > 48
    assert box["y"] + box["height"] < page.locator(".sheet").bounding_box()["y"]
    assert west.pk in rendered(page, "households", "id")
    snap(page, "field-household-card")
    assert page.js_errors == []


def test_near_me_lists_households_and_open_incidents_by_distance(e2e_city, browser, live_server):
    west = e2e_city["households"]["west"]
    occupied, piled, *_ = e2e_city["incidents"]
    everything = Scope.everything()
    farther = [
        household_create(scope=everything, location=Point(lon, lat, srid=4326), address=address, ref=ref)
        for lon, lat, address, ref in [
            (116.3895, 39.9070, "西南路9号", "N3"),  # about 430 m away
            (116.3858, 39.9056, "西南路1号院3号楼", "N1"),  # about 80 m
            (116.3875, 39.9062, "西南路5号", "N2"),  # about 240 m
        ]
    ]
    me = (116.3851, 39.9051)
    context = browser.new_context(
        viewport=PHONE,
        locale="en-US",
        geolocation={"longitude": me[0], "latitude": me[1], "accuracy": 12},
        permissions=["geolocation"],
    )
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live_server.url}/login/?next=/field/")
        page.fill("input[name=username]", "grid_worker")
        page.fill("input[name=password]", PASSWORD)
        with page.expect_navigation():
            page.press("input[name=password]", "Enter")
        ready(page)

        page.click("[data-testid=near-me]")
        households = page.locator(f"{RESULTS} [data-role=households] [data-household-id]")
        expect(households).to_have_count(4)  # 西南路2号, 1.4 km away, lies beyond the 500 m
        ids = households.evaluate_all("items => items.map(i => Number(i.dataset.householdId))")
        assert ids == [west.pk, farther[1].pk, farther[2].pk, farther[0].pk]
        distances = households.evaluate_all("items => items.map(i => Number(i.dataset.distance))")
        assert distances == sorted(distances)
        assert distances[0] < 20 and 350 < distances[-1] < 500
        incidents = page.locator(f"{RESULTS} [data-role=incidents] [data-incident-number]")
        assert incidents.evaluate_all("items => items.map(i => i.dataset.incidentNumber)") == [
            occupied.number,
            piled.number,
        ]

        expect(page.locator(".me-dot")).to_be_visible()
        settled(page)
        assert metres(map_center(page), me) < 5
        # The place of a visit or a report is now the phone's location.
        page.click("[data-tab=report]")
        expect(page.locator("form[data-testid=report-form] [data-role=point-text]")).to_contain_text("Your location")
        page.click("[data-tab=results]")
        snap(page, "field-near-me")
        assert errors == []
    finally:
        context.close()


def test_typed_coordinates_are_read_in_the_deployments_datum(e2e_city, open_page, settings):
    settings.GEOGRID_INPUT_CRS = "gcj02"
    west = e2e_city["households"]["west"]
    lon, lat = wgs84_to_gcj02(*WEST)
    assert metres((lon, lat), WEST) > 100  # the datums differ enough for the test to mean something
    page = open_field(open_page)

    page.fill(SEARCH, f"{lat:.7f},{lon:.7f}")  # latitude first, as some map apps copy it
    with page.expect_request(lambda request: "/api/v1/locate/" in request.url) as located:
        page.press(SEARCH, "Enter")
    assert "crs=gcj02" in located.value.url
    expect(page.locator(f"{RESULTS} [data-role=place-error]")).to_contain_text("swapped")
    page.locator(f"{RESULTS} .actions button").click()
    expect(page.locator(SEARCH)).to_have_value(f"{lon:.7f},{lat:.7f}")
    expect(page.locator(f"{RESULTS} [data-role=place]")).to_contain_text("西南社区第1网格")
    expect(page.locator(f"{RESULTS} [data-household-id='{west.pk}']")).to_be_visible()
    settled(page)
    assert metres(map_center(page), WEST) < 5
    expect(page.locator("[data-testid=highlight]")).to_be_visible()
    snap(page, "field-coordinates")
    assert page.js_errors == []


def test_visit_log_is_written_and_its_problem_becomes_an_incident(e2e_city, open_page):
    west = e2e_city["households"]["west"]
    page = open_field(open_page)
    card = find_household(page, "李明", west.pk)
    li_ming = next(r for r in api(page, f"/api/v1/households/{west.pk}/")["body"]["residents"] if r["name"] == "李明")

    card.locator("[data-action=visit-household]").click()
    form = page.locator("form[data-testid=visit-form]")
    expect(form).to_be_visible()
    expect(form.locator("[data-role=point-text]")).to_contain_text("西南路1号院1号楼101")
    form.locator(f"input[name=residents][value='{li_ming['id']}']").check()
    form.locator("[name=discussion]").fill("了解老人近况，身体尚好。")
    form.locator("[name=sentiment]").select_option("positive")
    form.locator("[name=problems]").fill("楼道灯坏了，晚上看不清台阶。")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/visit-logs/") and r.request.method == "POST") as posted:
        form.locator("button[type=submit]").click()
    assert posted.value.status == 201, posted.value.text()

    item = page.locator("[data-testid=recent-visits] li[data-log-id]").first
    expect(item).to_contain_text("楼道灯坏了")
    log_id = int(item.get_attribute("data-log-id"))
    log = api(page, f"/api/v1/visit-logs/{log_id}/")["body"]
    assert log["households"] == [west.pk]
    assert log["residents"] == [li_ming["id"]]
    assert log["sentiment"] == "positive"
    assert log["grid_code"] == "110101001001001"
    assert metres((log["location"]["lon"], log["location"]["lat"]), WEST) < 0.5
    expect(form.locator("[name=discussion]")).to_have_value("")

    # The problem found on the visit becomes an incident linked to the log.
    convert = item.locator("form[data-testid=log-to-incident]")
    convert.locator("select").select_option("E0401")
    convert.locator("button[type=submit]").click()
    reported = item.locator("[data-incident-number]")
    expect(reported).to_be_visible()
    number = reported.get_attribute("data-incident-number")
    found = api(page, f"/api/v1/incidents/?q={number}")["body"]["results"]
    assert [i["number"] for i in found] == [number]
    assert found[0]["source"] == "visit_log" and found[0]["category"] == "E0401"
    assert api(page, f"/api/v1/incidents/{found[0]['id']}/")["body"]["visit_log"] == log_id
    snap(page, "field-visit-log")

    # The household's card lists the visit and the incident found on it.
    page.click("[data-tab=household]")
    expect(card.locator(f"[data-role=household-visits] [data-log-id='{log_id}']")).to_be_visible()
    expect(card.locator(f"[data-role=household-incidents] [data-incident-number='{number}']")).to_be_visible()
    assert page.js_errors == []


def test_incident_reported_with_a_photo_reaches_the_dispatch_queue(e2e_city, open_page):
    west = e2e_city["households"]["west"]
    page = open_field(open_page)
    card = find_household(page, "西南路1号院", west.pk)
    card.locator("[data-action=report-household]").click()

    form = page.locator("form[data-testid=report-form]")
    expect(form).to_be_visible()
    expect(form.locator("[data-role=point-text]")).to_contain_text("西南社区第1网格")
    expect(form.locator("[name=address]")).to_have_value("西南路1号院1号楼101")
    form.locator("button[type=submit]").click()  # nothing filled in: the form says what is missing
    expect(form.locator("[data-error-for=category]")).to_be_visible()
    expect(form.locator("[data-error-for=description]")).to_be_visible()

    form.locator("[name=category]").select_option("E0402")
    form.locator("[name=description]").fill("楼门口堆放装修垃圾，堵住消防通道。")
    form.locator("input[type=file]").set_input_files(
        files=[{"name": "photo.png", "mimeType": "image/png", "buffer": png_bytes()}]
    )
    with page.expect_response(lambda r: r.url.endswith("/api/v1/incidents/") and r.request.method == "POST") as posted:
        form.locator("button[type=submit]").click()
    assert posted.value.status == 201, posted.value.text()  # multipart: the photo, the point as "lon,lat"
    result = page.locator("[data-testid=report-result]")
    expect(result).to_be_visible()
    expect(result).to_contain_text("1 photo attached")
    number = result.get_attribute("data-incident-number")
    found = api(page, f"/api/v1/incidents/?q={number}")["body"]["results"]
    assert [i["number"] for i in found] == [number]
    incident = api(page, f"/api/v1/incidents/{found[0]['id']}/")["body"]
    assert incident["source"] == "patrol" and incident["category"] == "E0402"
    assert incident["grid_code"] == "110101001001001"
    assert [a["content_type"] for a in incident["attachments"]] == ["image/png"]
    assert metres((incident["location"]["lon"], incident["location"]["lat"]), WEST) < 0.5
    snap(page, "field-report")
    assert page.js_errors == []

    desk = open_page("dispatcher", "/dispatch/")
    expect(desk.locator(f'table[data-testid=queue] tr[data-incident-number="{number}"]')).to_be_visible()
    assert desk.js_errors == []
