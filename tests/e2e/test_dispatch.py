"""The dispatch desk in Chromium: the queue in scope, accept and dispatch, conflicts, who gets what buttons, the map."""

import io

import pytest
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from playwright.sync_api import expect

from accounts.selectors import scope_for_user
from incidents.services import incident_create, incident_transition
from tests.e2e.conftest import rendered, shot, wait_for_map

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def photo(name: str) -> SimpleUploadedFile:
    """A small PNG as a browser would upload it."""
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 120, 40)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def incident_titled(e2e_city, title: str):
    return next(i for i in e2e_city["incidents"] if i.title == title)


def queue_numbers(page) -> set[str]:
    rows = page.eval_on_selector_all("[data-testid=queue] tbody tr", "rows => rows.map(r => r.dataset.incidentNumber)")
    return set(rows)


def wait_for_queue(page, tab: str):
    page.wait_for_selector(f"[data-tab={tab}][aria-selected=true]")
    page.wait_for_function("() => !document.body.classList.contains('loading')")


def wait_until_drawn(page, layer: str, number: str):
    """Waits until the map has stopped moving and draws the incident `number` on `layer`."""
    page.wait_for_function("() => window.geogridMap && !window.geogridMap.isMoving()")
    wait_for_map(page)
    page.wait_for_function(
        """([layer, number]) => window.geogridMap.getLayer(layer) && window.geogridMap
            .queryRenderedFeatures({layers: [layer]}).some(f => f.properties.number === number)""",
        arg=[layer, number],
    )


def overflowing(page, container: str) -> list[str]:
    """The elements of a page's part that stick out past the right edge of the viewport."""
    return page.evaluate(
        """container => [...document.querySelectorAll(`${container}, ${container} *`)]
            .filter(e => e.getClientRects().length && e.getBoundingClientRect().right > window.innerWidth + 0.5)
            .map(e => `${e.tagName}.${e.className}`)""",
        container,
    )


def action_buttons(page) -> list[str]:
    return page.eval_on_selector_all("[data-testid=actions] [data-action]", "bs => bs.map(b => b.dataset.action)")


def api_actions(page, incident_id: int) -> list[str]:
    return page.evaluate("id => GeoGrid.api(`/api/v1/incidents/${id}/`).then(d => d.actions)", incident_id)


def test_dispatcher_accepts_and_dispatches_from_the_queue(e2e_city, open_page):
    west = [i for i in e2e_city["incidents"] if i.title != "东街堆物"]
    east = incident_titled(e2e_city, "东街堆物")
    stall = incident_titled(e2e_city, "占道经营")
    page = open_page("dispatcher", "/dispatch/")
    wait_for_queue(page, "accept")

    # Only the dispatcher's own street: the three west incidents, never the east one.
    page.wait_for_selector(f"tr[data-incident-number='{stall.number}']")
    assert queue_numbers(page) == {i.number for i in west}
    assert east.number not in page.locator("[data-testid=queue]").inner_text()
    assert "东街堆物" not in page.locator("[data-testid=queue]").inner_text()
    row = page.locator(f"tr[data-incident-id='{stall.pk}'][data-incident-number='{stall.number}']")
    assert "占道经营" in row.inner_text()
    assert page.locator("[data-tab=accept] .count").inner_text() == "3"
    assert page.locator("[data-tab=overdue] .count").inner_text() == "2"  # reported days ago, 1 hour to accept

    # Selecting a row highlights it, flies the map there and previews it with its actions.
    row.locator("td.status").click()
    assert "selected" in row.get_attribute("class")
    page.wait_for_selector("[data-testid=preview] [data-testid=action-accept]")
    wait_until_drawn(page, "incidents", stall.number)
    assert page.locator("[data-testid=highlight]").count() == 1
    shot(page, "dispatch-queue")

    # The row links to the incident page, where the dispatcher accepts, then dispatches.
    row.locator("[data-testid=incident-link]").click()
    page.wait_for_url(f"**/dispatch/incidents/{stall.pk}/")
    page.wait_for_selector("[data-testid=action-accept]")
    assert page.locator("[data-testid=incident-title]").inner_text() == "占道经营"
    assert set(action_buttons(page)) == set(api_actions(page, stall.pk))
    page.click("[data-testid=action-accept]")
    page.wait_for_selector("#incident[data-status=accepted]")
    page.wait_for_selector("[data-testid=action-dispatch]")
    assert "accepted" in page.locator("[data-testid=fact-status]").inner_text()

    page.click("[data-testid=action-dispatch]")
    form = page.locator("[data-testid=form-dispatch]")
    form.locator("[data-testid=input-unit] option[value='110101001001']").wait_for(state="attached")
    form.locator("[data-testid=input-unit]").select_option("110101001001")
    form.locator("[data-testid=input-note]").fill("请社区处理")
    shot(page, "dispatch-incident-dispatch-form")
    form.locator("[data-testid=form-submit]").click()
    page.wait_for_selector("#incident[data-status=dispatched]")
    assert "dispatched" in page.locator("[data-testid=fact-status]").inner_text()
    expect(page.locator("[data-testid=fact-unit]")).to_have_text("西南社区 (110101001001)")
    events = page.eval_on_selector_all("[data-testid=timeline-event]", "items => items.map(i => i.dataset.action)")
    assert events == ["dispatch", "accept", "report"]
    assert "请社区处理" in page.locator("[data-testid=timeline]").inner_text()
    wait_for_map(page)
    shot(page, "dispatch-incident-dispatched")

    # Back in the queue the case has left "to accept" and waits in "in progress".
    page.click("[data-testid=back-link]")
    wait_for_queue(page, "accept")
    page.wait_for_selector(f"tr[data-incident-number='{stall.number}']", state="detached")
    page.click("[data-tab=progress]")
    page.wait_for_selector(f"tr[data-incident-number='{stall.number}'][data-status=dispatched]")
    assert page.js_errors == []


