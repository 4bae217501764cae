"""
Screenshots of every page for every demo role, taken in Debian's chromium against a running GeoGrid
(`make run`), saved as docs/screenshots/<user>-<page>.png for the README.

    .venv/bin/python scripts/screenshots.py [--base http://127.0.0.1:8000] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

# (user, path, name, width, height, language)
SHOTS = [
    ("city_leader", "/map/", "dashboard", 1440, 900, "zh-CN"),
    ("city_leader", "/map/?wall=1", "wall", 1920, 1080, "zh-CN"),
    ("district_leader", "/map/", "dashboard", 1440, 900, "en-US"),
    ("street_leader", "/map/", "dashboard", 1440, 900, "zh-CN"),
    ("community_leader", "/map/", "dashboard-phone", 375, 812, "zh-CN"),
    ("dispatcher", "/dispatch/", "dispatch", 1440, 900, "zh-CN"),
    ("dispatcher", "incident", "incident", 1440, 900, "zh-CN"),
    ("department_staff", "/dispatch/", "dispatch", 1440, 900, "en-US"),
    ("grid_worker", "/field/", "field-phone", 375, 812, "zh-CN"),
    ("planner", "/plan/", "plan", 1440, 900, "zh-CN"),
    ("admin", "/records/", "records", 1440, 900, "zh-CN"),
    ("viewer", "/map/", "dashboard", 1440, 900, "zh-CN"),
]


def password(username: str) -> str:
    return f"GeoGrid-{username.replace('_', '-')}-2024"


def settle(page) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        "() => !window.geogridMap || (window.geogridMap.loaded() && window.geogridMap.areTilesLoaded()"
        " && !window.geogridMap.isMoving())",
        timeout=60_000,
    )
    page.wait_for_timeout(800)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for user, path, name, width, height, locale in SHOTS:
            context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
            page = context.new_page()
            page.goto(f"{args.base}/login/")
            page.fill("input[name=username]", user)
            page.fill("input[name=password]", password(user))
            with page.expect_navigation():
                page.press("input[name=password]", "Enter")
            if path == "incident":
                page.goto(f"{args.base}/dispatch/")
                settle(page)
                page.locator("table[data-testid=queue] tbody tr a").first.click()
            else:
                page.goto(f"{args.base}{path}")
            settle(page)
            target = out / f"{user}-{name}.png"
            page.screenshot(path=str(target))
            print(target)
            context.close()
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
