"""The incident workflow: routing, every allowed and refused transition per role, deadlines, escalation."""

import datetime as dt
import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from accounts.models import Department
from accounts.selectors import scope_for_user
from core.errors import ApiError
from core.scope import Scope
from incidents.models import Category, Incident, IncidentEvent, Notification, RoutingRule, Status
from incidents.services import escalate_overdue, incident_transition, route
from incidents.workflow import ACTIONS, allowed_from
from tests.incidents.conftest import EAST_CELL, WEST_CELL

pytestmark = pytest.mark.django_db


def act(staff, who, incident, action, **kwargs):
    user = staff[who]
    return incident_transition(scope=scope_for_user(user), actor=user, incident_id=incident.pk, action=action, **kwargs)


def test_routing_takes_the_most_specific_rule(small_city):
    stalls = Category.objects.get(code="E0402")  # street order: the street handles it
    decision = route(category=stalls, unit_code="110101001001001")
    assert decision.unit_code == "110101001" and decision.department.code == "urban-management"
    collapse = Category.objects.get(code="E0501")  # emergencies: the district, with emergency management
    decision = route(category=collapse, unit_code="110101001001001")
    assert decision.unit_code == "110101" and decision.department.code == "emergency-management"
    manhole = Category.objects.get(code="C0101")  # a component: owned by water affairs
    decision = route(category=manhole, unit_code="110101001001001")
    assert decision.department.code == "water-affairs" and decision.basis == "owner"
    # A rule for one street only, more specific than the family rule.
    RoutingRule.objects.create(category=stalls, under="110101002", level=5, basis="locality")
    assert route(category=stalls, unit_code="110101002001001").unit_code == "110101002001001"
    assert route(category=stalls, unit_code="110101001001001").unit_code == "110101001"


def test_intake_sets_units_routing_deadline_and_timeline(report):
    incident = report(category="E0402")
    assert incident.status == Status.REPORTED and len(incident.number) == 8
    assert incident.grid_code == incident.unit_code == "110101001001001"
    assert incident.assigned_unit_code == "110101001" and incident.assigned_department.code == "urban-management"
    assert incident.due_at == incident.reported_at + dt.timedelta(hours=1)  # acceptance within an hour
    assert incident.generation_id is not None
    event = incident.events.get()
    assert event.action == "report" and event.to_status == "reported" and event.data["routed_to"] == "110101001"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"point": __import__("django.contrib.gis.geos", fromlist=["Point"]).Point(117, 41, srid=4326)}, "location"),
        ({"point": EAST_CELL}, "location"),  # outside the worker's cells
        ({"description": "   "}, "description"),
        ({"category": "E04"}, "category"),  # a major class: choose a minor one
    ],
)
def test_bad_intake_is_refused_and_writes_nothing(report, changes, field):
    with pytest.raises(ValidationError) as error:
        report(**changes)
    assert field in error.value.message_dict
    assert Incident.objects.count() == 0


def walk(staff, incident):
    """The whole happy path, returning the incident at each status."""
    seen = [incident.status]
    for who, action, kwargs in [
        ("dispatcher", "accept", {}),
        ("dispatcher", "dispatch", {"assignee": staff["worker"]}),
        ("worker", "start", {}),
        ("worker", "resolve", {"note": "已劝离"}),
        ("dispatcher", "evaluate", {"satisfaction": 5, "note": "满意"}),
        ("dispatcher", "close", {}),
    ]:
        incident = act(staff, who, incident, action, **kwargs)
        seen.append(incident.status)
    return incident, seen


def test_the_whole_workflow(staff, report):
    incident, seen = walk(staff, report(category="E0402"))
    assert seen == ["reported", "accepted", "dispatched", "in_progress", "resolved", "evaluated", "closed"]
    assert incident.satisfaction == 5 and incident.closed_at and incident.version == 7
    timeline = list(incident.events.values_list("action", "from_status", "to_status"))
    assert timeline[1:] == [
        ("accept", "reported", "accepted"),
        ("dispatch", "accepted", "dispatched"),
        ("start", "dispatched", "in_progress"),
        ("resolve", "in_progress", "resolved"),
        ("evaluate", "resolved", "evaluated"),
        ("close", "evaluated", "closed"),
    ]
    assert Notification.objects.filter(recipient=staff["worker"], kind="dispatched").exists()


