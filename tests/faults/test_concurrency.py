"""
People acting at the same time, each on their own connection: two dispatchers moving one incident;
households, residents, imports and incidents arriving, and a household moving, while a planner
activates a redrawn grid.
"""

from __future__ import annotations

import threading
import time
from functools import partial

import pytest
from django.contrib.gis.geos import Point
from django.db import connection

from accounts.selectors import scope_for_user
from boundaries import drafts
from boundaries.models import GridUnit
from boundaries.selectors import generation_active, units_for_point, valid_at_q
from core.scope import Scope
from incidents.models import Category, Incident, IncidentEvent
from incidents.services import incident_create, incident_transition
from residents.importing import household_import, import_options
from residents.models import Household, Resident
from residents.services import household_create
from tests.conftest import client_of

pytestmark = pytest.mark.django_db(transaction=True)

COMMUNITY = "110101001001"  # cells 001 (x 116.38-116.39) and 002 (x 116.39-116.40), y 39.90-39.92
# Where points land before and after the redrawing below (001 split at y = 39.908, 002 retired into the new 003).
MOVES = {
    (116.395, 39.915): (f"{COMMUNITY}002", f"{COMMUNITY}003"),
    (116.385, 39.905): (f"{COMMUNITY}001", f"{COMMUNITY}003"),
    (116.385, 39.915): (f"{COMMUNITY}001", f"{COMMUNITY}001"),
}


class Gate:
    """
    Wraps a function so that the first thread to call it (with arguments `when` accepts) stops right
    after it, inside its transaction and holding its locks, until the test opens the gate.
    """

    def __init__(self, function, when=lambda *args, **kwargs: True):
        self.function, self.when = function, when
        self.inside = threading.Event()
        self.opened = threading.Event()
        self._claimed = threading.Lock()

    def __call__(self, *args, **kwargs):
        result = self.function(*args, **kwargs)
        if self.when(*args, **kwargs) and self._claimed.acquire(blocking=False):
            self.inside.set()
            self.opened.wait(timeout=120)
        return result


def wait_until_blocked_or_done(threads: list[threading.Thread]) -> int:
    """Until every thread has finished or waits for a lock (the gated transaction's, or a waiting thread's)."""
    deadline = time.monotonic() + 60
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND cardinality(pg_blocking_pids(pid)) > 0"
            )
            waiting = cursor.fetchone()[0]
        running = sum(thread.is_alive() for thread in threads)
        if waiting >= running:
            return waiting
        assert time.monotonic() < deadline, f"{running} threads neither finished nor waited for a lock"
        time.sleep(0.05)


def through_gate(gate: Gate, first, others: list) -> int:
    """
    Runs `first` in a thread until it stops at the gate, then each of `others` in its own thread; opens
    the gate once each of them has finished or waits for a lock, and joins them all. How many waited.
    """
    threads = [in_thread(first)]
    try:
        assert gate.inside.wait(timeout=60), "the first thread never reached the gate"
        threads += [in_thread(other) for other in others]
        return wait_until_blocked_or_done(threads[1:])
    finally:
        gate.opened.set()
        for thread in threads:
            thread.join()


def in_thread(target, *args) -> threading.Thread:
    def run():
        try:
            target(*args)
        finally:
            connection.close()  # each thread had its own connection

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def api(user):
    """An API client of `user` that answers a server error as a 500 instead of raising it in its thread."""
    client = client_of(user)
    client.raise_request_exception = False
    return client


def worker_report(worker, point):
    return incident_create(
        scope=scope_for_user(worker),
        actor=worker,
        title="测试事件",
        description="路边占道经营。",
        category=Category.objects.get(code="E0401"),
        location=_point(point),
        source="patrol",
    )


def _point(lon_lat):
    return Point(*lon_lat, srid=4326)


# --- two dispatchers, one incident ---------------------------------------------------------------------


def test_two_dispatchers_moving_one_incident_at_once_one_wins_and_the_other_gets_409(
    small_city, make_user, monkeypatch
):
    from incidents import services

    first, second = (make_user("dispatcher", units=["110101001"], username=f"dispatcher-{n}") for n in (1, 2))
    worker = make_user("grid_worker", units=[COMMUNITY], username="worker")
    incident = worker_report(worker, (116.385, 39.905))
    incident_transition(scope=scope_for_user(first), actor=first, incident_id=incident.pk, action="accept")
    seen = Incident.objects.get(pk=incident.pk).version  # both dispatchers look at the same version
    gate = Gate(services._event)
    monkeypatch.setattr(services, "_event", gate)
    answers = {}

    def dispatch(name, user, unit):
        answers[name] = api(user).post(
            f"/api/v1/incidents/{incident.pk}/actions/dispatch/", {"version": seen, "unit": unit}, format="json"
        )

    # The first dispatch is written, not committed, when the second dispatcher acts.
    waiting = through_gate(
        gate,
        lambda: dispatch("first", first, COMMUNITY),
        [lambda: dispatch("second", second, f"{COMMUNITY}001")],
    )

    assert waiting == 1  # the second dispatcher waited for the first one's lock on the incident
    assert answers["first"].status_code == 200, answers["first"].content
    assert answers["second"].status_code == 409, answers["second"].content
    error = answers["second"].json()["error"]
    assert error["code"] == "conflict" and error["fields"]["status"] == ["dispatched"]
    assert error["fields"]["version"] == [str(seen + 1)]
    final = Incident.objects.get(pk=incident.pk)
    assert (final.status, final.version, final.assigned_unit_code) == ("dispatched", seen + 1, COMMUNITY)
    events = list(IncidentEvent.objects.filter(incident=final).order_by("at", "pk"))
    assert [e.action for e in events] == ["report", "accept", "dispatch"]  # nothing lost, nothing doubled
    assert all(later.from_status == earlier.to_status for earlier, later in zip(events, events[1:], strict=False))
    assert events[-1].data["unit"] == COMMUNITY and events[-1].actor == first


