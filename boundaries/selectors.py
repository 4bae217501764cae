"""Reading grid units: the active generation, subtrees, point lookup."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.gis.db.models import Extent
from django.contrib.gis.db.models.functions import GeometryDistance
from django.contrib.gis.geos import Point, Polygon
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from boundaries.models import BoundaryImportJob, Generation, GridUnit, Level
from core.errors import ApiError
from core.scope import Scope, subtree_prefix
from jobs.selectors import upload_jobs_of


def generation_active() -> Generation | None:
    return Generation.objects.filter(active=True).first()


def generation_active_held() -> Generation | None:
    """
    The active generation, kept active until the caller's transaction ends. A write that places
    points in the grid's cells (households have no generation of their own) calls it inside its
    transaction: an activation then waits for the write, which it reassigns with the rest, and a
    write arriving during an activation waits for it and places its points in the new grid.
    """
    for _attempt in range(5):
        with connection.cursor() as cursor:
            # KEY SHARE: writers do not wait for each other, only for the activation's FOR UPDATE.
            cursor.execute("SELECT id FROM boundaries_generation WHERE active FOR KEY SHARE")
            row = cursor.fetchone()
        if row is not None:
            return Generation.objects.get(pk=row[0])
        # Empty either because no grid was ever imported, or because the row this waited for stopped
        # being active when an activation committed: the next statement sees the new active one.
        if not Generation.objects.filter(active=True).exists():
            return None
    raise RuntimeError("The active generation kept changing.")


def generation_get(*, generation_id: int | None = None) -> Generation:
    """The generation asked for, or the active one; 404 when there is none."""
    generation = generation_active() if generation_id is None else Generation.objects.filter(pk=generation_id).first()
    if generation is None:
        if generation_id is None:
            raise ApiError(_("No boundaries have been imported yet."), code="not_found", status_code=404)
        raise ApiError(
            _("Generation %(id)s does not exist.") % {"id": generation_id},
            code="not_found",
            fields={"generation": [_("Unknown generation.")]},
            status_code=404,
        )
    return generation


def valid_at_q(generation: Generation | int) -> Q:
    generation_id = generation if isinstance(generation, int) else generation.pk
    return Q(generation_low__lte=generation_id) & (
        Q(generation_high__isnull=True) | Q(generation_high__gte=generation_id)
    )


def ancestor_codes(code: str) -> list[str]:
    """The codes of the unit's ancestors, city first, derived from the code alone."""
    if len(code) < 6:
        return []
    city = code[:4] + "00"
    if code == city:
        return []
    chain = [city]
    for length in (6, 9, 12):
        if len(code) > length:
            chain.append(code[:length])
    return chain


def unit_list(
    *,
    scope: Scope,
    generation: Generation,
    level: Level | None = None,
    parent: str | None = None,
    under: str | None = None,
    bbox: Polygon | None = None,
    q: str | None = None,
) -> QuerySet[GridUnit]:
    units = GridUnit.objects.filter(valid_at_q(generation)).filter(scope.q("code"))
    if level is not None:
        units = units.filter(level=level)
    if parent is not None:
        units = units.filter(parent_code=parent)
    if under is not None:
        units = units.filter(code__startswith=subtree_prefix(under))
    if bbox is not None:
        units = units.filter(geom__intersects=bbox)
    if q:
        units = units.filter(Q(name__icontains=q) | Q(code__startswith=q))
    return units.order_by("level", "code")


def unit_get(*, scope: Scope, code: str, generation: Generation) -> GridUnit:
    """The unit with this code; 404 when there is none or it lies outside the caller's scope."""
    unit = GridUnit.objects.filter(valid_at_q(generation), code=code).filter(scope.q("code")).first()
    if unit is None:
        raise ApiError(_("No grid unit with code %(code)s.") % {"code": code}, code="not_found", status_code=404)
    return unit


def unit_children_codes(*, unit: GridUnit, generation: Generation) -> list[str]:
    return list(
        GridUnit.objects.filter(valid_at_q(generation), parent_code=unit.code)
        .order_by("code")
        .values_list("code", flat=True)
    )


@dataclass
class LocateResult:
    point: Point
    chain: list[GridUnit]  # city first, down to the deepest unit covering the point


def units_for_point(*, point: Point, generation: Generation) -> LocateResult:
    """
    The chain of units covering the point, city down to grid cell.

    Boundary rule: a point on an edge or vertex shared by several units of the deepest level found
    belongs to the one with the smallest code, and its chain is that unit's ancestors. The bulk
    assignment (services.points_assign_cells) applies the same rule.
    """
    covering = list(
        GridUnit.objects.filter(valid_at_q(generation), geom__intersects=point)
        .only("id", "code", "name", "level", "parent_code")
        .order_by("-level", "code")
    )
    if not covering:
        return LocateResult(point=point, chain=[])
    deepest = covering[0]
    wanted = ancestor_codes(deepest.code)
    found = {unit.code: unit for unit in covering if unit.code in wanted}
    missing = [code for code in wanted if code not in found]
    if missing:
        # The point sits on the ancestor's edge where another ancestor-level unit also touches it.
        for unit in GridUnit.objects.filter(valid_at_q(generation), code__in=missing).only(
            "id", "code", "name", "level", "parent_code"
        ):
            found[unit.code] = unit
    chain = [found[code] for code in wanted if code in found] + [deepest]
    return LocateResult(point=point, chain=chain)


def generation_extent(*, generation: Generation):
    """The bounding box of the generation's top units, or None when it is empty."""
    return GridUnit.objects.filter(valid_at_q(generation), parent_code__isnull=True).aggregate(extent=Extent("geom"))[
        "extent"
    ]


def counts_per_level(*, generation: Generation) -> dict[str, int]:
    rows = GridUnit.objects.filter(valid_at_q(generation)).values("level").annotate(n=Count("id")).order_by("level")
    return {Level(row["level"]).slug: row["n"] for row in rows}


def point_units(*, point: Point, generation: Generation | None = None) -> tuple[str, str]:
    """
    (grid cell code, responsible unit code) of one point, by the boundary rule: the cell with the
    smallest code covering it; else '' and the deepest unit covering it; else '' and the community of
    the nearest cell. The same answer as services.points_assign_units gives in bulk.
    """
    generation = generation or generation_active()
    if generation is None:
        return "", ""
    chain = units_for_point(point=point, generation=generation).chain
    if chain:
        deepest = chain[-1]
        return (deepest.code if deepest.level == Level.GRID else ""), deepest.code
    nearest = (
        GridUnit.objects.filter(valid_at_q(generation), level=Level.GRID)
        .annotate(distance=GeometryDistance("geom", point))
        .order_by("distance")
        .values_list("parent_code", flat=True)
        .first()
    )
    return "", nearest or ""


def boundary_import_job_get(*, user, job_id: int):
    """A background boundary import of the caller's own (a superuser sees every one)."""
    return upload_jobs_of(BoundaryImportJob, user=user).filter(pk=job_id).first()
