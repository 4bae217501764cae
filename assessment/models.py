"""Rolled-up indicator values per period and subject, and assessment schemes with their items."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class KpiValue(models.Model):
    """
    Every indicator of one subject (a unit, or a person) for one period, computed in the database
    from the raw records and kept here, so tables of thousands of units read one row per unit.
    `values` maps an indicator key to its value (null when it has no data, e.g. a rate without a
    denominator); `parts` keeps each ratio's numerator and denominator. The periodic job refreshes
    the periods whose records changed since its last run; a refresh can also be asked for.
    """

    class Subject(models.TextChoices):
        UNIT = "unit", _("unit")
        PERSON = "person", _("person")

    period_kind = models.CharField(_("period"), max_length=8)
    period_start = models.DateField(_("period start"))
    subject_kind = models.CharField(_("subject"), max_length=6, choices=Subject.choices)
    subject = models.CharField(_("unit code or user"), max_length=15)
    level = models.PositiveSmallIntegerField(_("level"), null=True, blank=True)
    # The unit itself, or the unit a person is bound to: what scope is decided on.
    unit_code = models.CharField(_("unit code"), max_length=15)
    # The unit's or person's name when the rollup ran: tables read it without a join.
    name = models.CharField(_("name"), max_length=100, blank=True)
    parent = models.CharField(
        _("peer group"), max_length=15, blank=True, help_text=_("The unit whose children are this subject's peers.")
    )
    values = models.JSONField(_("values"), default=dict)
    parts = models.JSONField(default=dict)
    computed_at = models.DateTimeField(_("computed at"), auto_now=True)

    class Meta:
        verbose_name = _("indicator values")
        verbose_name_plural = _("indicator values")
        constraints = [
            models.UniqueConstraint(
                fields=["period_kind", "period_start", "subject_kind", "subject"], name="kpivalue_unique_subject_period"
            ),
        ]
        indexes = [
            models.Index(fields=["period_kind", "period_start", "subject_kind", "level"], name="kpivalue_table"),
            models.Index(fields=["subject_kind", "subject", "period_kind", "period_start"], name="kpivalue_history"),
            models.Index(fields=["unit_code"], opclasses=["varchar_pattern_ops"], name="kpivalue_unit_prefix"),
        ]

    def __str__(self) -> str:
        return f"{self.subject_kind} {self.subject} {self.period_kind}:{self.period_start}"


class RefreshState(models.Model):
    """How far the incremental refresh has read each source (its high-water mark)."""

    source = models.CharField(max_length=40, unique=True)
    watermark = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.source} @ {self.watermark}"


class Scheme(models.Model):
    """
    An assessment scheme: the indicators that count for a kind of subject (units of one level, or
    grid workers) over a kind of period, each with a weight and how it is scored: linearly from
    the floor (0 points) to the target (100 points), capped at both ends. For an indicator where
    lower is better the floor is simply above the target.
    """

    name = models.CharField(_("name"), max_length=100)
    subject_kind = models.CharField(_("subject"), max_length=6, choices=KpiValue.Subject.choices)
    level = models.PositiveSmallIntegerField(
        _("level of the units"), null=True, blank=True, help_text=_("For unit schemes: 1 city ... 5 grid.")
    )
    role = models.CharField(
        _("role of the people"), max_length=40, blank=True, help_text=_("For person schemes: e.g. grid_worker.")
    )
    period_kind = models.CharField(
        _("period"), max_length=8, choices=[(k, k) for k in ("week", "month", "quarter", "year")]
    )
    active = models.BooleanField(_("active"), default=True)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        verbose_name = _("assessment scheme")
        verbose_name_plural = _("assessment schemes")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(subject_kind="unit", level__isnull=False)
                    | models.Q(subject_kind="person") & ~models.Q(role="")
                ),
                name="scheme_subject_defined",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SchemeItem(models.Model):
    scheme = models.ForeignKey(Scheme, on_delete=models.CASCADE, related_name="items")
    indicator = models.CharField(_("indicator"), max_length=40)
    weight = models.FloatField(_("weight"))
    floor = models.FloatField(_("floor (0 points)"))
    target = models.FloatField(_("target (100 points)"))

    class Meta:
        verbose_name = _("scheme item")
        verbose_name_plural = _("scheme items")
        ordering = ["scheme", "-weight", "indicator"]
        constraints = [
            models.UniqueConstraint(fields=["scheme", "indicator"], name="schemeitem_unique_indicator"),
            models.CheckConstraint(condition=models.Q(weight__gt=0), name="schemeitem_weight_positive"),
            models.CheckConstraint(condition=~models.Q(floor=models.F("target")), name="schemeitem_floor_not_target"),
        ]

    def __str__(self) -> str:
        return f"{self.indicator} x{self.weight}"
