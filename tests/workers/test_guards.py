"""Tasks delivered twice, or while another worker holds their work, do that work once."""

import threading

import psycopg
import pytest
from auditlog.models import LogEntry
from celery.exceptions import Retry
from django.db import connection, connections
from django.utils import timezone

from accounts.selectors import scope_for_user
from assessment import services as assessment_services
from assessment.models import KpiValue
from assessment.periods import period_containing
from boundaries import drafts
from boundaries.tasks import draft_activate_task
from messaging import services as messaging_services
from messaging.models import Broadcast, Message
from messaging.tasks import message_deliver_task
from residents.models import AttentionTag, ImportJob, Resident
from residents.tasks import run_household_import
from tests.conftest import client_of
from tests.messaging.conftest import outbox, sms_settings  # noqa: F401  (fixtures)
from tests.workers.conftest import wait_for

WEST_ELDER, WEST_SON, EAST_PHONE = "13812345678", "13900001111", "13700002222"  # the population fixture's phones


def events(name: str) -> int:
    return LogEntry.objects.filter(additional_data__event=name).count()


@pytest.fixture
def other_session():
    """A second database session, as another worker's."""
    db = connection.settings_dict
    session = psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"],
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        autocommit=True,
    )
    yield session
    session.close()


@pytest.mark.django_db
def test_a_message_whose_lock_another_worker_holds_is_not_sent_but_retried(population, outbox, other_session):  # noqa: F811
    message = messaging_services.message_queue(
        phone=WEST_ELDER, text="通知", kind=Message.Kind.NOTIFICATION, deliver_later=False
    )
    other_session.execute("SELECT pg_advisory_lock(hashtext('sms-message'), hashtext(%s))", [str(message.pk)])
    with pytest.raises(Retry):
        message_deliver_task.run(message.pk)
    assert outbox() == []
    other_session.execute("SELECT pg_advisory_unlock_all()")
    assert message_deliver_task.run(message.pk) == "sent"
    assert message_deliver_task.run(message.pk) == "sent"  # delivered again: nothing more goes out
    assert [sms["id"] for sms in outbox()] == [str(message.pk)]


@pytest.mark.django_db
def test_a_broadcast_resumed_after_a_lost_worker_sends_what_was_left_once_and_counts_all(
    population,
    make_user,
    outbox,  # noqa: F811
):
    # Regression: a message stored but not yet handed over when the worker was lost stayed queued for
    # ever (its number counted as done), and the counts only covered the resumed run.
    elderly = AttentionTag.objects.get(code="elderly_alone")
    for name in ("赵敏", "李明"):
        Resident.objects.get(name=name).tags.add(elderly)
    author = make_user("city_leader", ["110100"], username="author")
    broadcast = Broadcast.objects.create(
        text="今晚降温。", tag=elderly, unit_code="110100", created_by=author, state=Broadcast.State.SENDING
    )
    residents = {r.phone: r for r in Resident.objects.filter(tags=elderly)}
    for phone in (WEST_ELDER, WEST_SON):  # the first run: one message sent, the next one stored, then lost
        messaging_services.message_queue(
            phone=phone,
            text=broadcast.text,
            kind=Message.Kind.BROADCAST,
            broadcast=broadcast,
            resident=residents[phone],
            unit_code=residents[phone].unit_code,
            deliver_later=False,
        )
    Message.objects.filter(broadcast=broadcast, phone_index=residents[WEST_ELDER].phone_index).update(
        state=Message.State.SENT
    )

    messaging_services.broadcast_deliver(broadcast_id=broadcast.pk)

    assert sorted(sms["to"] for sms in outbox()) == sorted([WEST_SON, EAST_PHONE])
    broadcast.refresh_from_db()
    assert (broadcast.state, broadcast.sent_count, broadcast.failed_count) == ("done", 3, 0)
    assert not broadcast.messages.filter(state=Message.State.QUEUED).exists()


