"""The SMS platform's records: every message in and out, opt-outs, and broadcasts to groups of residents."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.crypto import EncryptedTextField
from core.personal import phone_normalize


class Message(models.Model):
    """
    One SMS through the city's service number, kept raw as it came or went. An inbound message is
    a resident writing in (an appeal, a status query, an opt-out), possibly one part of a
    concatenated SMS that is handled once all its parts are in. An outbound message is a reply, a
    status notification or one recipient of a broadcast; its state follows the gateway's delivery
    reports. The phone is encrypted; `phone_index` finds every message of one number.
    `unit_code` is the unit the message belongs to (the case's, or the matched resident's), on
    which the staff's scope is decided.
    """

    class Direction(models.TextChoices):
        IN = "in", _("inbound")
        OUT = "out", _("outbound")

    class State(models.TextChoices):
        RECEIVED = "received", _("received")
        PARTIAL = "partial", _("waiting for its other parts")
        HANDLED = "handled", _("handled")
        REJECTED = "rejected", _("not understood")
        QUEUED = "queued", _("queued")
        SENT = "sent", _("sent")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")

    class Kind(models.TextChoices):
        APPEAL = "appeal", _("appeal")
        QUERY = "query", _("status query")
        OPT_OUT = "opt_out", _("opt-out")
        REPLY = "reply", _("reply")
        NOTIFICATION = "notification", _("notification")
        BROADCAST = "broadcast", _("broadcast")
        OTHER = "other", _("other")

    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.OTHER)
    provider_id = models.CharField(_("gateway message id"), max_length=100, blank=True, default="")
    phone = EncryptedTextField(_("phone"), index_field="phone_index", normalize=phone_normalize)
    phone_index = models.CharField(max_length=64, blank=True, default="", editable=False, db_index=True)
    text = models.TextField(_("text"), blank=True, default="")
    encoding = models.CharField(_("encoding"), max_length=20, blank=True, default="")
    parts_ref = models.CharField(_("concatenation reference"), max_length=20, blank=True, default="")
    parts_total = models.PositiveSmallIntegerField(_("parts"), default=1)
    part_index = models.PositiveSmallIntegerField(_("part"), default=1)
    state = models.CharField(_("state"), max_length=10, choices=State.choices)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.CharField(_("last error"), max_length=300, blank=True, default="")
    unit_code = models.CharField(_("unit"), max_length=15, blank=True, default="")
    resident = models.ForeignKey(
        "residents.Resident", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    incident = models.ForeignKey(
        "incidents.Incident",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sms_messages",
        verbose_name=_("incident"),
    )
    broadcast = models.ForeignKey("Broadcast", on_delete=models.CASCADE, null=True, blank=True, related_name="messages")
    in_reply_to = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replies", verbose_name=_("reply to")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("SMS message")
        verbose_name_plural = _("SMS messages")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["unit_code"], opclasses=["varchar_pattern_ops"], name="message_unit_prefix"),
            models.Index(fields=["phone_index", "parts_ref"], name="message_parts"),
        ]
        constraints = [
            # The gateway may post the same message twice: its id makes the second post a no-op.
            models.UniqueConstraint(
                fields=["direction", "provider_id"], condition=~Q(provider_id=""), name="message_unique_provider_id"
            ),
        ]
        permissions = [("view_sms_log", _("Can read the SMS log of their jurisdiction"))]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.kind} #{self.pk}"


class OptOut(models.Model):
    """A phone number that asked (TD / 退订) to receive no more broadcasts; replies and case news still go."""

    phone_index = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("opt-out")
        verbose_name_plural = _("opt-outs")

    def __str__(self) -> str:
        return f"opt-out #{self.pk}"


class Broadcast(models.Model):
    """
    Information sent to a chosen group: the residents carrying an attention tag (elderly living
    alone, ...) in a unit's subtree. It is drafted, previewed with its recipient count, approved by
    a leader, then sent at a throttled rate, skipping opted-out numbers; each recipient gets a
    Message whose state follows the delivery report.
    """

    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        APPROVED = "approved", _("approved")
        SENDING = "sending", _("sending")
        DONE = "done", _("done")

    text = models.TextField(_("text"))
    tag = models.ForeignKey(
        "residents.AttentionTag", on_delete=models.PROTECT, related_name="+", verbose_name=_("attention tag")
    )
    unit_code = models.CharField(_("unit"), max_length=15)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.DRAFT)
    recipient_count = models.PositiveIntegerField(_("recipients"), default=0)
    sent_count = models.PositiveIntegerField(_("sent"), default=0)
    failed_count = models.PositiveIntegerField(_("failed"), default=0)
    skipped_count = models.PositiveIntegerField(_("opted out"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("created by")
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("broadcast")
        verbose_name_plural = _("broadcasts")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["unit_code"], opclasses=["varchar_pattern_ops"], name="broadcast_unit_prefix")]
        permissions = [("approve_broadcast", _("Can approve a broadcast for sending"))]

    def __str__(self) -> str:
        return f"{self.tag_id}@{self.unit_code} ({self.state})"
