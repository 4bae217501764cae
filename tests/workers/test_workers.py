"""Two real Celery workers: every task runs once, both take some, and a lost worker's task is redone."""

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest
import redis
from auditlog.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction

from accounts.selectors import scope_for_user
from assessment.models import KpiValue
from assessment.services import kpi_refresh_later
from boundaries import drafts
from boundaries.models import Generation
from jobs.models import OutboxTask
from jobs.services import task_enqueue
from messaging.models import Message
from messaging.services import message_queue
from residents.models import Household, ImportJob
from residents.services import import_job_create
from tests.residents.test_import import HEADER
from tests.workers.conftest import wait_for
from tiles.tasks import prerender_tiles_task

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

IMPORT = "residents.tasks.run_household_import"


def households_csv(count: int) -> SimpleUploadedFile:
    """`count` households (no residents) spread over the west street of the small city."""
    stream = io.StringIO()
    writer = csv.writer(stream)
    writer.writerow(HEADER)
    for i in range(count):
        lon, lat = 116.3805 + (i % 190) * 0.0001, 39.9005 + (i // 190) * 0.0001
        writer.writerow([f"W{i}", f"西街{i}号", f"{lon:.6f}", f"{lat:.6f}", "", "", "", "", "", "", "", ""])
    return SimpleUploadedFile("households.csv", stream.getvalue().encode("utf-8-sig"), content_type="text/csv")


def broker_empty(redis_server) -> bool:
    """Nothing waiting and nothing taken but unacknowledged: no task can still be (re)delivered."""
    client = redis.Redis.from_url(redis_server.url)
    return client.llen("celery") == 0 and client.hlen("unacked") == 0


def sms_sent(directory: str) -> Counter:
    path = Path(directory) / "sms.jsonl"
    if not path.exists():
        return Counter()
    return Counter(json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines())


@pytest.fixture
def admin(small_city, make_user):
    return make_user("system_admin", ["110100"], username="ops-admin")


def test_tasks_of_every_kind_run_once_each_spread_over_two_workers(broker, start_workers, admin, settings):
    workers = start_workers(2)
    scope = scope_for_user(admin)

    # The batch, enqueued as the application does: SMS to send, a household import, a draft to
    # activate (reassignment), a KPI refresh and tiles to build ahead.
    with transaction.atomic():
        messages = [
            message_queue(phone=f"1380013{i:04d}", text=f"通知{i}", kind=Message.Kind.NOTIFICATION) for i in range(12)
        ]
    job = import_job_create(scope=scope, actor=admin, upload=households_csv(150), options={"commit": True})
    draft = drafts.draft_open(scope=scope, actor=admin, description="合并西南社区网格")
    drafts.draft_merge(scope=scope, actor=admin, draft=draft, codes=["110101001001001", "110101001001002"])
    drafts.draft_activate_later(scope=scope, actor=admin, draft=draft, confirm_warnings=True)
    kpi_refresh_later()
    task_enqueue(prerender_tiles_task, ["units"], 10)
    expected = Counter(
        {
            "messaging.tasks.message_deliver_task": 12,
            IMPORT: 1,
            "boundaries.tasks.draft_activate_task": 1,
            "assessment.tasks.refresh_kpis": 1,
            "tiles.tasks.prerender_tiles_task": 1,
        }
    )

    def finished():
        return sum(len(w.succeeded()) for w in workers) >= expected.total() and broker_empty(broker)

    wait_for(finished, timeout=45, what="the batch to be done", every=0.2)

    ran = Counter(name for worker in workers for name in worker.succeeded())
    assert ran == expected
    assert all(worker.succeeded() for worker in workers), [len(w.succeeded()) for w in workers]
    assert not OutboxTask.objects.exists()  # every task was handed over at commit

    # Each piece of work done exactly once.
    sent = sms_sent(settings.GEOGRID_SMS_FILE_PATH)
    assert sent == Counter({str(m.pk): 1 for m in messages})
    assert set(Message.objects.filter(pk__in=[m.pk for m in messages]).values_list("state", flat=True)) == {"sent"}
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE, job.report
    assert Household.objects.count() == 150
    draft.refresh_from_db()
    assert draft.active and Generation.objects.filter(active=True).count() == 1
    events = Counter(e.additional_data["event"] for e in LogEntry.objects.filter(additional_data__has_key="event"))
    assert events["generation_activated"] == 1 and events["generation_activation_refused"] == 0
    assert KpiValue.objects.exists()


def _inside_a_transaction() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL AND xact_start < now() - interval '100 ms'"
        )
        return cursor.fetchone()[0] > 0


def test_the_task_of_a_killed_worker_is_redelivered_to_the_other_and_done_once(broker, start_workers, admin):
    # The import takes about 2 s on the 2-core development machine: long enough to be killed inside, and
    # well under the visibility timeout, so the redelivered task is not handed out again while it runs.
    workers = start_workers(2, visibility_timeout=8)
    rows = 24_000
    job = import_job_create(
        scope=scope_for_user(admin), actor=admin, upload=households_csv(rows), options={"commit": True}
    )

    # Kill the worker that took the import while it is inside the import's transaction.
    victim = wait_for(
        lambda: next((w for w in workers if w.received(IMPORT)), None), timeout=20, what="a worker to take the import"
    )
    wait_for(
        lambda: ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.RUNNING and _inside_a_transaction(),
        timeout=20,
        what="the import to be under way",
        every=0.05,
    )
    victim.kill()
    survivor = next(w for w in workers if w is not victim)
    assert not victim.succeeded(IMPORT)
    assert Household.objects.count() == 0  # the lost transaction left nothing behind

    # acks_late: the task was never acknowledged, so after the visibility timeout Redis gives it to the survivor.
    wait_for(
        lambda: ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.DONE and broker_empty(broker),
        timeout=40,
        what="the survivor to redo the import",
        every=0.2,
    )
    assert survivor.received(IMPORT) == 1 and survivor.succeeded(IMPORT) == [IMPORT]
    assert Household.objects.count() == rows
    assert len(set(Household.objects.values_list("ref", flat=True))) == rows
    job.refresh_from_db()
    assert job.report["ok"], job.report
