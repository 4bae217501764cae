"""Reading the basic information database: search, map queries and statistics, always within scope."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.contrib.gis.db.models import PointField
from django.contrib.gis.db.models.functions import GeometryDistance
from django.contrib.gis.geos import Point, Polygon
from django.contrib.postgres.search import TrigramWordSimilarity
from django.db.models import BooleanField, Count, Exists, Func, OuterRef, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Cast

from core.crypto import blind_index
from core.personal import id_number_normalize, phone_normalize
from core.scope import Scope, subtree_prefix
from jobs.selectors import upload_jobs_of
from residents.models import AttentionTag, Building, Household, ImportJob, Resident

# Age bands of the statistics and filters: (name, minimum age, maximum age or None).
AGE_BANDS = [("0-17", 0, 17), ("18-34", 18, 34), ("35-59", 35, 59), ("60-79", 60, 79), ("80+", 80, None)]
# Household fields whose absence makes a record incomplete in the statistics.
REQUIRED_HOUSEHOLD_FIELDS = ("address", "housing_type")
REQUIRED_RESIDENT_FIELDS = ("id_number_index", "gender", "birth_date", "phone_index")


def _geography(expression):
    if isinstance(expression, Point):
        expression = Value(expression, output_field=PointField(srid=4326))
    return Cast(expression, PointField(geography=True, srid=4326))


class DWithinGeography(Func):
    """ST_DWithin on geography (metres), matching the households' geography index."""

    function = "ST_DWithin"
    output_field = None

    def __init__(self, left, right, metres):
        super().__init__(_geography(left), _geography(right), Value(float(metres)), output_field=BooleanField())


def _birth_bounds(age_min: int | None, age_max: int | None, today: dt.date) -> Q:
    """Residents aged at least age_min and at most age_max on `today`."""
    condition = Q()
    if age_min is not None:
        condition &= Q(birth_date__lte=_years_before(today, age_min))
    if age_max is not None:
        condition &= Q(birth_date__gt=_years_before(today, age_max + 1))
    return condition


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def household_list(
    *,
    scope: Scope,
    under: str | None = None,
    tags: Iterable[str] = (),
    unassigned: bool | None = None,
    housing_type: str | None = None,
    source: str | None = None,
    q: str | None = None,
    name: str | None = None,
    id_number: str | None = None,
    phone: str | None = None,
    bbox: Polygon | None = None,
    near: Point | None = None,
    radius: float | None = None,
) -> QuerySet[Household]:
    """
    Households in scope. `q` matches the address by trigram word similarity (best first); `name`,
    `id_number` and `phone` find the households of matching residents (the numbers exactly, through
    their keyed hashes); `near` orders by true distance with the index (KNN on geography).
    """
    households = Household.objects.filter(scope.q("unit_code"))
    if under:
        households = households.filter(unit_code__startswith=subtree_prefix(under))
    for tag in tags:
        households = households.filter(tags__code=tag)
    if unassigned is not None:
        households = households.filter(grid_code="") if unassigned else households.exclude(grid_code="")
    if housing_type:
        households = households.filter(housing_type=housing_type)
    if source:
        households = households.filter(source=source)
    residents = Resident.objects.filter(household=OuterRef("pk"))
    if name:
        households = households.filter(Exists(residents.filter(name__contains=name)))
    if id_number:
        households = households.filter(
            Exists(residents.filter(id_number_index=blind_index(id_number_normalize(id_number))))
        )
    if phone:
        households = households.filter(Exists(residents.filter(phone_index=blind_index(phone_normalize(phone)))))
    if bbox is not None:
        households = households.filter(location__intersects=bbox)
    ordering: list = ["id"]
    if q:
        households = households.annotate(match=TrigramWordSimilarity(q, "address")).filter(
            Q(address__trigram_word_similar=q) | Q(address__contains=q)
        )
        ordering = ["-match", "id"]
    if near is not None:
        households = households.annotate(distance=GeometryDistance(_geography("location"), _geography(near)))
        if radius is not None:
            households = households.filter(DWithinGeography("location", near, radius))
        ordering = ["distance", "id"]
    return households.order_by(*ordering)


def household_detail_queryset(scope: Scope) -> QuerySet[Household]:
    members = Resident.objects.prefetch_related("tags").order_by("relation", "id")
    return (
        Household.objects.filter(scope.q("unit_code"))
        .select_related("building")
        .prefetch_related("tags", Prefetch("residents", queryset=members))
    )


def household_get(*, scope: Scope, household_id: int) -> Household | None:
    return household_detail_queryset(scope).filter(pk=household_id).first()


def household_at(*, scope: Scope, point: Point, tolerance_m: float = 30) -> QuerySet[Household]:
    """The households at a clicked point: within the tolerance, nearest first (a building's flats tie)."""
    return household_list(scope=scope, near=point, radius=tolerance_m)


def resident_list(
    *,
    scope: Scope,
    under: str | None = None,
    household: int | None = None,
    tags: Iterable[str] = (),
    residence_status: str | None = None,
    gender: str | None = None,
    relation: str | None = None,
    age_min: int | None = None,
    age_max: int | None = None,
    age_band: str | None = None,
    name: str | None = None,
    id_number: str | None = None,
    phone: str | None = None,
    today: dt.date | None = None,
) -> QuerySet[Resident]:
    residents = Resident.objects.filter(scope.q("unit_code"))
    if under:
        residents = residents.filter(unit_code__startswith=subtree_prefix(under))
    if household is not None:
        residents = residents.filter(household_id=household)
    for tag in tags:
        residents = residents.filter(tags__code=tag)
    if residence_status:
        residents = residents.filter(residence_status=residence_status)
    if gender:
        residents = residents.filter(gender=gender)
    if relation:
        residents = residents.filter(relation=relation)
    today = today or dt.date.today()
    if age_band:
        _name, low, high = next(band for band in AGE_BANDS if band[0] == age_band)
        age_min, age_max = low, high
    if age_min is not None or age_max is not None:
        residents = residents.filter(_birth_bounds(age_min, age_max, today))
    if name:
        residents = residents.filter(Q(name__contains=name) | Q(name__trigram_similar=name))
    if id_number:
        residents = residents.filter(id_number_index=blind_index(id_number_normalize(id_number)))
    if phone:
        residents = residents.filter(phone_index=blind_index(phone_normalize(phone)))
    return residents.select_related("household").prefetch_related("tags").order_by("household_id", "id")


