"""Grid units and the generations of boundaries they belong to."""

from django.contrib.gis.db import models
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db.models import F, Func, Q, Value
from django.db.models.functions import Concat, Left, Length
from django.utils.translation import gettext_lazy as _

from jobs.models import UploadJob


class Level(models.IntegerChoices):
    """The five levels of the grid hierarchy, top to bottom; a child is always one level below its parent."""

    CITY = 1, _("city")
    DISTRICT = 2, _("district")
    STREET = 3, _("street")
    COMMUNITY = 4, _("community")
    GRID = 5, _("grid")

    @classmethod
    def from_name(cls, name: str) -> "Level":
        """The level called `name` ("grid", "community"...) or given as its number; ValueError otherwise."""
        key = str(name).strip().lower()
        for level in cls:
            if key in (level.name.lower(), str(level.value)):
                return level
        raise ValueError(name)

    @property
    def slug(self) -> str:
        return self.name.lower()


# The code of each level, as a regular expression (see DOMAIN.md). City codes end in 00 and district
# codes never do, so a 6-digit code alone says which of the two it is. The street part is 001-399
# (001-099 street offices, 100-199 towns, 200-399 townships); community and grid parts are 001-999.
_SEQ_999 = r"(00[1-9]|0[1-9][0-9]|[1-9][0-9][0-9])"
CODE_PATTERNS = {
    Level.CITY: r"^[1-9][0-9]{3}00$",
    Level.DISTRICT: r"^[1-9][0-9]{3}(0[1-9]|[1-9][0-9])$",
    Level.STREET: r"^[1-9][0-9]{5}(00[1-9]|0[1-9][0-9]|[1-3][0-9][0-9])$",
    Level.COMMUNITY: r"^[1-9][0-9]{8}" + _SEQ_999 + "$",
    Level.GRID: r"^[1-9][0-9]{11}" + _SEQ_999 + "$",
}


class Generation(models.Model):
    """
    A generation is one version of the whole grid. Every grid unit row is valid from one generation
    (`generation_low`) to another (`generation_high`, open-ended while the unit is still live), as in
    MapIt. Exactly one generation is active: the live grid is the set of units valid at it.

    New boundaries are prepared in a draft generation, numbered after the active one. A unit that
    does not change simply stays valid (its open interval reaches into the draft), so a draft starts
    as a copy of the active grid without copying a row. Changing a unit closes its interval at the
    active generation and adds a new row valid from the draft on. Activating the draft is then a
    single flag switch, and every earlier generation can still be read back exactly as it was.
    """

    description = models.CharField(_("description"), max_length=200, blank=True)
    active = models.BooleanField(_("active"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    activated_at = models.DateTimeField(_("activated at"), null=True, blank=True)

    class Meta:
        verbose_name = _("generation")
        verbose_name_plural = _("generations")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=Q(active=True), name="generation_single_active"),
        ]

    def __str__(self) -> str:
        state = _("active") if self.active else ""
        return f"#{self.pk} {self.description} {state}".strip()


def _parent_code_expression():
    # The parent is named by the code itself: a district's parent is the city sharing its first four
    # digits; from the street down a child's code is its parent's code plus three digits.
    return models.Case(
        models.When(level=Level.CITY, then=Value(None)),
        models.When(level=Level.DISTRICT, then=Concat(Left("code", 4), Value("00"))),
        default=Left("code", Length("code") - 3),
        output_field=models.CharField(max_length=15),
    )