@pytest.mark.parametrize("status", Status.values)
def test_every_action_outside_its_sources_is_refused_with_409(staff, report, status, django_assert_num_queries):
    incident = report(category="E0402")
    other = report(category="E0402")
    Incident.objects.filter(pk=incident.pk).update(status=status, merged_into=other if status == "merged" else None)
    for name, action in ACTIONS.items():
        if status in action.sources:
            continue
        with pytest.raises(ApiError) as error:
            act(staff, "admin", incident, name, reason="x", note="x", satisfaction=3, target=incident)
        assert error.value.status_code == 409
        assert error.value.fields["allowed"] == allowed_from(status)
    assert Incident.objects.get(pk=incident.pk).status == status


# Who may take each action on a case reported in the west street and handled by it (urban management).
MATRIX = {
    "accept": {
        "dispatcher": True,
        "district_dispatcher": True,
        "east_dispatcher": False,
        "worker": False,
        "leader": False,
        "viewer": False,
        "department": False,
    },
    "dispatch": {"dispatcher": True, "east_dispatcher": False, "worker": False, "leader": False, "department": False},
    "start": {"worker": True, "department": True, "dispatcher": False, "leader": False, "viewer": False},
    "resolve": {"worker": True, "department": True, "leader": False, "viewer": False},
    "escalate": {"dispatcher": True, "worker": False, "leader": False},
    "supervise": {"leader": True, "viewer": False, "worker": False},
    "evaluate": {"dispatcher": True, "worker": False, "viewer": False},
    "close": {"dispatcher": True, "worker": False, "leader": False},
}
SETUP = {  # the status each action starts from, and how the case got there
    "accept": [],
    "dispatch": ["accept"],
    "start": ["accept", "dispatch"],
    "resolve": ["accept", "dispatch", "start"],
    "escalate": ["accept"],
    "supervise": [],
    "evaluate": ["accept", "dispatch", "start", "resolve"],
    "close": ["accept", "dispatch", "start", "resolve"],
}


@pytest.mark.parametrize(
    ("action", "who", "allowed"), [(a, w, ok) for a, roles in MATRIX.items() for w, ok in roles.items()]
)
def test_permission_matrix(staff, report, action, who, allowed):
    incident = report(category="E0402")
    for step in SETUP[action]:
        extra = {"assignee": staff["worker"]} if step == "dispatch" and who == "worker" else {}
        incident = act(staff, "admin", incident, step, note="ok", **extra)
    kwargs = {"note": "ok", "reason": "ok", "satisfaction": 4}
    if allowed:
        after = act(staff, who, incident, action, **kwargs)
        assert after.version == incident.version + 1
    else:
        with pytest.raises(PermissionDenied):
            act(staff, who, incident, action, **kwargs)
        assert Incident.objects.get(pk=incident.pk).version == incident.version


def test_reject_merge_return_reopen_and_their_reasons(staff, report):
    first = report(category="E0402")
    second = report(category="E0402", description="又有人占道经营。")
    with pytest.raises(ValidationError, match="reason"):
        act(staff, "dispatcher", second, "reject")
    merged = act(staff, "dispatcher", second, "merge", target=first)
    assert merged.status == "merged" and merged.merged_into == first
    with pytest.raises(ValidationError):
        act(staff, "dispatcher", first, "merge", target=first)

    third = report(category="E0402")
    act(staff, "dispatcher", third, "accept")
    act(staff, "dispatcher", third, "dispatch", assignee=staff["worker"])
    returned = act(staff, "worker", third, "return", reason="不属于本网格")
    assert returned.status == "returned" and returned.assignee is None
    act(staff, "dispatcher", third, "dispatch", assignee=staff["worker"])
    act(staff, "worker", third, "start")
    act(staff, "worker", third, "resolve", note="处理完毕")
    reopened = act(staff, "dispatcher", third, "reopen", reason="居民不满意")
    assert reopened.status == "dispatched" and reopened.reopen_count == 1 and reopened.resolved_at is None


def test_escalation_goes_up_one_level_at_a_time(staff, report):
    incident = report(category="E0402")
    act(staff, "admin", incident, "accept")
    levels = []
    for _ in range(2):
        incident = act(staff, "admin", incident, "escalate")
        levels.append(incident.assigned_unit_code)
        incident = act(staff, "admin", incident, "dispatch")
    assert levels == ["110101", "110100"]
    with pytest.raises(ApiError, match="city"):
        act(staff, "admin", incident, "escalate")