def resident_get(*, scope: Scope, resident_id: int) -> Resident | None:
    return resident_list(scope=scope).filter(pk=resident_id).first()


def building_list(*, scope: Scope, q: str | None = None, bbox: Polygon | None = None) -> QuerySet[Building]:
    buildings = Building.objects.filter(scope.q("unit_code")).annotate(household_count=Count("households"))
    if bbox is not None:
        buildings = buildings.filter(location__intersects=bbox)
    if q:
        return (
            buildings.annotate(match=TrigramWordSimilarity(q, "address"))
            .filter(Q(address__trigram_word_similar=q) | Q(address__contains=q))
            .order_by("-match", "id")
        )
    return buildings.order_by("address")


def tag_list(*, applies_to: str | None = None) -> QuerySet[AttentionTag]:
    tags = AttentionTag.objects.all()
    if applies_to:
        tags = tags.filter(applies_to=applies_to)
    return tags


def unit_stats(*, scope: Scope, code: str, area_m2: float, today: dt.date | None = None) -> dict:
    """
    The statistics of one unit's subtree, in scope: households, residents, by tag, sex, age band and
    residence status, density per km², and the completeness of required fields. Each figure is one
    aggregate query over the subtree's index range; no row is loaded into Python.
    """
    today = today or dt.date.today()
    prefix = subtree_prefix(code)
    households = Household.objects.filter(scope.q("unit_code"), unit_code__startswith=prefix)
    residents = Resident.objects.filter(scope.q("unit_code"), unit_code__startswith=prefix)

    household_counts = households.aggregate(
        total=Count("id"),
        unassigned=Count("id", filter=Q(grid_code="")),
        complete=Count("id", filter=_complete(REQUIRED_HOUSEHOLD_FIELDS)),
        **{
            f"housing_{value}": Count("id", filter=Q(housing_type=value)) for value in ("owned", "rented", "collective")
        },
    )
    bands = {name: Count("id", filter=_birth_bounds(low, high, today)) for name, low, high in AGE_BANDS}
    resident_counts = residents.aggregate(
        total=Count("id"),
        male=Count("id", filter=Q(gender="male")),
        female=Count("id", filter=Q(gender="female")),
        registered=Count("id", filter=Q(residence_status="registered")),
        floating=Count("id", filter=Q(residence_status="floating")),
        away=Count("id", filter=Q(residence_status="away")),
        complete=Count("id", filter=_complete(REQUIRED_RESIDENT_FIELDS)),
        unknown_age=Count("id", filter=Q(birth_date__isnull=True)),
        **{f"age_{name}": count for name, count in bands.items()},
    )
    by_tag = {
        row["code"]: row["n"]
        for row in AttentionTag.objects.filter(applies_to="resident")
        .annotate(n=Count("residents", filter=Q(residents__in=residents)))
        .values("code", "n")
    }
    by_tag.update(
        {
            row["code"]: row["n"]
            for row in AttentionTag.objects.filter(applies_to="household")
            .annotate(n=Count("households", filter=Q(households__in=households)))
            .values("code", "n")
        }
    )
    area_km2 = area_m2 / 1e6 if area_m2 else 0
    total_households, total_residents = household_counts["total"], resident_counts["total"]
    return {
        "households": total_households,
        "residents": total_residents,
        "unassigned_households": household_counts["unassigned"],
        "area_km2": round(area_km2, 4),
        "density_per_km2": {
            "households": round(total_households / area_km2, 1) if area_km2 else None,
            "residents": round(total_residents / area_km2, 1) if area_km2 else None,
        },
        "by_housing_type": {v: household_counts[f"housing_{v}"] for v in ("owned", "rented", "collective")},
        "by_sex": {"male": resident_counts["male"], "female": resident_counts["female"]},
        "by_residence_status": {s: resident_counts[s] for s in ("registered", "floating", "away")},
        "by_age_band": {
            **{name: resident_counts[f"age_{name}"] for name, _l, _h in AGE_BANDS},
            "unknown": resident_counts["unknown_age"],
        },
        "by_tag": by_tag,
        "completeness": {
            "households": _share(household_counts["complete"], total_households),
            "residents": _share(resident_counts["complete"], total_residents),
            "required_household_fields": list(REQUIRED_HOUSEHOLD_FIELDS),
            "required_resident_fields": ["id_number", "gender", "birth_date", "phone"],
        },
    }


def _complete(fields: Iterable[str]) -> Q:
    condition = Q()
    for name in fields:
        condition &= ~Q(**{name: ""}) if name != "birth_date" else Q(birth_date__isnull=False)
    return condition


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def import_job_list(*, user) -> QuerySet[ImportJob]:
    """The caller's own import jobs, newest first (a superuser sees every one)."""
    return upload_jobs_of(ImportJob, user=user)


def import_job_get(*, user, job_id: int):
    """An import job of the caller's own (a superuser sees every one)."""
    return import_job_list(user=user).filter(pk=job_id).first()
