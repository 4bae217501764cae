"""Periodic work of incidents: the deadline job (Celery beat with Redis; `run_periodic` without)."""

from celery import shared_task

from incidents.services import escalate_overdue


@shared_task
def escalate_overdue_incidents() -> int:
    return escalate_overdue()
