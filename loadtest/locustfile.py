"""The load test's scenario: a working day on the demo city (leaders, dispatchers, field staff, residents)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field

import requests
from locust import FastHttpUser, between, events, task

# The demo's staff (accounts/demo.py): passwords follow demo_password().
LEADERS = ["city_leader", "district_leader", "street_leader", "community_leader", "viewer"]
STAFF = [*LEADERS, "dispatcher", "grid_worker"]
OPEN = "reported,accepted,dispatched,in_progress,returned,escalated"
# A browser keeps a tile this long (the server's Cache-Control max-age), then revalidates it with its ETag.
TILE_MAX_AGE = 60
# The indicators a leader colours the map by, and the overlays they switch between (the choropleth most often).
METRICS = [
    "residents_per_km2",
    "households",
    "incidents_per_1000_residents",
    "open_incidents",
    "overdue_incidents",
    "visit_coverage",
    "satisfied_share",
]
OVERLAYS = {"choropleth": 6, "incident_heat": 2, "incidents": 2, "incident_hexagons": 1, "households": 1}
# Zoom levels of a leader's map: the city at 12-13, streets and communities at 14-15, grid cells at 16.
ZOOMS = {12: 1, 13: 2, 14: 3, 15: 3, 16: 2}
SMS_TEXTS = [
    "小区门口垃圾堆了三天没人清理",
    "楼下路灯坏了，晚上很黑",
    "人行道上有井盖松动，很危险",
    "有人在绿地里乱搭乱建",
    "夜里工地施工噪音太大",
    "道路积水严重，车辆无法通行",
]
DISCUSSIONS = ["了解家庭近况，无特殊困难", "走访独居老人，身体状况良好", "宣传垃圾分类政策", "核实租户信息"]


def demo_password(username: str) -> str:
    return f"GeoGrid-{username.replace('_', '-')}-2024"


@dataclass
class Account:
    """A demo user signed in once for the whole run; every simulated user of that role shares the token."""

    username: str
    token: str = ""
    bounds: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    units: list[str] = field(default_factory=list)  # the bound unit, then units below it to drill into
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Shared:
    accounts: dict[str, Account] = field(default_factory=dict)
    # Households of the field worker's cell (id, lon, lat) and words to search them by.
    field_households: list[tuple[int, float, float]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    # Points of households across the city: where residents and the hotline report problems.
    city_points: list[tuple[float, float]] = field(default_factory=list)
    dispatcher_points: list[tuple[float, float]] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    case_numbers: list[str] = field(default_factory=list)
    open311_requests: list[str] = field(default_factory=list)
    conflicts: int = 0


SHARED = Shared()


def _month() -> str:
    today = dt.date.today()
    return f"month:{today.year}-{today.month:02d}"


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def _point(value) -> tuple[float, float] | None:
    """A point given as GeoJSON, [lon, lat] or {"lon", "lat"}."""
    if isinstance(value, dict) and "coordinates" in value:
        value = value["coordinates"]
    if isinstance(value, dict) and "lon" in value:
        return value["lon"], value["lat"]
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    return None


def _weighted(choices: dict):
    return random.choices(list(choices), weights=list(choices.values()))[0]


# --- set-up: sign in once per account and gather what the simulated users pick from ---------------------------------


@events.test_start.add_listener
def sign_in(environment, **_kwargs):
    try:
        _prepare(environment.host.rstrip("/"))
    except (requests.RequestException, KeyError, IndexError, ValueError) as exc:
        # Without accounts and data to pick from the simulated users would only fail: stop at once.
        logging.error("The load test could not prepare its users: %r", exc)
        environment.process_exit_code = 1
        environment.runner.quit()


def _prepare(host: str) -> None:
    session = requests.Session()

    def get(account: Account, path: str, **params):
        response = session.get(host + path, params=params, headers=account.headers, timeout=60)
        response.raise_for_status()
        return response.json()

    for username in STAFF:
        response = session.post(
            host + "/api/v1/auth/login/",
            json={"username": username, "password": demo_password(username), "name": "load test", "expires_in_days": 1},
            timeout=60,
        )
        response.raise_for_status()
        account = Account(username=username, token=response.json()["token"])
        account.headers = {"Authorization": f"Token {account.token}"}
        account.bounds = tuple(get(account, "/tiles/units.json")["bounds"])
        me = get(account, "/api/v1/me/")
        bound = [unit["code"] for unit in me["units"]]
        account.units = list(bound)
        for code in bound:
            children = get(account, f"/api/v1/units/{code}/children/", page_size=200)
            account.units += [feature["properties"]["code"] for feature in children["features"]]
        SHARED.accounts[username] = account

    worker = SHARED.accounts["grid_worker"]
    households = get(worker, "/api/v1/households/", page_size=200)["results"]
    SHARED.field_households = [(h["id"], h["location"]["lon"], h["location"]["lat"]) for h in households]
    SHARED.addresses = sorted({h["address"][:6] for h in households if h["address"]})
    for household in random.sample(households, min(20, len(households))):
        detail = get(worker, f"/api/v1/households/{household['id']}/")
        SHARED.names += [r["name"] for r in detail.get("residents", []) if r.get("name")]
    SHARED.names = SHARED.names or ["王", "李"]

    leader = SHARED.accounts["city_leader"]
    page = random.randint(1, 5)
    SHARED.city_points = [
        (h["location"]["lon"], h["location"]["lat"])
        for h in get(leader, "/api/v1/households/", page_size=1000, page=page)["results"]
        if h["assigned"]
    ]
    SHARED.dispatcher_points = [
        (h["location"]["lon"], h["location"]["lat"])
        for h in get(SHARED.accounts["dispatcher"], "/api/v1/households/", page_size=500)["results"]
        if h["assigned"]
    ]
    categories = get(leader, "/api/v1/categories/")["results"]
    SHARED.categories = [c["code"] for c in categories if c["parent"]]
    SHARED.services = [s["service_code"] for s in session.get(host + "/open311/v2/services.json", timeout=60).json()]
    SHARED.case_numbers = [i["number"] for i in get(leader, "/api/v1/incidents/", page_size=100)["results"]]


@events.test_stop.add_listener
def sign_out(environment, **_kwargs):
    for account in SHARED.accounts.values():
        try:
            requests.post(environment.host.rstrip("/") + "/api/v1/auth/logout/", headers=account.headers, timeout=30)
        except requests.RequestException:
            # Interrupted (Ctrl-C stops the server too): the tokens expire by themselves within a day.
            return


# --- the simulated users --------------------------------------------------------------------------------------------


class StaffUser(FastHttpUser):
    abstract = True
    username = ""

    def on_start(self):
        self.account = SHARED.accounts[self.username]

    def get(self, path: str, label: str, /, **params):
        """GET path?params, reported under the endpoint's label (its pattern, not the URL with ids)."""
        return self.client.get(path, params=params, headers=self.account.headers, name=label)

    def post(self, path: str, label: str, body: dict, ok=(200, 201), conflict_ok=False):
        with self.client.post(
            path, json=body, headers=self.account.headers, name=label, catch_response=True
        ) as response:
            if response.status_code in ok:
                response.success()
            elif conflict_ok and response.status_code == 409:
                # Two people acting on one case at once: one of them is told so. Counted apart, not as an error.
                SHARED.conflicts += 1
                response.success()
            else:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            return response