# --- activation while records arrive ---------------------------------------------------------------------


@pytest.fixture
def redrawn(small_city, make_user):
    """A draft of the west-south community: cell 001 split at y = 39.908 (new 003 south), 002 retired into 003."""
    planner = make_user("planner", units=["110101001"], username="planner")
    scope = scope_for_user(planner)
    draft = drafts.draft_open(scope=scope, actor=planner, description="重划西南社区")
    line = {"type": "LineString", "coordinates": [[116.37, 39.908], [116.395, 39.908]]}
    drafts.draft_split(scope=scope, actor=planner, draft=draft, code=f"{COMMUNITY}001", line=line)
    drafts.draft_retire(scope=scope, actor=planner, draft=draft, code=f"{COMMUNITY}002", into=f"{COMMUNITY}003")
    before = generation_active()
    assert {u.code for u in GridUnit.objects.filter(valid_at_q(draft), parent_code=COMMUNITY)} == {
        f"{COMMUNITY}001",
        f"{COMMUNITY}003",
    }
    return {"planner": planner, "draft": draft, "before": before}


def household_payload(point, ref):
    return {"address": f"西南路{ref}号", "ref": ref, "location": {"lon": point[0], "lat": point[1]}}


def assert_households_in_the_active_grid():
    """Every household (and its residents) is in the active grid's cell covering its point: none in a retired one."""
    active = generation_active()
    live_cells = set(GridUnit.objects.filter(valid_at_q(active), level=5).values_list("code", flat=True))
    for household in Household.objects.all():
        chain = units_for_point(point=household.location, generation=active).chain
        assert (household.grid_code, household.unit_code) == (chain[-1].code, chain[-1].code), household.ref
        assert household.grid_code in live_cells
        residents = set(Resident.objects.filter(household=household).values_list("unit_code", flat=True))
        assert residents <= {household.unit_code}


def assert_incidents_keep_the_units_of_their_generation(generations: set[int]):
    """The rule for incidents: they keep the units they had when reported, those of the generation they carry."""
    for incident in Incident.objects.all():
        assert incident.generation_id in generations, incident.number
        chain = units_for_point(point=incident.location, generation=incident.generation).chain
        assert (incident.grid_code, incident.unit_code) == (chain[-1].code, chain[-1].code), incident.number
        handling = incident.assigned_unit_code
        assert GridUnit.objects.filter(valid_at_q(incident.generation), code=handling).exists(), incident.number


