"""The task outbox: a task is recorded with its transaction, kept while the broker is down, run once in-process."""

import socket

import pytest
from django.db import transaction

from jobs.models import OutboxTask
from jobs.services import outbox_flush, task_enqueue
from messaging.models import Message
from messaging.services import message_queue
from messaging.tasks import message_deliver_task
from tests.messaging.conftest import outbox, sms_settings  # noqa: F401  (fixtures)
from tests.workers.conftest import broker_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_broker():
    """A broker URL nothing listens on: every hand-over fails at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with broker_at(f"redis://127.0.0.1:{port}/0"):
        yield


def test_a_task_runs_in_process_after_the_commit_without_a_broker(django_capture_on_commit_callbacks, outbox):  # noqa: F811
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        message = message_queue(phone="13800138000", text="你好", kind=Message.Kind.NOTIFICATION)
        assert outbox() == []  # not before the commit
    assert [sms["id"] for sms in outbox()] == [str(message.pk)]
    assert not OutboxTask.objects.exists()


def test_tasks_take_json_values_only():
    with pytest.raises(TypeError, match="ids and other JSON values"):
        task_enqueue(message_deliver_task, object())


def test_a_task_the_broker_could_not_take_stays_in_the_outbox(closed_broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        message = message_queue(phone="13800138000", text="你好", kind=Message.Kind.NOTIFICATION)
        entry = OutboxTask.objects.get()
        assert (entry.name, entry.args, entry.attempts) == (message_deliver_task.name, [message.pk], 0)
    entry.refresh_from_db()
    assert entry.attempts == 1 and "Connection refused" in entry.last_error
    # The next one does not try the broker again so soon.
    with django_capture_on_commit_callbacks(execute=True):
        message_queue(phone="13800138001", text="你好", kind=Message.Kind.NOTIFICATION)
    assert list(OutboxTask.objects.order_by("pk").values_list("last_error", flat=True))[1] == (
        "the broker failed moments ago"
    )
    assert outbox_flush() == "0 tasks handed over, 2 waiting"
    assert OutboxTask.objects.get(pk=entry.pk).attempts == 2


def test_the_outbox_of_a_machine_that_lost_its_broker_is_run_in_process(outbox):  # noqa: F811
    message = message_queue(phone="13800138000", text="你好", kind=Message.Kind.NOTIFICATION, deliver_later=False)
    OutboxTask.objects.create(name=message_deliver_task.name, args=[message.pk], next_attempt_at="2000-01-01T00:00Z")
    assert outbox_flush() == "1 tasks handed over, 0 waiting"
    assert [sms["id"] for sms in outbox()] == [str(message.pk)]
    assert outbox_flush() == "0 tasks handed over, 0 waiting"
