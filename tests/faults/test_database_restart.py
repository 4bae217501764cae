"""
PostgreSQL restarted (fast and immediate) under the real app: the requests caught answer 503 with the
API's error shape, the app recovers without being restarted, and no write is lost or half-written.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import uuid

import psycopg
import pytest

from tests.faults.conftest import Answer, LiveApp

pytestmark = pytest.mark.slow

WEST = {"lon": 116.385, "lat": 39.905}
READS = (
    "/api/v1/incidents/?page_size=5",
    "/api/v1/locate/?lon=116.385&lat=39.905",
    "/api/v1/units/110101001001/",
)


def report(app: LiveApp, marker: str) -> Answer:
    return app.request(
        "POST",
        "/api/v1/incidents/",
        {"title": marker, "description": "路边占道经营。", "category": "E0401", "location": WEST, "source": "patrol"},
    )


def assert_unavailable(answer: Answer) -> None:
    assert answer.status == 503, answer
    assert answer.body["error"]["code"] == "database_unavailable", answer
    assert answer.body["error"]["message"] and answer.body["error"]["fields"] == {}
    assert int(answer.headers["Retry-After"]) > 0


def assert_all_served(app: LiveApp) -> None:
    """A round of reads and a write, several at once so both workers take part: every one succeeds."""
    answers: list[Answer] = []

    def fire(path: str) -> None:
        answers.append(app.request("GET", path))

    threads = [threading.Thread(target=fire, args=(path,)) for path in READS * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    marker = f"after-{uuid.uuid4().hex[:8]}"
    written = report(app, marker)
    assert [a.status for a in answers] == [200] * len(answers), [a for a in answers if a.status != 200]
    assert written.status == 201, written
    assert marker in incidents_by_title(app)


def incidents_by_title(app: LiveApp) -> dict[str, list[dict]]:
    """Every incident in the database, by title, with what the app writes together with it."""
    with app.cluster.connect() as conn:
        rows = conn.execute(
            "SELECT i.title, i.number, i.unit_code,"
            " (SELECT count(*) FROM incidents_incidentevent e WHERE e.incident_id = i.id AND e.action = 'report'),"
            " (SELECT count(*) FROM incidents_incidentevent e WHERE e.incident_id = i.id),"
            " EXISTS (SELECT 1 FROM layers_hexagon h WHERE h.cell = i.h3)"
            " FROM incidents_incident i"
        ).fetchall()
    found: dict[str, list[dict]] = {}
    for title, number, unit_code, reports, events, hexagon in rows:
        found.setdefault(title, []).append(
            {"number": number, "unit_code": unit_code, "reports": reports, "events": events, "hexagon": hexagon}
        )
    return found


def assert_whole(incident: dict) -> None:
    """What incident_create writes in one transaction is all there: the row, its report event, its hexagon."""
    assert incident["reports"] == incident["events"] == 1, incident
    assert incident["hexagon"] and incident["unit_code"] == "110101001001001", incident


def wait_for_waiting_backends(app: LiveApp, holder_pid: int, count: int) -> None:
    """Until `count` of the app's statements are waiting for the lock `holder_pid` holds: they are mid-request."""
    deadline = time.monotonic() + 30
    with app.cluster.connect() as conn:
        while True:
            waiting = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", [holder_pid]
            ).fetchone()[0]
            if waiting >= count:
                return
            assert time.monotonic() < deadline, "the app's requests never reached the database"
            time.sleep(0.05)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_requests_inside_a_statement_when_the_server_restarts_answer_503(live_app, mode):
    assert_all_served(live_app)  # both workers hold a connection now
    marker = f"caught-{mode}-{uuid.uuid4().hex[:8]}"
    holder = live_app.cluster.connect(autocommit=False)
    holder.execute("LOCK TABLE incidents_incident IN ACCESS EXCLUSIVE MODE")
    answers: dict[str, Answer] = {}
    threads = [
        threading.Thread(target=lambda: answers.__setitem__("write", report(live_app, marker))),
        threading.Thread(target=lambda: answers.__setitem__("read", live_app.request("GET", READS[0]))),
    ]
    for thread in threads:
        thread.start()
    # One request per worker, each inside its statement (a write in its transaction), held by the lock.
    wait_for_waiting_backends(live_app, holder.info.backend_pid, 2)
    live_app.cluster.restart(mode)
    for thread in threads:
        thread.join()
    with contextlib.suppress(psycopg.Error):  # the restart cut it
        holder.close()

    assert_unavailable(answers["write"])
    assert_unavailable(answers["read"])
    assert marker not in incidents_by_title(live_app)  # rolled back with the server's restart
    # The server is back: the workers' dead connections are replaced, no request fails, no restart of the app.
    assert_all_served(live_app)
    assert live_app.server.poll() is None


def test_while_the_server_is_down_every_request_answers_503_and_then_recovers(live_app):
    assert_all_served(live_app)
    live_app.cluster.stop("fast")
    try:
        marker = f"down-{uuid.uuid4().hex[:8]}"
        for path in READS:
            assert_unavailable(live_app.request("GET", path))
        assert_unavailable(report(live_app, marker))
        health = live_app.request("GET", "/healthz")
        assert health.status == 503 and health.body["database"] == "unreachable"
    finally:
        live_app.cluster.start()
    assert_all_served(live_app)
    assert marker not in incidents_by_title(live_app)


def test_traffic_through_restarts_is_answered_2xx_or_503_and_no_write_is_lost_or_half_written(live_app):
    assert_all_served(live_app)
    stop = threading.Event()
    outcomes: list[tuple[str, str, Answer | Exception]] = []
    counter = itertools.count()

    def client(number: int) -> None:
        kinds = itertools.cycle(["write", *READS] if number % 2 else [*READS, "write"])
        while not stop.is_set():
            kind = next(kinds)
            marker = f"storm-{next(counter)}-{uuid.uuid4().hex[:6]}"
            try:
                answer = report(live_app, marker) if kind == "write" else live_app.request("GET", kind)
            except Exception as exc:  # a timeout or a dropped connection: recorded, and fails the test below
                answer = exc
            outcomes.append((kind, marker, answer))

    clients = [threading.Thread(target=client, args=(number,)) for number in range(4)]
    for thread in clients:
        thread.start()
    try:
        time.sleep(1.0)
        live_app.cluster.restart("fast")
        time.sleep(1.0)
        live_app.cluster.restart("immediate")
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in clients:
            thread.join()

    failures = [(kind, answer) for kind, _marker, answer in outcomes if not isinstance(answer, Answer)]
    assert not failures, failures[:5]
    statuses = {answer.status for _kind, _marker, answer in outcomes}
    unexpected = [(kind, answer) for kind, _marker, answer in outcomes if answer.status not in (200, 201, 503)]
    assert statuses <= {200, 201, 503}, (unexpected[:5], live_app.log_tail())
    for _kind, _marker, answer in outcomes:
        if answer.status == 503:
            assert_unavailable(answer)
    assert_all_served(live_app)

    stored = incidents_by_title(live_app)
    for incidents in stored.values():
        for incident in incidents:
            assert_whole(incident)
    writes = [(marker, answer) for kind, marker, answer in outcomes if kind == "write"]
    assert writes
    for marker, answer in writes:
        if answer.status == 201:
            # Answered as written: it is there, once, with the number the client was given.
            assert [i["number"] for i in stored.get(marker, [])] == [answer.body["number"]], marker
        else:
            # Answered 503: written whole (the commit went through before the connection was cut) or not at all.
            assert len(stored.get(marker, [])) <= 1, marker
