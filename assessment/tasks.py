"""Background work of assessment: the incremental KPI refresh (Celery beat, or asked for through the API)."""

from celery import shared_task

from assessment.services import kpi_refresh_job
from jobs.services import task_lock

# Seconds before a refresh asked for while another runs is tried again (it may hold newer changes).
BUSY_RETRY_SECONDS = 30


@shared_task(bind=True)
def refresh_kpis(self) -> str:
    # A refresh run twice (delivered again after a lost worker) only recomputes the same values.
    with task_lock("kpi-refresh") as mine:
        if not mine:
            raise self.retry(countdown=BUSY_RETRY_SECONDS)
        return kpi_refresh_job()
