"""Buildings (the address gazetteer), households and residents, each a point in one grid cell."""

from django.contrib.gis.db import models
from django.contrib.postgres.indexes import GinIndex, GistIndex
from django.db.models.functions import Cast
from django.utils.translation import gettext_lazy as _

from core.crypto import EncryptedTextField
from core.personal import id_number_normalize, phone_normalize
from jobs.models import UploadJob


class HousingType(models.TextChoices):
    OWNED = "owned", _("owned")
    RENTED = "rented", _("rented")
    COLLECTIVE = "collective", _("collective")


class Source(models.TextChoices):
    """The department a record came from."""

    PUBLIC_SECURITY = "public_security", _("public security")
    CIVIL_AFFAIRS = "civil_affairs", _("civil affairs")
    REAL_ESTATE = "real_estate", _("real estate")
    FAMILY_PLANNING = "family_planning", _("family planning")
    PARTY_BUILDING = "party_building", _("party building")
    GRID_VISIT = "grid_visit", _("grid visit")


class Gender(models.TextChoices):
    MALE = "male", _("male")
    FEMALE = "female", _("female")


class Relation(models.TextChoices):
    """Relation to the head of household."""

    HEAD = "head", _("head of household")
    SPOUSE = "spouse", _("spouse")
    CHILD = "child", _("child")
    PARENT = "parent", _("parent")
    GRANDCHILD = "grandchild", _("grandchild")
    SIBLING = "sibling", _("sibling")
    OTHER = "other", _("other")


class ResidenceStatus(models.TextChoices):
    REGISTERED = "registered", _("registered")  # 户籍人口
    FLOATING = "floating", _("floating")  # 流动人口
    AWAY = "away", _("away")  # 外出