@pytest.fixture
def merged_draft(small_city, make_user):
    admin = make_user("system_admin", ["110100"], username="planner-admin")
    scope = scope_for_user(admin)
    draft = drafts.draft_open(scope=scope, actor=admin, description="合并")
    drafts.draft_merge(scope=scope, actor=admin, draft=draft, codes=["110101001001001", "110101001001002"])
    return draft, admin


@pytest.mark.django_db
def test_an_activation_delivered_twice_activates_once(merged_draft):
    draft, admin = merged_draft
    first = draft_activate_task.run(draft.pk, admin.pk, True)
    assert first["generation"] == draft.pk and "households_moved" in first
    assert draft_activate_task.run(draft.pk, admin.pk, True) == {"generation": draft.pk, "done": True}
    assert events("generation_activated") == 1


@pytest.mark.django_db
def test_an_activation_refused_on_a_worker_is_written_to_the_audit_log(merged_draft):
    draft, admin = merged_draft
    result = draft_activate_task.run(draft.pk, admin.pk, False)  # the households-per-cell warnings unconfirmed
    draft.refresh_from_db()
    assert result == {"generation": draft.pk, "refused": "confirm_warnings"} and not draft.active
    entry = LogEntry.objects.get(additional_data__event="generation_activation_refused")
    assert entry.additional_data["code"] == "confirm_warnings" and entry.additional_data["problems"]


@pytest.mark.django_db
def test_an_import_that_finished_is_not_run_again(small_city, make_user, tmp_path):
    admin = make_user("system_admin", ["110100"], username="importer")
    missing = tmp_path / "gone.csv"  # run again, the import would fail on it
    job = ImportJob.objects.create(
        file_name="h.csv", stored_path=str(missing), options={"commit": True}, created_by=admin, status="done"
    )
    run_household_import.run(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and job.report is None


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_of_one_period_at_once_both_succeed(population, monkeypatch):
    # Regression: the second refresh's delete missed the first's new rows, and its copy then broke the
    # unique constraint (an IntegrityError in a task delivered twice, or beside the periodic job).
    period = period_containing("month", timezone.localdate())
    assessment_services.kpi_refresh_period(period)  # rows the first refresh replaces
    copying, release = threading.Event(), threading.Event()
    original = assessment_services._copy_value
    held = []

    def copy_value(row, name):
        if not held:  # the first refresh waits inside its copy until the second is blocked
            held.append(True)
            copying.set()
            release.wait(30)
        return original(row, name)

    monkeypatch.setattr(assessment_services, "_copy_value", copy_value)
    errors = []

    def refresh():
        try:
            assessment_services.kpi_refresh_period(period)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    first = threading.Thread(target=refresh)
    first.start()
    assert copying.wait(30)
    second = threading.Thread(target=refresh)
    second.start()
    try:
        wait_for(_waiting_on_a_lock, timeout=30, what="the second refresh to wait for the first")
    finally:
        release.set()
        first.join(30)
        second.join(30)
    assert errors == []
    rows = KpiValue.objects.filter(period_kind=period.kind, period_start=period.start)
    assert rows.count() == rows.values("subject_kind", "subject").distinct().count() > 0


@pytest.mark.django_db
def test_an_activation_asked_for_in_the_background_answers_202_and_runs_after_the_commit(
    merged_draft, django_capture_on_commit_callbacks
):
    draft, admin = merged_draft
    api = client_of(admin)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(
            f"/api/v1/drafts/{draft.pk}/activate/", {"confirm_warnings": True, "background": True}, format="json"
        )
    assert response.status_code == 202 and response.json() == {"generation": draft.pk, "status": "queued"}
    draft.refresh_from_db()
    assert not draft.active  # checks, reassignment and the switch happen in the task
    for callback in callbacks:
        callback()
    draft.refresh_from_db()
    assert draft.active and events("generation_activated") == 1
