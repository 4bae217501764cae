"""Handing background tasks to the workers without losing them, and the lock that makes their work happen once."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis.exceptions
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from jobs.models import OutboxTask

logger = logging.getLogger(__name__)

BROKER_ERRORS = (BrokerError, redis.exceptions.RedisError, OSError)
# When the broker last failed in this process: until then + GEOGRID_BROKER_RETRY_SECONDS, enqueued tasks
# wait in the outbox without a connection attempt (a request does not pay for a broker known to be down).
_broker = {"failed_at": None}


def _celery():
    from geogrid.celery import app

    return app


def _eager() -> bool:
    return bool(_celery().conf.task_always_eager)


def task_enqueue(task, *args, **kwargs) -> None:
    """
    Runs `task(*args, **kwargs)` in the background once the current transaction commits (at once
    outside one). With a broker, the task is first written to the outbox inside that transaction, so
    a broker that is down when it commits delays the work instead of losing it; without one (eager,
    the single-machine default) it runs in-process after the commit, as before.
    """
    try:
        json.dumps([args, kwargs])
    except TypeError:
        raise TypeError(f"{task.name} must be given ids and other JSON values, not objects.") from None
    if _eager():
        transaction.on_commit(lambda: task.apply_async(args, kwargs))
        return
    entry = OutboxTask.objects.create(
        name=task.name,
        args=list(args),
        kwargs=kwargs,
        next_attempt_at=timezone.now() + dt.timedelta(seconds=settings.GEOGRID_OUTBOX_GRACE_SECONDS),
    )
    transaction.on_commit(lambda: _hand_over(entry))


def _publish(entry: OutboxTask) -> str:
    """Gives the task to the broker; the error when it could not (empty when it did)."""
    try:
        _celery().send_task(entry.name, args=entry.args, kwargs=entry.kwargs)
    except BROKER_ERRORS as exc:
        _broker["failed_at"] = time.monotonic()
        return f"{type(exc).__name__}: {exc}"[:300]
    _broker["failed_at"] = None
    return ""


def _broker_paused() -> bool:
    failed_at = _broker["failed_at"]
    return failed_at is not None and time.monotonic() - failed_at < settings.GEOGRID_BROKER_RETRY_SECONDS


def _hand_over(entry: OutboxTask) -> None:
    """After the commit: the task to the broker and its outbox row deleted, or the row left for the runner."""
    error = "the broker failed moments ago" if _broker_paused() else _publish(entry)
    if error:
        logger.warning("Task %s%s waits in the outbox: %s", entry.name, tuple(entry.args), error)
        OutboxTask.objects.filter(pk=entry.pk).update(
            attempts=F("attempts") + 1, last_error=error, next_attempt_at=timezone.now()
        )
        return
    OutboxTask.objects.filter(pk=entry.pk).delete()


def outbox_flush(*, limit: int = 500) -> str:
    """
    The periodic job: hands the broker the tasks it has not got (due ones, oldest first), stopping at
    the first refusal. Rows are locked while they are handed over, so two runners never send one twice.
    """
    app = _celery()
    handed = 0
    with transaction.atomic():
        due = list(
            OutboxTask.objects.select_for_update(skip_locked=True)
            .filter(next_attempt_at__lte=timezone.now())
            .order_by("pk")[:limit]
        )
        done = []
        for entry in due:
            if app.conf.task_always_eager:
                # Queued while a broker was configured; now there is none, so the work runs here.
                try:
                    app.tasks[entry.name].apply(args=entry.args, kwargs=entry.kwargs, throw=True)
                except Exception:
                    logger.exception("Task %s%s failed", entry.name, tuple(entry.args))
            else:
                error = _publish(entry)
                if error:
                    OutboxTask.objects.filter(pk=entry.pk).update(
                        attempts=F("attempts") + 1, last_error=error, next_attempt_at=timezone.now()
                    )
                    break
            done.append(entry.pk)
            handed += 1
        OutboxTask.objects.filter(pk__in=done).delete()
    waiting = OutboxTask.objects.count()
    return f"{handed} tasks handed over, {waiting} waiting"


@contextmanager
def task_lock(name: str, key: object = "") -> Iterator[bool]:
    """
    Holds a PostgreSQL advisory lock named by (name, key) while one worker does a piece of work, and
    yields whether it got it (False: another worker is doing that work right now). The lock belongs to
    the database session, so a worker that dies, its process killed or its machine gone, releases it
    with its connection and the task, delivered again, can be done by another worker.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))", [name, str(key)])
        mine = cursor.fetchone()[0]
    try:
        yield mine
    finally:
        if mine:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(hashtext(%s), hashtext(%s))", [name, str(key)])
            except DatabaseError:
                pass  # the connection is gone, and the lock with it
