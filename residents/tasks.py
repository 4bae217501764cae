"""Background work of the basic information database: imports uploaded through the API."""

import time
from pathlib import Path

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.selectors import scope_for_user
from core.personal import scrub
from geogrid.celery import TRANSIENT_ERRORS
from jobs.services import task_lock
from residents.importing import household_import, import_options
from residents.models import ImportJob


def progress_key(job_id: int) -> str:
    return f"geogrid:import-job:{job_id}:progress"


# Seconds before an import another worker holds is looked at again (that worker may yet die).
BUSY_RETRY_SECONDS = 30


@shared_task(bind=True)
def run_household_import(self, job_id: int) -> None:
    # The import is one transaction, so a worker lost mid-way wrote nothing; the job's lock and status
    # make a task delivered again run it once more only if it did not finish.
    with task_lock("household-import", job_id) as mine:
        if not mine:
            raise self.retry(countdown=BUSY_RETRY_SECONDS)
        job = ImportJob.objects.select_related("created_by").get(pk=job_id)
        if job.finished:
            return
        _run(self, job)


def _run(task, job: ImportJob) -> None:
    job_id = job.pk
    ImportJob.objects.filter(pk=job_id).update(status=ImportJob.Status.RUNNING)
    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        # Through the cache, not the job's row: the import holds its connection (inside a COPY, or a
        # transaction others cannot see into) while it reports. At most a write a second.
        now = time.monotonic()
        if now - last[0] >= 1 or done == total:
            last[0] = now
            cache.set(progress_key(job_id), {"stage": stage, "done": done, "total": total}, 24 * 3600)

    options = import_options(
        mapping={"columns": job.options.get("columns") or {}},
        **{key: job.options.get(key) for key in ("crs", "encoding")},
        geocode=job.options.get("geocode", False),
        skip_bad=job.options.get("skip_bad", False),
        commit=job.options.get("commit", False),
    )
    rejects_path = Path(job.stored_path).with_suffix(".rejects.csv")
    try:
        with rejects_path.open("w", encoding="utf-8-sig", newline="") as rejects:
            report = household_import(
                path=job.stored_path,
                options=options,
                scope=scope_for_user(job.created_by),
                actor=job.created_by,
                progress=progress,
                source=job.file_name,
                rejects_to=rejects,
            )
    except TRANSIENT_ERRORS:
        if task.request.retries < task.max_retries:
            raise  # tried again later (GeoGridTask); the job stays running
        _failed(job_id, _("The database stayed unreachable; start the import again."))
        raise
    except Exception as exc:
        _failed(job_id, str(exc))
        raise
    ImportJob.objects.filter(pk=job_id).update(
        status=ImportJob.Status.DONE,
        finished_at=timezone.now(),
        report=report.as_dict(),
        rejects_path=str(rejects_path) if report.bad_rows else "",
        stage="done",
    )


def _failed(job_id: int, reason: str) -> None:
    ImportJob.objects.filter(pk=job_id).update(
        status=ImportJob.Status.FAILED,
        finished_at=timezone.now(),
        report={"ok": False, "errors": [{"kind": "failed", "message": scrub(str(reason))[:500]}]},
    )