class GridUnit(models.Model):
    """
    One version of one grid unit: a city, district, street, community or grid cell.

    The code is the unit's external identity, stable for its whole life and never reused; the
    database id only names this version of the unit. The parent is not a foreign key but follows
    from the code (`parent_code`), so that a parent can be redrawn in a new generation without
    touching its children: the parent of a unit at generation G is the unit with `parent_code`
    valid at G. The database holds the rules that make this sound: code formats per level, one
    unit per code per generation, a parent of the level above valid over the whole interval, a
    valid geometry. Area and label point are computed by PostGIS from the geometry.
    """

    code = models.CharField(_("code"), max_length=15)
    name = models.CharField(_("name"), max_length=100)
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices)
    parent_code = models.GeneratedField(
        expression=_parent_code_expression(),
        output_field=models.CharField(max_length=15, null=True),
        db_persist=True,
        verbose_name=_("parent code"),
    )
    geom = models.MultiPolygonField(_("boundary"), srid=4326)
    area_m2 = models.GeneratedField(
        expression=Func(Func(F("geom"), function="geography"), function="ST_Area"),
        output_field=models.FloatField(),
        db_persist=True,
        verbose_name=_("area (m²)"),
    )
    label_point = models.GeneratedField(
        expression=Func(F("geom"), function="ST_PointOnSurface"),
        output_field=models.PointField(srid=4326),
        db_persist=True,
        verbose_name=_("label point"),
    )
    generation_low = models.ForeignKey(
        Generation, on_delete=models.PROTECT, related_name="+", verbose_name=_("valid from generation")
    )
    generation_high = models.ForeignKey(
        Generation,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name=_("valid until generation"),
        help_text=_("Empty while the unit is live."),
    )
    source = models.CharField(_("source"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("grid unit")
        verbose_name_plural = _("grid units")
        ordering = ["level", "code"]
        permissions = [("edit_boundaries", _("Can import boundaries and edit drafts in scope"))]
        indexes = [
            # Subtree queries are prefix searches on the code: `code LIKE '110101003%'`.
            models.Index(fields=["code"], opclasses=["varchar_pattern_ops"], name="gridunit_code_prefix"),
            models.Index(fields=["parent_code"], name="gridunit_parent_code"),
            models.Index(fields=["level", "generation_low", "generation_high"], name="gridunit_level_generation"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(level=Level.CITY, code__regex=CODE_PATTERNS[Level.CITY])
                | Q(level=Level.DISTRICT, code__regex=CODE_PATTERNS[Level.DISTRICT])
                | Q(level=Level.STREET, code__regex=CODE_PATTERNS[Level.STREET])
                | Q(level=Level.COMMUNITY, code__regex=CODE_PATTERNS[Level.COMMUNITY])
                | Q(level=Level.GRID, code__regex=CODE_PATTERNS[Level.GRID]),
                name="gridunit_code_format",
                violation_error_message=_("The code does not follow the format of its level."),
            ),
            models.CheckConstraint(
                condition=Q(generation_high__isnull=True) | Q(generation_high__gte=F("generation_low")),
                name="gridunit_generation_interval",
            ),
            models.CheckConstraint(
                condition=Q(Func(F("geom"), function="ST_IsValid", output_field=models.BooleanField())),
                name="gridunit_geom_valid",
                violation_error_message=_("The boundary is not a valid polygon."),
            ),
            ExclusionConstraint(
                name="gridunit_code_unique_per_generation",
                expressions=[
                    ("code", RangeOperators.EQUAL),
                    (
                        Func(F("generation_low"), F("generation_high"), Value("[]"), function="int8range"),
                        RangeOperators.OVERLAPS,
                    ),
                ],
                violation_error_message=_("A unit with this code already exists in this generation."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def level_slug(self) -> str:
        return Level(self.level).slug


class DraftEdit(models.Model):
    """
    One edit of a draft generation: who did what, and how to take it back. `undo` lists the rows the
    edit created (deleted on undo), the rows it closed at the active generation (reopened), and the
    rows of the draft it changed in place with their previous boundary and name (restored).
    """

    class Operation(models.TextChoices):
        RESHAPE = "reshape", _("reshape")
        SPLIT = "split", _("split")
        MERGE = "merge", _("merge")
        CREATE = "create", _("create")
        RETIRE = "retire", _("retire")

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="edits")
    seq = models.PositiveIntegerField(_("number"))
    operation = models.CharField(_("operation"), max_length=10, choices=Operation.choices)
    codes = models.JSONField(_("units"), default=list)
    payload = models.JSONField(_("input"), default=dict)
    undo = models.JSONField(default=dict, editable=False)
    actor = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("by")
    )
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("draft edit")
        verbose_name_plural = _("draft edits")
        ordering = ["generation", "seq"]
        constraints = [models.UniqueConstraint(fields=["generation", "seq"], name="draftedit_unique_seq")]

    def __str__(self) -> str:
        return f"#{self.generation_id}.{self.seq} {self.operation} {' '.join(self.codes)}"


class BoundaryImportJob(UploadJob):
    """
    A boundary file uploaded through the API and imported in the background (a large file, or when
    asked), as every upload job; its file is removed once the job is done.
    """

    stored_path = models.CharField(max_length=500, blank=True)  # emptied with the file

    class Meta(UploadJob.Meta):
        verbose_name = _("boundary import")
        verbose_name_plural = _("boundary imports")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.status})"
