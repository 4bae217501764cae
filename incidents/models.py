"""Incident categories and routing rules, incidents with their timeline, visit logs and notifications."""

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.indexes import GinIndex, GistIndex
from django.core.files.storage import storages
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.crypto import EncryptedTextField
from core.personal import phone_normalize


class Priority(models.TextChoices):
    LOW = "low", _("low")
    NORMAL = "normal", _("normal")
    HIGH = "high", _("high")
    URGENT = "urgent", _("urgent")


class Category(models.Model):
    """
    The national classification of city management cases: two families, events (things that
    happen: garbage dumped, a stall on the pavement) and components (things that are broken: a
    manhole cover, a street lamp), each with major classes and minor classes under them. A minor
    class carries the deadline of each step, a default priority and a default department; a major
    class's values are used where a minor class leaves them empty.
    """

    class Family(models.TextChoices):
        EVENT = "event", _("event")
        COMPONENT = "component", _("component")

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)
    family = models.CharField(_("family"), max_length=10, choices=Family.choices)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="minors", verbose_name=_("major class")
    )
    accept_hours = models.FloatField(_("hours to accept"), default=2)
    dispatch_hours = models.FloatField(_("hours to dispatch"), default=4)
    resolve_hours = models.FloatField(_("hours to resolve"), default=72)
    default_priority = models.CharField(
        _("default priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    default_department = models.ForeignKey(
        "accounts.Department",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("default department"),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class RoutingRule(models.Model):
    """
    Who is responsible for a case: for a category (or its major class, or a whole family, or any)
    in a part of the city (a unit's subtree, or anywhere), the level of the unit that handles it and
    the department that owns it. The most specific matching rule wins. For components the owner
    (the department) comes first and the locality second; for events the locality first.
    """

    class Basis(models.TextChoices):
        LOCALITY = "locality", _("locality")
        OWNER = "owner", _("owner")

    category = models.ForeignKey(
        Category, on_delete=models.CASCADE, null=True, blank=True, related_name="rules", verbose_name=_("category")
    )
    family = models.CharField(_("family"), max_length=10, choices=Category.Family.choices, blank=True)
    under = models.CharField(_("within unit"), max_length=15, blank=True, help_text=_("Empty: anywhere."))
    level = models.PositiveSmallIntegerField(_("handled at level"), choices=[(i, str(i)) for i in range(1, 6)])
    department = models.ForeignKey(
        "accounts.Department",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("department"),
    )
    basis = models.CharField(_("basis"), max_length=10, choices=Basis.choices, default=Basis.LOCALITY)
    priority = models.IntegerField(_("precedence"), default=0, help_text=_("Higher wins among equally specific."))
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        ordering = ["-priority", "id"]


class Status(models.TextChoices):
    REPORTED = "reported", _("reported")
    ACCEPTED = "accepted", _("accepted")
    REJECTED = "rejected", _("rejected")
    MERGED = "merged", _("merged")
    DISPATCHED = "dispatched", _("dispatched")
    IN_PROGRESS = "in_progress", _("in progress")
    RETURNED = "returned", _("returned")
    ESCALATED = "escalated", _("escalated")
    RESOLVED = "resolved", _("resolved")
    EVALUATED = "evaluated", _("evaluated")
    CLOSED = "closed", _("closed")


OPEN_STATUSES = (
    Status.REPORTED,
    Status.ACCEPTED,
    Status.DISPATCHED,
    Status.IN_PROGRESS,
    Status.RETURNED,
    Status.ESCALATED,
)
FINAL_STATUSES = (Status.REJECTED, Status.MERGED, Status.CLOSED)


class Source(models.TextChoices):
    SMS = "sms", _("SMS")
    HOTLINE = "hotline", _("hotline")
    VISIT = "visit", _("visit")
    WEB = "web", _("web")
    MOBILE = "mobile", _("mobile app")
    OPEN311 = "open311", _("Open311")
    VISIT_LOG = "visit_log", _("visit log")
    PATROL = "patrol", _("patrol")


# Sources where staff found the problem themselves (the rest come from residents).
FOUND_BY_STAFF = (Source.PATROL, Source.VISIT_LOG)


class Incident(models.Model):
    """
    A case: a resident's appeal or a problem found on patrol. Its point fixes the grid cell and so
    the units above it, kept as they were when it was reported (`grid_code`, `unit_code`,
    `generation`), whatever later redrawing does. `assigned_unit_code` is where it is handled now:
    the routed level at first, higher after each escalation. `version` grows with every change, so
    two people acting at once cannot overwrite each other.
    """

    number = models.CharField(_("case number"), max_length=20, unique=True)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"))
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="incidents", verbose_name=_("category")
    )
    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.REPORTED)

    location = models.PointField(_("location"), srid=4326)
    address = models.CharField(_("address"), max_length=200, blank=True)
    grid_code = models.CharField(_("grid cell"), max_length=15, blank=True)
    unit_code = models.CharField(_("unit"), max_length=15, blank=True)
    # The H3 cell (resolution 10) of the location, for the density map; coarser cells derive from it.
    h3 = models.BigIntegerField(null=True, blank=True, editable=False)
    generation = models.ForeignKey("boundaries.Generation", on_delete=models.PROTECT, null=True, related_name="+")

    reporter_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reported_incidents",
        verbose_name=_("reported by staff"),
    )
    reporter_resident = models.ForeignKey(
        "residents.Resident",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="incidents",
        verbose_name=_("reported by resident"),
    )
    reporter_name = models.CharField(_("reporter's name"), max_length=60, blank=True)
    reporter_phone = EncryptedTextField(
        _("reporter's phone"), blank=True, default="", index_field="reporter_phone_index", normalize=phone_normalize
    )
    reporter_phone_index = models.CharField(max_length=64, blank=True, default="", editable=False)

    assigned_unit_code = models.CharField(_("handled by unit"), max_length=15, blank=True)
    assigned_department = models.ForeignKey(
        "accounts.Department",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="incidents",
        verbose_name=_("handled by department"),
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_incidents",
        verbose_name=_("assignee"),
    )
    escalation_level = models.PositiveSmallIntegerField(_("escalations"), default=0)
    reopen_count = models.PositiveSmallIntegerField(_("reopened"), default=0)
    supervised = models.BooleanField(_("supervised"), default=False)
    merged_into = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="merged", verbose_name=_("merged into")
    )
    visit_log = models.ForeignKey(
        "VisitLog",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="incidents",
        verbose_name=_("visit log"),
    )

    reported_at = models.DateTimeField(_("reported at"), db_index=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    evaluated_at = models.DateTimeField(_("evaluated at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    due_at = models.DateTimeField(_("due at"), null=True, blank=True, help_text=_("Deadline of the current step."))
    overdue_notified_at = models.DateTimeField(null=True, blank=True)

    satisfaction = models.PositiveSmallIntegerField(_("satisfaction"), null=True, blank=True)
    evaluation_comment = models.TextField(_("evaluation"), blank=True)
    external_token = models.CharField(max_length=40, blank=True, db_index=True)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        ordering = ["-reported_at", "-id"]
        indexes = [
            models.Index(fields=["unit_code"], opclasses=["varchar_pattern_ops"], name="incident_unit_prefix"),
            models.Index(
                fields=["assigned_unit_code"], opclasses=["varchar_pattern_ops"], name="incident_assigned_prefix"
            ),
            models.Index(fields=["status", "due_at"], name="incident_status_due"),
            models.Index(fields=["category", "reported_at"], name="incident_category_time"),
            models.Index(fields=["resolved_at"], name="incident_resolved"),
            GinIndex(fields=["title"], opclasses=["gin_trgm_ops"], name="incident_title_trgm"),
            # Map layers ask for a box and a time window together. With only one index per condition the
            # planner ANDs their bitmaps and reads every incident of the window (a z16 tile: 8.8 ms, of
            # which 7.2 ms in the time index); one index over both answers it in 0.75 ms.
            GistIndex(fields=["location", "reported_at"], name="incident_location_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(satisfaction__isnull=True) | Q(satisfaction__range=(1, 5)), name="incident_satisfaction_1_5"
            ),
            models.CheckConstraint(
                condition=~Q(status="merged") | Q(merged_into__isnull=False), name="incident_merged_has_target"
            ),
        ]
        permissions = [
            ("accept_incident", _("Can accept, reject and merge incidents")),
            ("dispatch_incident", _("Can dispatch, escalate, reopen and close incidents")),
            ("handle_incident", _("Can work on incidents assigned to them or their department")),
            ("evaluate_incident", _("Can record a resident's evaluation")),
            ("supervise_incident", _("Can flag incidents for supervision")),
            ("export_incident", _("Can export incidents")),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class IncidentEvent(models.Model):
    """One step of an incident's timeline: who did what, when, from which status to which."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("action"), max_length=20)
    from_status = models.CharField(_("from"), max_length=12, blank=True)
    to_status = models.CharField(_("to"), max_length=12, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(_("at"), db_index=True)
    note = models.TextField(_("note"), blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("incident event")
        verbose_name_plural = _("incident events")
        ordering = ["at", "id"]


def _private_storage():
    return storages["private"]


def _attachment_path(instance, filename: str) -> str:
    # Our own name: nothing of the uploaded name reaches the file system.
    return f"incidents/{instance.owner_key}/{instance.token}{instance.extension}"


class Attachment(models.Model):
    """A photo or file of an incident (or of one of its steps) or of a visit log, kept in private storage."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, null=True, blank=True, related_name="attachments")
    event = models.ForeignKey(
        IncidentEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="attachments"
    )
    visit_log = models.ForeignKey(
        "VisitLog", on_delete=models.CASCADE, null=True, blank=True, related_name="attachments"
    )
    file = models.FileField(upload_to=_attachment_path, storage=_private_storage, max_length=300)
    token = models.CharField(max_length=32, unique=True)
    extension = models.CharField(max_length=8)
    name = models.CharField(_("name"), max_length=200)
    content_type = models.CharField(max_length=60)
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["created_at", "id"]

    @property
    def owner_key(self) -> str:
        return f"log{self.visit_log_id}" if self.visit_log_id else f"case{self.incident_id}"


class VisitLog(models.Model):
    """
    A public opinion log: a grid worker's visit, who was met, what was said, what problems were
    found. A problem the worker cannot solve becomes an incident linked to the log, and the log
    follows it to its evaluation.
    """

    class Sentiment(models.TextChoices):
        POSITIVE = "positive", _("positive")
        NEUTRAL = "neutral", _("neutral")
        NEGATIVE = "negative", _("negative")

    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="visit_logs", verbose_name=_("grid worker")
    )
    visited_at = models.DateTimeField(_("visited at"), db_index=True)
    location = models.PointField(_("location"), srid=4326)
    grid_code = models.CharField(_("grid cell"), max_length=15, blank=True)
    unit_code = models.CharField(_("unit"), max_length=15, blank=True)
    households = models.ManyToManyField(
        "residents.Household", blank=True, related_name="visit_logs", verbose_name=_("households visited")
    )
    residents = models.ManyToManyField(
        "residents.Resident", blank=True, related_name="visit_logs", verbose_name=_("residents met")
    )
    discussion = models.TextField(_("what was discussed"))
    sentiment = models.CharField(_("sentiment"), max_length=10, choices=Sentiment.choices, default=Sentiment.NEUTRAL)
    problems = models.TextField(_("problems found"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("visit log")
        verbose_name_plural = _("visit logs")
        ordering = ["-visited_at", "-id"]
        indexes = [
            models.Index(fields=["unit_code"], opclasses=["varchar_pattern_ops"], name="visitlog_unit_prefix"),
            models.Index(fields=["worker", "visited_at"], name="visitlog_worker_time"),
        ]


class Notification(models.Model):
    """
    A message to someone about an incident: a member of staff (delivered in the app, later by SMS
    too) or a reporter without an account (delivered to their phone by the SMS channel when it
    exists). Channels are pluggable (GEOGRID_NOTIFICATION_CHANNELS).
    """

    class Kind(models.TextChoices):
        DISPATCHED = "dispatched", _("dispatched to you")
        OVERDUE = "overdue", _("overdue")
        STATUS = "status", _("status changed")
        MERGED = "merged", _("merged")
        SUPERVISED = "supervised", _("supervised")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    phone = EncryptedTextField(_("phone"), blank=True, default="", normalize=phone_normalize)
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    message = models.TextField(_("message"))
    channels = models.JSONField(default=dict, blank=True, help_text=_("Delivery state per channel."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread")]
