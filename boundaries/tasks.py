"""Background work of boundaries: activating a draft generation (checks, reassignment, switch) on a worker."""

from celery import shared_task

from jobs.services import task_lock

# Seconds before an activation another worker holds is looked at again (that worker may yet die).
BUSY_RETRY_SECONDS = 30


@shared_task(bind=True)
def draft_activate_task(self, draft_id: int, actor_id: int, confirm_warnings: bool = False) -> dict:
    """
    Activates the draft as `actor` would through the API. The activation is one transaction, so a
    worker lost mid-way left the grid as it was; delivered again, the task finds the draft still a
    draft and activates it, or already live and does nothing. A refusal (errors, unconfirmed
    warnings) is written to the audit log, where the planner's page shows it.
    """
    from accounts.models import User
    from accounts.selectors import scope_for_user
    from accounts.services import audit_event
    from boundaries import drafts
    from boundaries.models import Generation
    from core.errors import ApiError

    with task_lock("draft-activate", draft_id) as mine:
        if not mine:
            raise self.retry(countdown=BUSY_RETRY_SECONDS)
        draft = Generation.objects.filter(pk=draft_id).first()
        if draft is None or draft.active or draft.activated_at is not None:
            return {"generation": draft_id, "done": True}
        actor = User.objects.get(pk=actor_id)
        try:
            return drafts.draft_activate(
                scope=scope_for_user(actor), actor=actor, draft=draft, confirm_warnings=confirm_warnings
            )
        except ApiError as exc:
            audit_event(
                event="generation_activation_refused",
                actor=actor,
                target=draft,
                data={"code": exc.error_code, "message": str(exc.detail), **exc.fields},
            )
            return {"generation": draft_id, "refused": exc.error_code}


def boundary_progress_key(job_id: int) -> str:
    return f"geogrid:boundary-import-job:{job_id}:stage"


@shared_task(bind=True)
def run_boundary_import(self, job_id: int) -> None:
    """
    Runs an uploaded boundary file's import (`boundary_import`, one transaction) as the uploader. A
    worker lost mid-way wrote nothing; delivered again, the task runs the import once more only if
    it did not finish. The stored file is removed once the job is done or has failed.
    """
    from pathlib import Path

    from django.core.cache import cache
    from django.utils import timezone
    from django.utils.translation import gettext as _

    from accounts.selectors import scope_for_user
    from boundaries.models import BoundaryImportJob, Level
    from boundaries.services import boundary_import
    from core.personal import scrub
    from geogrid.celery import TRANSIENT_ERRORS

    with task_lock("boundary-import", job_id) as mine:
        if not mine:
            raise self.retry(countdown=BUSY_RETRY_SECONDS)
        job = BoundaryImportJob.objects.select_related("created_by").get(pk=job_id)
        if job.finished:
            return
        BoundaryImportJob.objects.filter(pk=job_id).update(status=BoundaryImportJob.Status.RUNNING)

        def progress(stage: str) -> None:
            # Through the cache: the job's row would be written inside the import's own transaction.
            cache.set(boundary_progress_key(job_id), stage, 24 * 3600)

        options = dict(job.options)
        options["level"] = Level.from_name(options["level"])
        finished = {"finished_at": timezone.now()}
        try:
            report = boundary_import(
                path=job.stored_path,
                source=job.file_name,
                actor=job.created_by,
                scope=scope_for_user(job.created_by),
                progress=progress,
                **options,
            )
        except TRANSIENT_ERRORS:
            if self.request.retries < self.max_retries:
                raise  # tried again later; the job stays running and keeps its file
            message = _("The database stayed unreachable; upload the file again.")
            finished |= {"status": BoundaryImportJob.Status.FAILED, "report": _failure(message)}
            raise
        except Exception as exc:
            finished |= {"status": BoundaryImportJob.Status.FAILED, "report": _failure(scrub(str(exc))[:500])}
            raise
        else:
            finished |= {"status": BoundaryImportJob.Status.DONE, "report": report.as_dict(), "stage": "done"}
        finally:
            if "status" in finished:
                BoundaryImportJob.objects.filter(pk=job_id).update(stored_path="", **finished)
                Path(job.stored_path).unlink(missing_ok=True)


def _failure(message: str) -> dict:
    return {"ok": False, "committed": False, "errors": [{"kind": "failed", "message": message}], "warnings": []}
