"""Indicator values checked against hand-computed expectations on small fixtures; refresh; scoring."""

import datetime as dt

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from accounts.selectors import scope_for_user
from assessment.models import KpiValue, Scheme, SchemeItem
from assessment.periods import Period, parse_period, period_containing
from assessment.selectors import competition_ranks, item_score, scheme_scores, score_values, unit_report
from assessment.services import compute_period, kpi_refresh, kpi_refresh_period
from core.scope import Scope
from incidents.models import Category
from incidents.services import incident_create, incident_transition, visit_log_create

pytestmark = pytest.mark.django_db

ZONE = timezone.get_current_timezone()
OCTOBER = Period("month", dt.date(2026, 10, 1))


def at(day, hour=9) -> dt.datetime:
    return dt.datetime(2026, 10, day, hour, tzinfo=ZONE)


WEST_POINT = Point(116.385, 39.905, srid=4326)


def case(staff, *, day, category="E0402", point=WEST_POINT, source="hotline", steps=()):
    """An incident reported on an October day, then taken through (action, hours after report, extra)."""
    admin = staff["admin"]
    incident = incident_create(
        scope=Scope.everything(),
        actor=None if source == "hotline" else staff["worker"],
        title="t",
        description="d",
        category=Category.objects.get(code=category),
        location=point,
        source=source,
        reported_at=at(day),
    )
    for action, hours, extra in steps:
        incident = incident_transition(
            scope=scope_for_user(admin),
            actor=admin,
            incident_id=incident.pk,
            action=action,
            note="n",
            reason="r",
            now=at(day) + dt.timedelta(hours=hours),
            **extra,
        )
    return incident


def values(rows, subject):
    return next(r.values for r in rows if r.subject == subject)


def test_incident_indicators_match_a_hand_count(staff, population):
    # E0402 (street trading): accept within 1 h, dispatch within 2 h, resolve within 24 h.
    full = [("accept", 0.5, {}), ("dispatch", 1.0, {"assignee": staff["worker"]}), ("start", 2, {})]
    case(staff, day=3, steps=[*full, ("resolve", 10, {}), ("evaluate", 12, {"satisfaction": 5})])  # on time
    case(
        staff,
        day=5,
        steps=[
            ("accept", 3, {}),
            ("dispatch", 4, {}),
            ("start", 5, {}),
            ("resolve", 40, {}),
            ("evaluate", 41, {"satisfaction": 2}),
        ],
    )  # late at every step
    case(
        staff,
        day=7,
        source="patrol",
        steps=[*full, ("escalate", 3, {}), ("dispatch", 4, {}), ("start", 5, {}), ("resolve", 20, {})],
    )
    case(staff, day=9, steps=[("accept", 0.2, {})])  # still waiting for dispatch
    case(staff, day=9, point=Point(116.41, 39.93, srid=4326))  # the east street
    case(staff, day=3, steps=[("accept", 0.5, {})])
    rows = compute_period(OCTOBER, now=at(31, 23))
    west = values(rows, "110101001001001")
    assert west["incidents_reported"] == 5 and west["incidents_found"] == 1 and west["incidents_from_residents"] == 4
    assert west["incidents_accepted"] == 5 and west["incidents_resolved"] == 3
    # Accepted within an hour: days 3, 7, 9 and the second day-3 case; day 5 (3 h) late: 4 of 5.
    assert west["accept_on_time"] == 0.8
    # Dispatched within 2 h of acceptance: day 3 (0.5 h) and day 5 (1 h after accepting at 3 h); day 7 was
    # dispatched again after its escalation, 3.5 h after acceptance: late; the day-9 and second day-3 cases
    # were accepted long before the end of the month and never dispatched: late too.
    assert west["dispatch_on_time"] == 0.4
    # Resolved within 24 h of dispatch: day 3 (9 h) and day 7 (16 h after its last dispatch); day 5: 36 h.
    assert west["resolve_on_time"] == round(2 / 3, 4)
    assert west["median_hours_to_resolve"] == 20.0  # of 10, 20 and 40 hours
    assert west["p90_hours_to_resolve"] == 36.0  # linear interpolation between 20 and 40
    assert west["escalation_rate"] == 0.2 and west["reopen_rate"] == 0.0
    assert west["satisfied_share"] == 0.5 and west["mean_satisfaction"] == 3.5
    assert west["evaluation_rate"] == round(2 / 3, 4)
    # The whole west street and the city see the same west cases; the city adds the east one.
    assert values(rows, "110101001")["incidents_reported"] == 5
    assert values(rows, "110100")["incidents_reported"] == 6
    # Open now (at the end of October): the day-9 and second day-3 cases, both past their dispatch deadline.
    assert west["open_incidents"] == 2 and west["overdue_incidents"] == 2
    assert west["incidents_per_1000_residents"] == 1666.67  # 5 cases, the cell's 3 residents
    assert values(rows, "110101001001")["incidents_per_1000_residents"] == 1250.0  # 5 cases, 4 residents
    empty = values(rows, "110101001002002")
    assert empty["incidents_reported"] == 0 and empty["accept_on_time"] is None
    assert empty["median_hours_to_resolve"] is None and empty["satisfied_share"] is None