def test_a_missing_reason_a_conflict_and_a_duplicate(e2e_city, open_page):
    dispatcher = e2e_city["staff"]["dispatcher"]
    heap = incident_titled(e2e_city, "乱堆物料")
    page = open_page("dispatcher", f"/dispatch/incidents/{heap.pk}/")
    page.wait_for_selector("[data-testid=action-reject]")

    # Rejecting without a reason: the server's error stands next to the field.
    page.click("[data-testid=action-reject]")
    page.click("[data-testid=form-reject] [data-testid=form-submit]")
    error = page.locator("[data-testid=form-reject] [data-testid=error-reason]")
    error.wait_for()
    assert "Required for this action." in error.inner_text()
    assert page.locator("#incident").get_attribute("data-status") == "reported"
    page.click("[data-testid=form-reject] [data-testid=form-cancel]")

    # Someone else accepts the incident behind the page; accepting again is refused with 409.
    incident_transition(scope=scope_for_user(dispatcher), actor=dispatcher, incident_id=heap.pk, action="accept")
    page.click("[data-testid=action-accept]")
    message = page.locator("[data-testid=action-error]")
    message.wait_for()
    assert "Someone changed this incident in the meantime" in message.inner_text()
    # The page shows the incident as it is now, with the actions that fit.
    page.wait_for_selector("#incident[data-status=accepted]")
    assert "action-accept" not in page.locator("[data-testid=actions]").inner_html()
    assert set(action_buttons(page)) == set(api_actions(page, heap.pk))
    assert "dispatch" in action_buttons(page)
    assert message.is_visible()
    wait_for_map(page)
    shot(page, "dispatch-conflict")

    # The same problem reported again close by: its page suggests the first case and merges into it.
    worker = e2e_city["staff"]["grid_worker"]
    again = incident_create(
        scope=scope_for_user(worker),
        actor=worker,
        title="又见堆物",
        description="路边又堆了物料。",
        category=heap.category,
        location=Point(116.3861, 39.9061, srid=4326),
        source="patrol",
        files=[photo("堆物.png")],
    )
    page.goto(page.url.replace(f"/{heap.pk}/", f"/{again.pk}/"))
    # Its photo is a thumbnail linking to the attachment.
    thumbnail = page.locator("[data-testid=photos] [data-testid=photo]")
    assert thumbnail.get_attribute("href").startswith("/api/v1/attachments/")
    page.wait_for_function("() => document.querySelector('[data-testid=photo] img').naturalWidth === 40")
    duplicate = page.locator(f"[data-testid=duplicate][data-incident-number='{heap.number}']")
    duplicate.locator("[data-testid=merge-into]").click()
    form = page.locator("[data-testid=form-merge]")
    expect(form.locator("[data-testid=input-target]")).to_have_value(heap.number)
    form.locator("[data-testid=form-submit]").click()
    page.wait_for_selector("#incident[data-status=merged]")
    assert page.locator("[data-testid=fact-merged]").inner_text() == heap.number
    assert page.locator("[data-testid=no-actions]").is_visible()
    wait_for_map(page)
    shot(page, "dispatch-merged")
    assert page.js_errors == []


