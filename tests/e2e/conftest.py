"""
Browser tests: Debian's chromium driven by playwright against a live server on the small city.

Every test gets a fresh database (the live server runs in another thread, so these tests are
transactional), staff of each role with known passwords, households and incidents, and saves
screenshots under var/screenshots/e2e/.
"""

import datetime as dt
import os
from pathlib import Path

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from accounts.models import Department
from accounts.selectors import scope_for_user
from incidents.models import Category
from incidents.services import incident_create
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS

PASSWORD = "E2e-password-2024!"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "e2e"
# Roles of the small city's staff: (username, role, unit bound, department)
STAFF = {
    "admin": ("system_admin", "110100", None),
    "city_leader": ("city_leader", "110100", None),
    "street_leader": ("street_leader", "110101001", None),
    "community_leader": ("community_leader", "110101001001", None),
    "dispatcher": ("dispatcher", "110101001", None),
    "department_staff": ("department_staff", "110101", "urban-management"),
    "grid_worker": ("grid_worker", "110101001001", None),
    "planner": ("planner", "110101", None),
    "viewer": ("viewer", "110101002", None),
}


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (scripts/system-packages.txt).")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in the test's thread while the browser lives; the
    # database calls the tests make there are synchronous and safe. Only for these tests: the deploy
    # check refuses the setting anywhere else.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def city_staff(small_city, make_user):
    users = {}
    for username, (role, unit, department) in STAFF.items():
        users[username] = make_user(
            role,
            units=[unit],
            username=username,
            password=PASSWORD,
            full_name=f"{username} 测试",
            department=Department.objects.filter(code=department).first() if department else None,
        )
    return users


@pytest.fixture
def city_incidents(city_staff):
    """Four incidents: three in the west street (one old and overdue), one in the east street."""
    worker = city_staff["grid_worker"]
    admin = city_staff["admin"]

    def report(user, point, category, title, days_ago=0):
        return incident_create(
            scope=scope_for_user(user),
            actor=user,
            title=title,
            description=f"{title}，请处理。",
            category=Category.objects.get(code=category),
            location=Point(*point, srid=4326),
            source="patrol",
            reported_at=timezone.now() - dt.timedelta(days=days_ago, minutes=5),
        )

    return [
        report(worker, (116.385, 39.905), "E0401", "占道经营", 0),
        report(worker, (116.386, 39.906), "E0402", "乱堆物料", 1),
        report(worker, (116.395, 39.915), "E0401", "店外经营", 3),
        report(admin, (116.41, 39.905), "E0402", "东街堆物", 2),
    ]


@pytest.fixture
def e2e_city(city_staff, city_incidents, population):
    from assessment.services import kpi_refresh

    kpi_refresh()
    return {"staff": city_staff, "incidents": city_incidents, "households": population}


@pytest.fixture
def open_page(browser, live_server, request):
    """open_page(username, path="/", width=1280, height=800, locale="en-US") -> a signed-in page."""
    contexts = []

    def open_(username, path="/", width=1280, height=800, locale="en-US"):
        context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors
        page.goto(f"{live_server.url}/login/?next={path}")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        with page.expect_navigation():
            page.press("input[name=password]", "Enter")
        assert "/login/" not in page.url, f"{username} could not sign in"
        page.wait_for_load_state("networkidle")
        return page

    yield open_
    for context in contexts:
        context.close()


def shot(page, name: str) -> Path:
    """Saves a screenshot of the page as var/screenshots/e2e/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def wait_for_map(page, timeout=30_000):
    """Waits until the page's map has loaded its style and tiles and stands still."""
    page.wait_for_function(
        "() => window.geogridMap && window.geogridMap.loaded() && window.geogridMap.areTilesLoaded()"
        " && !window.geogridMap.isMoving()",
        timeout=timeout,
    )


def rendered(page, layer: str, key: str | None = None) -> list:
    """Properties (or one property) of the features of a map layer drawn on screen now."""
    return page.evaluate(
        """([layer, key]) => {
            const map = window.geogridMap;
            if (!map.getLayer(layer)) return [];
            return map.queryRenderedFeatures({layers: [layer]}).map(f => key ? f.properties[key] : f.properties);
        }""",
        [layer, key],
    )