def test_an_empty_period_has_zero_counts_and_no_rates(staff, population):
    case(staff, day=3, steps=[("accept", 0.5, {})])
    rows = compute_period(Period("month", dt.date(2025, 1, 1)), now=at(31))
    city = values(rows, "110100")
    assert city["incidents_reported"] == 0 and city["visits"] == 0
    assert city["accept_on_time"] is None and city["mean_satisfaction"] is None
    assert city["days_since_last_visit"] is None


def test_visit_and_basic_data_indicators(staff, population):
    worker = staff["worker"]
    west = population["west"]
    visit_log_create(
        scope=scope_for_user(worker),
        worker=worker,
        visited_at=at(10),
        location=west.location,
        discussion="走访",
        households=[west],
    )
    visit_log_create(
        scope=scope_for_user(worker),
        worker=worker,
        visited_at=at(20),
        location=west.location,
        discussion="再访",
        households=[west],
    )
    rows = compute_period(OCTOBER, now=at(25))
    cell = values(rows, "110101001001001")  # the west household's cell; west2 lies in cell 002
    assert cell["visits"] == 2 and cell["visit_coverage"] == 1.0 and cell["days_since_last_visit"] == 5.0
    community = values(rows, "110101001001")
    assert community["visit_coverage"] == 0.5  # 1 of its 2 households
    # Residents complete (ID, gender, birth date, phone): only the head of H001 among the 4 west residents.
    assert community["resident_completeness"] == 0.25
    assert community["household_completeness"] == 1.0 and community["data_freshness"] == 1.0
    assert community["unassigned_points"] == 0
    assert community["households"] == 2 and community["residents"] == 4
    # 0.02° x 0.02° at latitude 39.91: about 1.71 km x 2.22 km = 3.79 km².
    assert community["residents_per_km2"] == pytest.approx(4 / 3.79, abs=0.06)  # kept to one decimal
    assert community["tag_elderly_alone"] == 1 and community["tag_rented_out"] == 1
    assert "tag_veteran" not in community
    no_households = values(rows, "110101001002002")
    assert no_households["visit_coverage"] is None and no_households["resident_completeness"] is None
    person = values(rows, str(worker.pk))
    assert person["visits"] == 2 and person["days_since_last_visit"] == 5.0
    assert person["visit_coverage"] == 0.5  # the worker's community holds 2 households


def test_refresh_recomputes_only_the_periods_that_changed(staff, population):
    case(staff, day=3)
    refreshed = kpi_refresh(kinds=("month",), now=at(31))
    assert str(OCTOBER) in refreshed, refreshed
    october = KpiValue.objects.get(period_kind="month", period_start=OCTOBER.start, subject="110100")
    assert october.values["incidents_reported"] == 1
    old_stamp = october.computed_at
    this_month = period_containing("month", timezone.localdate())
    case(staff, day=4)
    refreshed = kpi_refresh(kinds=("month",))
    assert str(OCTOBER) in refreshed and str(this_month) in refreshed
    october = KpiValue.objects.get(period_kind="month", period_start=OCTOBER.start, subject="110100")
    assert october.values["incidents_reported"] == 2 and october.computed_at > old_stamp
    september = Period("month", dt.date(2026, 9, 1))
    assert str(september) not in refreshed
    assert kpi_refresh(kinds=("month",)) == {str(this_month): refreshed[str(this_month)]}  # nothing new


