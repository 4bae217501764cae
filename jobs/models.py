"""The task outbox (background tasks recorded with the data they work on until the broker has them), and
what every uploaded file's background job records."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxTask(models.Model):
    """
    A background task written in the same transaction as the data it works on (an SMS to send, an
    import to run) and handed to the broker once that transaction commits, when the row is deleted.
    A row that stays is a task the broker never got: Redis was down, or the process ended between the
    commit and the hand-over. The periodic runner hands such rows over once their next attempt is due,
    so work asked for while Redis is away is done when it is back, and never lost. Tasks carry only
    ids and other JSON values, and are safe to run twice (a row handed over twice runs its work once).
    """

    name = models.CharField(_("task"), max_length=200)
    args = models.JSONField(_("arguments"), default=list)
    kwargs = models.JSONField(_("keyword arguments"), default=dict)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), db_index=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("queued task")
        verbose_name_plural = _("queued tasks")

    def __str__(self):
        return f"{self.name}{tuple(self.args)}"


class UploadJob(models.Model):
    """
    A file uploaded through the API and worked on in the background: the file (kept privately while
    the job needs it), the options, the stage the work has reached, then its report. Each kind of
    upload has its own table built on this one (residents.ImportJob, boundaries.BoundaryImportJob).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    file_name = models.CharField(_("file name"), max_length=200)
    stored_path = models.CharField(max_length=500)
    options = models.JSONField(_("options"), default=dict)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    stage = models.CharField(_("stage"), max_length=20, blank=True)
    report = models.JSONField(_("report"), null=True, blank=True)
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="+", verbose_name=_("created by")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)
