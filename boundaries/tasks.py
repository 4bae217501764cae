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