def test_periods_parse_and_step_back():
    assert str(parse_period("month:2026-10")) == "month:2026-10"
    assert parse_period("week:2026-W01").start == dt.date(2025, 12, 29)
    assert parse_period("quarter:2026-Q1").previous == Period("quarter", dt.date(2025, 10, 1))
    assert Period("month", dt.date(2026, 12, 1)).end == dt.date(2027, 1, 1)
    assert Period("year", dt.date(2026, 1, 1)).previous.label == "2025"
    with pytest.raises(ValueError):
        parse_period("month:2026-13")
    with pytest.raises(ValueError):
        parse_period("fortnight:2026-1")


@pytest.mark.parametrize(
    ("value", "floor", "target", "points"),
    [
        (0.95, 0.5, 0.95, 100.0),
        (0.5, 0.5, 0.95, 0.0),
        (0.725, 0.5, 0.95, 50.0),
        (1.2, 0.5, 0.95, 100.0),
        (0.1, 0.5, 0.95, 0.0),
        (12, 96, 12, 100.0),
        (54, 96, 12, 50.0),
        (200, 96, 12, 0.0),
        (None, 0, 1, None),
    ],
)
def test_item_scores_are_linear_and_capped_in_both_directions(value, floor, target, points):
    assert item_score(value, floor, target) == points


def test_scheme_scores_rank_trend_and_explain(staff, population, small_city):
    scheme = Scheme.objects.create(name="test", subject_kind="unit", level=5, period_kind="month")
    SchemeItem.objects.create(scheme=scheme, indicator="resolve_on_time", weight=3, floor=0.5, target=1.0)
    SchemeItem.objects.create(scheme=scheme, indicator="satisfied_share", weight=1, floor=0, target=1)
    SchemeItem.objects.create(scheme=scheme, indicator="visits", weight=1, floor=0, target=4)
    score, items = score_values(scheme, {"resolve_on_time": 0.75, "satisfied_share": None, "visits": 4})
    assert score == 62.5  # (3 x 50 + 1 x 100) / 4: the item without data is left out
    assert [i["lost"] for i in items] == [37.5, 0, 0.0]
    assert score_values(scheme, {})[0] is None

    full = [("accept", 0.5, {}), ("dispatch", 1.0, {}), ("start", 2, {})]
    case(staff, day=3, steps=[*full, ("resolve", 10, {})])
    case(staff, day=4, point=Point(116.395, 39.91, srid=4326), steps=[*full, ("resolve", 60, {})])
    case(staff, day=4, point=Point(116.383, 39.93, srid=4326), steps=[*full, ("resolve", 10, {})])
    september = Period("month", dt.date(2026, 9, 1))
    kpi_refresh_period(september, now=at(31))
    kpi_refresh_period(OCTOBER, now=at(31))
    scores = {s.subject: s for s in scheme_scores(scope=Scope.everything(), scheme=scheme, period=OCTOBER)}
    first, second = scores["110101001001001"], scores["110101001001002"]
    # On time (100) and no visits (0): (3 x 100 + 1 x 0) / 4; the late one scores 0 on both.
    assert first.score == 75.0 and second.score == 0.0
    assert first.rank == 1 and second.rank == 2 and first.peers == 2
    assert second.explanation()[0]["indicator"] == "resolve_on_time"
    assert first.previous == 0.0 and first.trend == 75.0  # September: no visits and no cases resolved
    other = scores["110101001002001"]
    assert other.rank == 1 and other.peers == 2  # another community: its own peer group
    assert scores["110101001002002"].score == 0.0 and scores["110101001002002"].rank == 2


def test_competition_ranks_share_equal_places():
    assert competition_ranks([(5, "a"), (7, "b"), (7, "c"), (1, "d")], best_high=True) == {
        "b": 1,
        "c": 1,
        "a": 3,
        "d": 4,
    }
    assert competition_ranks([(5, "a"), (7, "b")], best_high=False) == {"a": 1, "b": 2}


def test_unit_report_has_trend_and_rank(staff, population):
    case(staff, day=3, steps=[("accept", 0.5, {})])
    kpi_refresh_period(Period("month", dt.date(2026, 9, 1)), now=at(31))
    kpi_refresh_period(OCTOBER, now=at(31))
    report = unit_report(scope=Scope.everything(), code="110101001001", period=OCTOBER)
    assert report.values["incidents_reported"] == 1 and report.previous["incidents_reported"] == 0
    assert report.peers == 2 and report.ranks["accept_on_time"] == 1
