"""Periodic work of jobs: handing the broker the tasks that wait in the outbox (Celery beat)."""

from celery import shared_task

from jobs.services import outbox_flush


@shared_task
def outbox_flush_task() -> str:
    return outbox_flush()