class AttentionTag(models.Model):
    """
    A group that needs attention (elderly living alone, disabled, low-income...), or a mark on a
    household (rented out, empty nest...). Administrators add their own; the code is what files and
    APIs use.
    """

    class AppliesTo(models.TextChoices):
        RESIDENT = "resident", _("residents")
        HOUSEHOLD = "household", _("households")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=60)
    applies_to = models.CharField(_("applies to"), max_length=10, choices=AppliesTo.choices)
    description = models.CharField(_("description"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("attention tag")
        verbose_name_plural = _("attention tags")
        ordering = ["applies_to", "code"]

    def __str__(self) -> str:
        return self.name


class LocatedRecord(models.Model):
    """
    A point record of the grid. `grid_code` is the grid cell the point lies in, assigned by
    point-in-polygon, or empty when it lies in none; such a record is kept and listed as unassigned.
    `unit_code` is the deepest unit responsible for it: the cell, or, for an unassigned point, the
    deepest unit covering it, or the community of the nearest cell when it lies outside the city.
    Scope is decided on `unit_code`, so unassigned records stay visible to the staff who must fix them.
    """

    location = models.PointField(_("location"), srid=4326)
    grid_code = models.CharField(_("grid cell"), max_length=15, blank=True, default="")
    unit_code = models.CharField(_("responsible unit"), max_length=15, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class Building(LocatedRecord):
    """A building of the address gazetteer: households are geocoded against it."""

    ref = models.CharField(_("reference"), max_length=40, unique=True)
    address = models.CharField(_("address"), max_length=200)
    floors = models.PositiveSmallIntegerField(_("floors"), null=True, blank=True)
    units = models.PositiveSmallIntegerField(_("stairwell units"), null=True, blank=True)

    class Meta:
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        ordering = ["address"]
        indexes = [
            models.Index(fields=["unit_code"], opclasses=["varchar_pattern_ops"], name="building_unit_prefix"),
            # GiST, not GIN: geocoding orders buildings by trigram distance (KNN) to an address.
            GistIndex(fields=["address"], opclasses=["gist_trgm_ops"], name="building_address_trgm"),
        ]

    def __str__(self) -> str:
        return self.address


class Household(LocatedRecord):
    """A household: an address and a point, its residents, its head."""

    ref = models.CharField(_("household number"), max_length=40, blank=True, default="")
    address = models.CharField(_("address"), max_length=200)
    building = models.ForeignKey(
        Building,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="households",
        verbose_name=_("building"),
    )
    unit_no = models.CharField(_("stairwell unit"), max_length=20, blank=True, default="")
    room = models.CharField(_("room"), max_length=20, blank=True, default="")
    housing_type = models.CharField(_("housing type"), max_length=12, choices=HousingType.choices, blank=True)
    size = models.PositiveSmallIntegerField(_("size"), default=0, help_text=_("Number of members."))
    source = models.CharField(_("source"), max_length=20, choices=Source.choices, default=Source.GRID_VISIT)
    tags = models.ManyToManyField(AttentionTag, blank=True, related_name="households", verbose_name=_("tags"))

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["unit_code"], opclasses=["varchar_pattern_ops"], name="household_unit_prefix"),
            # The list of unassigned households to fix; assigned ones are found through unit_code.
            models.Index(fields=["unit_code"], condition=models.Q(grid_code=""), name="household_unassigned"),
            # "Near me" orders by true distance with the index's help (KNN on geography, in metres).
            GistIndex(
                Cast("location", models.PointField(geography=True, srid=4326)), name="household_location_geography"
            ),
            models.Index(fields=["ref"], name="household_ref"),
            GinIndex(fields=["address"], opclasses=["gin_trgm_ops"], name="household_address_trgm"),
        ]
        permissions = [
            ("export_household", _("Can export households and residents")),
            ("import_household", _("Can import households and residents")),
        ]

    def __str__(self) -> str:
        return self.address


class Resident(models.Model):
    """A member of a household. ID and phone numbers are encrypted; birth date and gender follow the ID."""

    household = models.ForeignKey(
        Household, on_delete=models.CASCADE, related_name="residents", verbose_name=_("household")
    )
    name = models.CharField(_("name"), max_length=60)
    id_number = EncryptedTextField(
        _("ID number"), blank=True, default="", index_field="id_number_index", normalize=id_number_normalize
    )
    id_number_index = models.CharField(max_length=64, blank=True, default="", editable=False)
    phone = EncryptedTextField(_("phone"), blank=True, default="", index_field="phone_index", normalize=phone_normalize)
    phone_index = models.CharField(max_length=64, blank=True, default="", editable=False)
    gender = models.CharField(_("gender"), max_length=6, choices=Gender.choices, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    relation = models.CharField(
        _("relation to the head"), max_length=12, choices=Relation.choices, default=Relation.OTHER
    )
    residence_status = models.CharField(
        _("residence status"), max_length=12, choices=ResidenceStatus.choices, default=ResidenceStatus.REGISTERED
    )
    tags = models.ManyToManyField(AttentionTag, blank=True, related_name="residents", verbose_name=_("tags"))
    # The household's unit, kept on the resident so scope filters need no join on large lists.
    unit_code = models.CharField(_("responsible unit"), max_length=15, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("resident")
        verbose_name_plural = _("residents")
        ordering = ["household_id", "id"]
        indexes = [
            models.Index(fields=["unit_code"], opclasses=["varchar_pattern_ops"], name="resident_unit_prefix"),
            models.Index(fields=["id_number_index"], name="resident_id_index"),
            models.Index(fields=["phone_index"], name="resident_phone_index"),
            models.Index(fields=["birth_date"], name="resident_birth_date"),
            GinIndex(fields=["name"], opclasses=["gin_trgm_ops"], name="resident_name_trgm"),
        ]
        constraints = [
            # One resident per ID number in the whole database.
            models.UniqueConstraint(
                fields=["id_number_index"], condition=~models.Q(id_number_index=""), name="resident_unique_id_number"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ImportJob(UploadJob):
    """
    A household file uploaded through the API: as every upload job, and as the work goes on its
    progress (rows read, steps checked) and, once done, the rejected rows. The work runs as a
    background task, on a Celery worker when one is configured, in the request otherwise.
    """

    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    rejects_path = models.CharField(max_length=500, blank=True)

    class Meta(UploadJob.Meta):
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")
