"""Periodic work of assessment: the incremental KPI refresh (Celery beat with Redis)."""

from celery import shared_task

from assessment.services import kpi_refresh_job


@shared_task
def refresh_kpis() -> str:
    return kpi_refresh_job()
