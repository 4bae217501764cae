"""The task outbox: background tasks recorded with the data they work on until the broker has them."""

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