def test_department_staff_and_viewers_get_only_their_buttons(e2e_city, open_page):
    dispatcher = e2e_city["staff"]["dispatcher"]
    heap = incident_titled(e2e_city, "乱堆物料")  # urban management's, in the west street
    east = incident_titled(e2e_city, "东街堆物")  # urban management's, in the east street, still reported
    scope = scope_for_user(dispatcher)
    incident_transition(scope=scope, actor=dispatcher, incident_id=heap.pk, action="accept")
    incident_transition(scope=scope, actor=dispatcher, incident_id=heap.pk, action="dispatch")

    staff = open_page("department_staff", "/dispatch/")
    wait_for_queue(staff, "progress")
    staff.wait_for_selector(f"tr[data-incident-number='{heap.number}']")
    assert queue_numbers(staff) == {heap.number}
    staff.click(f"tr[data-incident-number='{heap.number}'] [data-testid=incident-link]")
    staff.wait_for_selector("[data-testid=action-start]")
    # The department handles the case: start or return it; accepting or dispatching is not theirs.
    assert sorted(action_buttons(staff)) == sorted(api_actions(staff, heap.pk)) == ["return", "start"]
    wait_for_map(staff)
    shot(staff, "dispatch-department-staff")
    staff.goto(staff.url.replace(f"/{heap.pk}/", f"/{east.pk}/"))
    staff.wait_for_selector("[data-testid=no-actions]")
    assert action_buttons(staff) == [] == api_actions(staff, east.pk)
    assert staff.js_errors == []

    # A viewer of the east street, on a phone: the east case only, and no buttons at all.
    viewer = open_page("viewer", "/dispatch/", width=375, height=740)
    wait_for_queue(viewer, "open")
    viewer.wait_for_selector(f"tr[data-incident-number='{east.number}']")
    assert queue_numbers(viewer) == {east.number}
    viewer.click(f"tr[data-incident-number='{east.number}'] td.status")
    viewer.wait_for_selector("[data-testid=preview] [data-testid=no-actions]")
    assert viewer.locator("[data-testid=preview] [data-action]").count() == 0
    assert overflowing(viewer, ".desk") == []
    wait_for_map(viewer)
    shot(viewer, "dispatch-viewer-phone")
    viewer.click("[data-testid=preview-link]")
    viewer.wait_for_selector("[data-testid=no-actions]")
    assert action_buttons(viewer) == []
    assert overflowing(viewer, ".incident-page") == []
    viewer.wait_for_selector("[data-testid=timeline-event]")
    wait_for_map(viewer)
    shot(viewer, "dispatch-viewer-incident-phone")
    assert viewer.js_errors == []


def test_the_map_draws_the_queue(e2e_city, open_page):
    shop = incident_titled(e2e_city, "店外经营")
    east = incident_titled(e2e_city, "东街堆物")
    page = open_page("dispatcher", "/dispatch/?tab=open", width=1920, height=1080)
    wait_for_queue(page, "open")
    page.wait_for_selector(f"tr[data-incident-number='{shop.number}']")
    wait_for_map(page)
    # Zoomed out the incidents are counted in clusters, zoomed in each is a point.
    drawn = rendered(page, "incidents", "number") or rendered(page, "incident-clusters", "count")
    assert drawn
    page.click(f"tr[data-incident-number='{shop.number}'] td.status")
    wait_until_drawn(page, "incidents", shop.number)
    statuses = set(rendered(page, "incidents", "status"))
    assert statuses == {"reported"}
    selected = page.evaluate("() => geogridMap.queryRenderedFeatures({layers: ['incident-selected']}).length")
    assert selected == 1
    shot(page, "dispatch-map-wide")
    # The east street's incident is outside the dispatcher's scope: never drawn, even where it lies.
    page.evaluate("([x, y]) => geogridMap.jumpTo({center: [x, y], zoom: 16})", [east.location.x, east.location.y])
    wait_for_map(page)
    assert east.number not in rendered(page, "incidents", "number")
    assert page.js_errors == []