def test_households_and_incidents_arriving_during_an_activation_land_in_cells_that_exist(
    redrawn, make_user, monkeypatch, tmp_path
):
    worker = make_user("grid_worker", units=[COMMUNITY], username="worker")
    for number, point in enumerate(MOVES, start=1):  # households there before: the activation moves them
        household_create(
            scope=scope_for_user(worker), location=_point(point), address=f"旧户{number}", ref=f"old{number}"
        )
    gate = Gate(drafts._reassign)
    monkeypatch.setattr(drafts, "_reassign", gate)
    answers: dict[str, object] = {}

    def activate():
        planner_api = api(redrawn["planner"])
        answers["activate"] = planner_api.post(
            f"/api/v1/drafts/{redrawn['draft'].pk}/activate/", {"confirm_warnings": True}, format="json"
        )

    def add_household(point, ref):
        answers[ref] = api(worker).post("/api/v1/households/", household_payload(point, ref), format="json")

    def add_incident(point, ref):
        payload = {
            "title": ref,
            "description": "路边占道经营。",
            "category": "E0401",
            "location": {"lon": point[0], "lat": point[1]},
            "source": "patrol",
        }
        answers[ref] = api(worker).post("/api/v1/incidents/", payload, format="json")

    def import_file():
        path = tmp_path / "households.csv"
        rows = [f"imp{n},东路{n}号,{lon},{lat}" for n, (lon, lat) in enumerate(MOVES, start=1)]
        path.write_text("household_ref,address,lon,lat\n" + "\n".join(rows) + "\n", encoding="utf-8")
        report = household_import(path=path, options=import_options(commit=True), scope=Scope.everything())
        answers["import"] = report.committed

    def add_resident(household, ref):
        payload = {"household": household.pk, "name": "王芳", "relation": "spouse"}
        answers[ref] = api(worker).post("/api/v1/residents/", payload, format="json")

    old = {number: Household.objects.get(ref=f"old{number}") for number in (1, 2, 3)}
    arriving = []
    for number, point in enumerate(MOVES, start=1):
        arriving.append(partial(add_resident, old[number], f"member{number}"))
        arriving.append(partial(add_household, point, f"new{number}"))
        arriving.append(partial(add_incident, point, f"case{number}"))
    arriving.append(import_file)
    # They arrive when the households of the changed areas are reassigned and the new grid is not committed.
    through_gate(gate, activate, arriving)

    assert answers.pop("activate").status_code == 200
    assert answers.pop("import") is True
    assert {ref: answer.status_code for ref, answer in answers.items()} == dict.fromkeys(answers, 201)
    assert generation_active().pk == redrawn["draft"].pk
    assert_households_in_the_active_grid()
    for number, (point, (_old, new)) in enumerate(MOVES.items(), start=1):
        assert Household.objects.get(ref=f"new{number}").grid_code == new, point
        assert Household.objects.get(ref=f"old{number}").grid_code == new, point
        assert Household.objects.get(ref=f"imp{number}").grid_code == new, point
    assert_incidents_keep_the_units_of_their_generation({redrawn["before"].pk, redrawn["draft"].pk})


def test_a_household_moved_while_an_activation_starts_neither_deadlocks_nor_keeps_an_old_cell(
    redrawn, make_user, monkeypatch
):
    from django.db.models.query import QuerySet

    worker = make_user("grid_worker", units=[COMMUNITY], username="worker")
    household = household_create(
        scope=scope_for_user(worker), location=_point((116.395, 39.915)), address="东路1号", ref="moving"
    )
    # The move stops right after locking the household's row; the activation then starts.
    gate = Gate(
        QuerySet.get, when=lambda queryset, *a, **k: queryset.model is Household and queryset.query.select_for_update
    )
    monkeypatch.setattr(QuerySet, "get", lambda queryset, *args, **kwargs: gate(queryset, *args, **kwargs))
    answers = {}

    def move():
        payload = {"location": {"lon": 116.385, "lat": 39.905}}
        answers["move"] = api(worker).patch(f"/api/v1/households/{household.pk}/", payload, format="json")

    def activate():
        answers["activate"] = api(redrawn["planner"]).post(
            f"/api/v1/drafts/{redrawn['draft'].pk}/activate/", {"confirm_warnings": True}, format="json"
        )

    through_gate(gate, move, [activate])

    assert answers["move"].status_code == 200, answers["move"].content
    assert answers["activate"].status_code == 200, answers["activate"].content
    assert Household.objects.get(pk=household.pk).grid_code == f"{COMMUNITY}003"
    assert_households_in_the_active_grid()


def test_incidents_arriving_in_parallel_with_an_activation_are_all_taken_in(redrawn, make_user):
    worker = make_user("grid_worker", units=[COMMUNITY], username="worker")
    done = threading.Event()
    statuses: list[int] = []
    after: list[str] = []

    def keep_reporting(point, number):
        client = api(worker)
        for count in range(1, 1000):
            finished = done.is_set()  # this round starts after the activation answered
            title = f"并发{number}-{count}"
            payload = {
                "title": title,
                "description": "井盖缺失。",
                "category": "E0401",
                "location": {"lon": point[0], "lat": point[1]},
                "source": "patrol",
            }
            statuses.append(client.post("/api/v1/incidents/", payload, format="json").status_code)
            household = household_payload(point, f"p{number}-{count}")
            statuses.append(client.post("/api/v1/households/", household, format="json").status_code)
            if finished:
                after.append(title)
                return

    reporters = [in_thread(keep_reporting, point, number) for number, point in enumerate(MOVES)]
    planner_api = api(redrawn["planner"])
    activated = planner_api.post(
        f"/api/v1/drafts/{redrawn['draft'].pk}/activate/", {"confirm_warnings": True}, format="json"
    )
    done.set()
    for thread in reporters:
        thread.join()

    assert activated.status_code == 200, activated.content
    assert len(statuses) > 2 * len(MOVES) and set(statuses) == {201}
    assert_households_in_the_active_grid()
    assert_incidents_keep_the_units_of_their_generation({redrawn["before"].pk, redrawn["draft"].pk})
    # Reports sent after the activation answered are in the new grid.
    assert len(after) == len(MOVES)
    assert set(Incident.objects.filter(title__in=after).values_list("generation", flat=True)) == {redrawn["draft"].pk}