class Leader(StaffUser):
    """Leaders and viewers on the dashboard: panning and zooming the map, switching layers, reading KPIs."""

    weight = 50
    wait_time = between(3, 9)

    def on_start(self):
        self.username = random.choice(LEADERS)
        super().on_start()
        self.seen: dict[str, tuple[str, float]] = {}  # the browser's tile cache: url -> (etag, when fetched)
        self.overlay = "choropleth"
        self.metric = random.choice(METRICS)
        west, south, east, north = self.account.bounds
        self.z = _weighted(ZOOMS)
        self.x, self.y = _tile(random.uniform(west, east), random.uniform(south, north), self.z)
        self.get("/tiles/units.json", "/tiles/{layer}.json")
        self.get("/api/v1/layers/", "/api/v1/layers/")
        self.show_map()

    def overlay_params(self) -> dict:
        if self.overlay == "choropleth":
            return {"metric": self.metric, "level": 4 if self.z <= 13 else 5, "period": _month()}
        return {}

    def fetch_tile(self, layer: str, x: int, y: int, params: dict):
        query = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        url = f"/tiles/{layer}/{self.z}/{x}/{y}.mvt" + (f"?{query}" if query else "")
        etag, fetched = self.seen.get(url, ("", 0.0))
        if time.monotonic() - fetched < TILE_MAX_AGE:
            return
        headers = dict(self.account.headers)
        if etag:
            headers["If-None-Match"] = etag
        with self.client.get(url, headers=headers, name=f"/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt z{self.z}") as response:
            if response.status_code in (200, 304):
                self.seen[url] = (response.headers.get("ETag", etag), time.monotonic())

    def show_map(self):
        """The tiles of a 3 x 2 tile viewport around the view, for the units outlines and the overlay."""
        params = self.overlay_params()
        for dx in (-1, 0, 1):
            for dy in (0, 1):
                self.fetch_tile("units", self.x + dx, self.y + dy, {})
                self.fetch_tile(self.overlay, self.x + dx, self.y + dy, params)

    def fly_to(self, lon: float, lat: float, z: int):
        self.z = z
        self.x, self.y = _tile(lon, lat, z)
        self.show_map()

    @task(8)
    def pan(self):
        """A drag of the map by about a tile: the browser fetches the tiles that come into view."""
        west, south, east, north = self.account.bounds
        low_x, high_y = _tile(west, south, self.z)
        high_x, low_y = _tile(east, north, self.z)
        self.x = min(max(self.x + random.choice((-1, 0, 1)), low_x), high_x)
        self.y = min(max(self.y + random.choice((-1, 0, 1)), low_y), high_y)
        self.show_map()

    @task(4)
    def zoom(self):
        z = min(max(self.z + random.choice((-1, 1)), min(ZOOMS)), max(ZOOMS))
        self.x, self.y = (self.x * 2, self.y * 2) if z > self.z else (self.x // 2, self.y // 2)
        self.z = z
        self.show_map()

    @task(2)
    def switch_layer(self):
        self.overlay = _weighted(OVERLAYS)
        self.metric = random.choice(METRICS)
        params = self.overlay_params()
        self.get(f"/tiles/{self.overlay}.json", "/tiles/{layer}.json", **params)
        self.get(f"/api/v1/layers/{self.overlay}/legend/", "/api/v1/layers/{layer}/legend/", z=self.z, **params)
        self.show_map()

    @task(3)
    def select_unit(self):
        """A click on a unit: the map flies to it; its KPI cards, the ranking of the units below, its open incidents."""
        code = random.choice(self.account.units)
        level = {6: "district", 9: "street", 12: "community", 15: "grid"}.get(len(code), "grid")
        below = {"district": "street", "street": "community", "community": "grid"}.get(level, "grid")
        response = self.get(f"/api/v1/units/{code}/", "/api/v1/units/{code}/")
        self.get(f"/api/v1/kpi/units/{code}/", "/api/v1/kpi/units/{code}/", period=_month())
        self.get("/api/v1/kpi/units/", "/api/v1/kpi/units/", under=code, level=below, period=_month(), page_size=200)
        self.get(
            "/api/v1/incidents/",
            "/api/v1/incidents/?under&status&sort",
            under=code,
            status=OPEN,
            sort="due_at",
            page_size=8,
        )
        self.get(
            "/api/v1/incidents/",
            "/api/v1/incidents/?under&status&overdue",
            under=code,
            status=OPEN,
            overdue="true",
            page_size=1,
        )
        point = _point(response.json()["properties"].get("label_point")) if response.status_code == 200 else None
        if point is not None:
            self.fly_to(*point, {"district": 13, "street": 14, "community": 15}.get(level, 16))


class Dispatcher(StaffUser):
    """The dispatch desk: queues with filters, case details, and cases moved through accept and dispatch."""

    weight = 15
    wait_time = between(3, 10)
    username = "dispatcher"

    def queue(self, **params):
        return self.get("/api/v1/incidents/", "/api/v1/incidents/?status (queue)", page_size=20, **params)

    def pick(self, status: str) -> dict | None:
        response = self.queue(status=status)
        rows = response.json().get("results", []) if response.status_code == 200 else []
        return random.choice(rows) if rows else None

    @task(6)
    def browse_queues(self):
        status = random.choice(["reported", "accepted", "dispatched,in_progress", "resolved,evaluated", OPEN])
        params: dict = {"status": status}
        if random.random() < 0.3:
            params["category"] = random.choice(SHARED.categories)
        if random.random() < 0.2:
            params["overdue"] = "true"
        self.queue(**params)
        # The desk's tab counters.
        self.get("/api/v1/incidents/", "/api/v1/incidents/?status&page_size=1 (counts)", status=status, page_size=1)

    def act(self, incident: dict, action: str, **body) -> dict | None:
        """Takes an action the case page offers; the case as it is afterwards, or None when it was not taken."""
        if action not in incident["actions"]:
            return None
        response = self.post(
            f"/api/v1/incidents/{incident['id']}/actions/{action}/",
            f"/api/v1/incidents/{{id}}/actions/{action}/",
            {"version": incident["version"], **body},
            conflict_ok=True,
        )
        return response.json() if response.status_code == 200 else None

    def open_case(self, status: str) -> dict | None:
        """Picks a case from a queue and opens it: the page shows the actions the caller may take."""
        row = self.pick(status)
        if row is None:
            return None
        response = self.get(f"/api/v1/incidents/{row['id']}/", "/api/v1/incidents/{id}/")
        return response.json() if response.status_code == 200 else None

    @task(3)
    def read_case(self):
        self.open_case(random.choice(["reported", "accepted", "dispatched", OPEN]))

    @task(3)
    def accept_and_dispatch(self):
        incident = self.open_case("reported")
        if incident is None:
            return
        incident = self.act(incident, "accept")
        if incident is not None and incident.get("grid_code"):
            self.act(incident, "dispatch", note="请尽快处理", unit=incident["grid_code"])

    @task(1)
    def close_resolved(self):
        incident = self.open_case("resolved,evaluated")
        if incident is not None:
            self.act(incident, "close")

    @task(1)
    def hotline_report(self):
        lon, lat = random.choice(SHARED.dispatcher_points)
        self.post(
            "/api/v1/incidents/",
            "/api/v1/incidents/ (report)",
            {
                "description": random.choice(SMS_TEXTS),
                "category": random.choice(SHARED.categories),
                "location": {"lon": lon, "lat": lat},
                "source": "hotline",
            },
        )


class FieldWorker(StaffUser):
    """Grid workers on their phones: finding households, writing visit logs, working their cases."""

    weight = 20
    wait_time = between(5, 15)
    username = "grid_worker"

    @task(4)
    def search(self):
        kind = random.choice(["name", "q", "near"])
        if kind == "name":
            self.get("/api/v1/households/", "/api/v1/households/?name", name=random.choice(SHARED.names), page_size=20)
        elif kind == "q":
            self.get("/api/v1/households/", "/api/v1/households/?q", q=random.choice(SHARED.addresses), page_size=20)
        else:
            _id, lon, lat = random.choice(SHARED.field_households)
            self.get(
                "/api/v1/households/",
                "/api/v1/households/?near&radius",
                near=f"{lon + random.uniform(-2e-4, 2e-4):.6f},{lat + random.uniform(-2e-4, 2e-4):.6f}",
                radius=100,
                page_size=20,
            )

    @task(3)
    def open_household(self):
        household_id, _lon, _lat = random.choice(SHARED.field_households)
        self.get(f"/api/v1/households/{household_id}/", "/api/v1/households/{id}/")

    @task(2)
    def write_visit_log(self):
        household_id, lon, lat = random.choice(SHARED.field_households)
        self.post(
            "/api/v1/visit-logs/",
            "/api/v1/visit-logs/ (write)",
            {
                "location": {"lon": lon, "lat": lat},
                "discussion": random.choice(DISCUSSIONS),
                "sentiment": random.choice(["positive", "neutral", "negative"]),
                "households": [household_id],
            },
        )

    @task(1)
    def my_visit_logs(self):
        self.get("/api/v1/visit-logs/", "/api/v1/visit-logs/", page_size=10)

    @task(1)
    def work_cases(self):
        response = self.get(
            "/api/v1/incidents/", "/api/v1/incidents/?status (mine)", status="dispatched,in_progress", page_size=20
        )
        rows = response.json().get("results", []) if response.status_code == 200 else []
        if not rows:
            return
        response = self.get(f"/api/v1/incidents/{random.choice(rows)['id']}/", "/api/v1/incidents/{id}/")
        if response.status_code != 200:
            return
        incident = response.json()
        action, body = ("start", {}) if incident["status"] == "dispatched" else ("resolve", {"note": "已处理完毕"})
        if action in incident["actions"]:
            self.post(
                f"/api/v1/incidents/{incident['id']}/actions/{action}/",
                f"/api/v1/incidents/{{id}}/actions/{action}/",
                {"version": incident["version"], **body},
                conflict_ok=True,
            )


class Resident(FastHttpUser):
    """Residents: appeals through an Open311 app and by SMS to the city's number (the gateway signs each post)."""

    weight = 15
    wait_time = between(10, 30)

    @task(3)
    def open311_request(self):
        lon, lat = random.choice(SHARED.city_points)
        with self.client.post(
            "/open311/v2/requests.json",
            data={
                "api_key": os.environ["LOADTEST_OPEN311_KEY"],
                "service_code": random.choice(SHARED.services),
                "lat": f"{lat:.6f}",
                "long": f"{lon:.6f}",
                "description": random.choice(SMS_TEXTS),
            },
            name="/open311/v2/requests.json (post)",
            catch_response=True,
        ) as response:
            if response.status_code == 201:
                response.success()
                SHARED.open311_requests.append(response.json()[0]["service_request_id"])
            else:
                response.failure(f"{response.status_code}: {response.text[:200]}")

    @task(1)
    def open311_read(self):
        """The app shows the resident's own request, or the requests of the last day."""
        if SHARED.open311_requests and random.random() < 0.7:
            number = random.choice(SHARED.open311_requests[-200:])
            self.client.get(f"/open311/v2/requests/{number}.json", name="/open311/v2/requests/{id}.json")
        else:
            since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.client.get("/open311/v2/requests.json", params={"start_date": since}, name="/open311/v2/requests.json")

    @task(3)
    def sms(self):
        if random.random() < 0.25 and SHARED.case_numbers:
            text = f"CX {random.choice(SHARED.case_numbers)}"
        else:
            text = random.choice(SMS_TEXTS)
        body = json.dumps(
            {
                "id": f"load-{random.getrandbits(64):016x}",
                "from": f"139{random.randint(0, 99_999_999):08d}",
                "text": text,
            },
            ensure_ascii=False,
        ).encode()
        timestamp = str(int(time.time()))
        signature = hmac.new(
            os.environ["LOADTEST_SMS_SECRET"].encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        self.client.post(
            "/sms/inbound/",
            data=body,
            headers={"Content-Type": "application/json", "X-SMS-Timestamp": timestamp, "X-SMS-Signature": signature},
            name="/sms/inbound/",
        )


# --- the report -----------------------------------------------------------------------------------------------------

GOAL_P95_MS = 300


@events.quitting.add_listener
def summary(environment, **_kwargs):
    stats = environment.stats
    total = stats.total
    if not total.num_requests:
        return
    rows = sorted(stats.entries.values(), key=lambda s: (s.name.startswith("/tiles/"), s.name))
    width = max(len(f"{s.method} {s.name}") for s in rows)
    print()
    print(f"{'endpoint':<{width}}  {'requests':>8}  {'errors':>6}  {'req/s':>6}  {'p50':>5}  {'p95':>5}  {'p99':>5}")
    for s in [*rows, total]:
        label = "all" if s is total else f"{s.method} {s.name}"
        slow = " *" if s.get_response_time_percentile(0.95) > GOAL_P95_MS else ""
        print(
            f"{label:<{width}}  {s.num_requests:>8}  {s.num_failures:>6}  {s.total_rps:>6.1f}  "
            f"{s.get_response_time_percentile(0.5):>5.0f}  {s.get_response_time_percentile(0.95):>5.0f}  "
            f"{s.get_response_time_percentile(0.99):>5.0f}{slow}"
        )
    p95 = total.get_response_time_percentile(0.95)
    users = environment.parsed_options.num_users if environment.parsed_options else 0
    print(
        f"\n{users} users, {total.num_requests} requests, {total.total_rps:.1f} req/s, {total.num_failures} errors, "
        f"p95 {p95:.0f} ms over all (times in ms; * marks an endpoint with p95 above {GOAL_P95_MS} ms); "
        f"{SHARED.conflicts} workflow conflicts (409: someone acted first)."
    )
    met = total.num_failures == 0 and p95 <= GOAL_P95_MS
    print(f"Goal (no errors, p95 <= {GOAL_P95_MS} ms): {'met' if met else 'NOT met'}.")