def test_dispatch_only_inside_the_dispatchers_jurisdiction(staff, report):
    incident = report(category="E0402")
    act(staff, "dispatcher", incident, "accept")
    with pytest.raises(ValidationError) as error:
        act(staff, "dispatcher", incident, "dispatch", unit_code="110101002001")
    assert "unit" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        act(staff, "dispatcher", incident, "dispatch", assignee=staff["east_dispatcher"])
    assert "assignee" in error.value.message_dict


def test_a_stale_version_is_a_409_and_changes_nothing(staff, report):
    incident = report(category="E0402")
    act(staff, "dispatcher", incident, "accept", version=incident.version)
    with pytest.raises(ApiError) as error:
        act(staff, "dispatcher", incident, "dispatch", version=incident.version)  # the version read before accept
    assert error.value.status_code == 409 and error.value.fields["status"] == ["accepted"]
    assert Incident.objects.get(pk=incident.pk).status == "accepted"


@pytest.mark.django_db(transaction=True)
def test_two_people_acting_at_once_one_wins_and_the_other_gets_409(small_city, make_user):
    from incidents.services import incident_create

    dispatchers = [make_user("dispatcher", units=["110101001"], username=f"d{i}") for i in range(2)]
    incident = incident_create(
        scope=scope_for_user(dispatchers[0]),
        actor=dispatchers[0],
        title="x",
        description="占道",
        category=Category.objects.get(code="E0402"),
        location=WEST_CELL,
        source="hotline",
    )
    barrier = threading.Barrier(2)
    outcomes = []

    def attempt(user, action, kwargs):
        try:
            barrier.wait()
            incident_transition(
                scope=scope_for_user(user), actor=user, incident_id=incident.pk, action=action, **kwargs
            )
            outcomes.append((action, "ok"))
        except ApiError as exc:
            outcomes.append((action, exc.status_code))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=attempt, args=(dispatchers[0], "accept", {})),
        threading.Thread(target=attempt, args=(dispatchers[1], "reject", {"reason": "重复"})),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted((str(result) for _action, result in outcomes)) == ["409", "ok"]
    winner = next(action for action, result in outcomes if result == "ok")
    final = Incident.objects.get(pk=incident.pk)
    assert final.status == {"accept": "accepted", "reject": "rejected"}[winner] and final.version == 2
    assert IncidentEvent.objects.filter(incident=final).count() == 2  # the report and the winner: nothing lost


def test_overdue_incidents_escalate_with_a_frozen_clock(staff, report):
    reported = timezone.now() - dt.timedelta(hours=10)
    incident = report(category="E0402", at=reported)  # due for acceptance within 1 hour
    act(staff, "dispatcher", incident, "accept", now=reported + dt.timedelta(minutes=30))
    incident.refresh_from_db()
    assert incident.due_at == reported + dt.timedelta(minutes=30, hours=2)  # dispatch within 2 hours
    assert escalate_overdue(now=reported + dt.timedelta(hours=2)) == 0  # not yet due
    assert escalate_overdue(now=reported + dt.timedelta(hours=3)) == 1
    incident.refresh_from_db()
    assert incident.status == "escalated" and incident.assigned_unit_code == "110101"
    assert incident.events.last().actor is None and "Overdue" in incident.events.last().note
    # The leaders above the new handling unit are told, once.
    assert not Notification.objects.filter(kind="overdue", recipient=staff["leader"]).exists()  # a street leader
    assert escalate_overdue(now=reported + dt.timedelta(hours=4)) == 0


def test_the_deadline_job_tells_the_supervisors(staff, report, make_user):
    district_leader = make_user("district_leader", units=["110101"], username="district-boss")
    reported = timezone.now() - dt.timedelta(hours=10)
    incident = report(category="E0402", at=reported)
    escalate_overdue(now=reported + dt.timedelta(hours=2))
    incident.refresh_from_db()
    assert incident.status == "reported" and incident.overdue_notified_at is not None  # nothing to escalate from
    assert Notification.objects.filter(kind="overdue", recipient__in=[staff["leader"], district_leader]).count() == 2


def test_department_staff_see_only_their_departments_incidents(staff, report):
    from incidents.selectors import incident_list

    stalls = report(category="E0402")  # urban management
    vendors = report(category="E0401")  # market supervision
    seen = set(incident_list(scope=scope_for_user(staff["department"])))
    assert stalls in seen and vendors not in seen
    assert set(incident_list(scope=Scope.everything())) == {stalls, vendors}
    assert Department.objects.get(code="market-supervision") == vendors.assigned_department
