"""Reading the OGC API - Features collections: which ones a caller may open, their extents, their features."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.gis.db.models import Extent
from django.contrib.gis.geos import Polygon
from django.db.models import F, FloatField, Func, Max, Min, QuerySet, Value
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.roles import VIEW_UNITS
from boundaries.models import GridUnit, Level
from boundaries.selectors import generation_active, unit_list
from core.errors import ApiError
from core.geojson import features_of
from core.scope import Scope
from incidents.selectors import incident_list

VIEW_INCIDENTS = "incidents.view_incident"


@dataclass(frozen=True)
class Collection:
    """One feature collection: grid units of one level, or incidents."""

    id: str
    title: Promise | str
    description: Promise | str
    permission: str
    level: Level | None = None  # the level of a units collection; None for incidents

    @property
    def temporal(self) -> bool:
        return self.level is None


_LEVEL_TITLES = {
    Level.CITY: gettext_lazy("Grid units: cities"),
    Level.DISTRICT: gettext_lazy("Grid units: districts"),
    Level.STREET: gettext_lazy("Grid units: streets"),
    Level.COMMUNITY: gettext_lazy("Grid units: communities"),
    Level.GRID: gettext_lazy("Grid units: grid cells"),
}

COLLECTIONS: dict[str, Collection] = {
    **{
        f"units-{level.slug}": Collection(
            id=f"units-{level.slug}",
            title=_LEVEL_TITLES[level],
            description=gettext_lazy("Grid units of this level in the active generation: code, name, parent, area."),
            permission=VIEW_UNITS,
            level=level,
        )
        for level in Level
    },
    "incidents": Collection(
        id="incidents",
        title=gettext_lazy("Incidents"),
        description=gettext_lazy(
            "Reported incidents as points: case number, category, status, priority, time reported, grid cell."
        ),
        permission=VIEW_INCIDENTS,
    ),
}


@dataclass(frozen=True)
class ItemsQuery:
    """The validated filters of an items request. `reported_before` is exclusive."""

    bbox: Polygon | None = None
    reported_after: dt.datetime | None = None
    reported_before: dt.datetime | None = None
    limit: int = 100
    offset: int = 0


class _Rounded(Func):
    template = "round(%(expressions)s::numeric, 1)"
    output_field = FloatField()


def collection_list(*, scope: Scope) -> list[Collection]:
    """The collections the caller's role lets them read (their records are still filtered by scope)."""
    return [collection for collection in COLLECTIONS.values() if scope.has(collection.permission)]


def collection_get(*, scope: Scope, collection_id: str) -> Collection:
    collection = COLLECTIONS.get(collection_id)
    if collection is None or not scope.has(collection.permission):
        raise ApiError(_("No collection called %(id)s.") % {"id": collection_id}, code="not_found", status_code=404)
    return collection


def _units(*, scope: Scope, level: Level | None = None, bbox: Polygon | None = None) -> QuerySet[GridUnit]:
    generation = generation_active()
    if generation is None:
        return GridUnit.objects.none()
    return unit_list(scope=scope, generation=generation, level=level, bbox=bbox)


def _incidents(*, scope: Scope, query: ItemsQuery | None = None):
    query = query or ItemsQuery()
    incidents = incident_list(scope=scope, reported_after=query.reported_after, reported_before=query.reported_before)
    if query.bbox is not None:
        incidents = incidents.filter(location__intersects=query.bbox)
    # Feature text is built in SQL: the related rows incident_list selects for its own views are not needed.
    return incidents.select_related(None)


def _features(collection: Collection, records):
    if collection.level is not None:
        return features_of(
            records,
            id_field="code",
            geometry="geom",
            properties={
                "code": "code",
                "name": "name",
                "level": Value(collection.level.slug),
                "parent_code": "parent_code",
                "area_m2": _Rounded(F("area_m2")),
            },
        )
    # Only what a map of cases needs: nothing about the reporter, no free text beyond the title.
    return features_of(
        records,
        id_field="number",
        geometry="location",
        properties={
            "number": "number",
            "title": "title",
            "category_code": "category__code",
            "category_name": "category__name",
            "status": "status",
            "priority": "priority",
            "reported_at": "reported_at",
            "grid_code": "grid_code",
        },
    )


def _records(*, scope: Scope, collection: Collection, query: ItemsQuery | None = None):
    if collection.level is not None:
        return _units(scope=scope, level=collection.level, bbox=query.bbox if query else None)
    return _incidents(scope=scope, query=query)


def feature_page(*, scope: Scope, collection: Collection, query: ItemsQuery) -> tuple[int, list[str]]:
    """(number matched, the page of GeoJSON Feature texts): two queries whatever the page size."""
    records = _records(scope=scope, collection=collection, query=query)
    matched = records.count()
    if query.offset >= matched:
        return matched, []
    return matched, list(_features(collection, records)[query.offset : query.offset + query.limit])


def feature_get(*, scope: Scope, collection: Collection, feature_id: str) -> str:
    """One GeoJSON Feature text; 404 when there is none or it lies outside the caller's scope."""
    records = _records(scope=scope, collection=collection)
    id_field = "code" if collection.level is not None else "number"
    feature = _features(collection, records.filter(**{id_field: feature_id})).first()
    if feature is None:
        raise ApiError(
            _("No feature %(id)s in collection %(collection)s.") % {"id": feature_id, "collection": collection.id},
            code="not_found",
            status_code=404,
        )
    return feature


def collection_extents(*, scope: Scope, collections: list[Collection]) -> dict[str, dict]:
    """
    The extent of what the caller sees in each collection: {"bbox": [...] or None, "interval": [...]}.
    One grouped query for all unit levels and one for incidents.
    """
    extents: dict[str, dict] = {}
    levels = [c.level for c in collections if c.level is not None]
    if levels:
        rows = _units(scope=scope).filter(level__in=levels).order_by().values("level").annotate(extent=Extent("geom"))
        by_level = {row["level"]: row["extent"] for row in rows}
        for collection in collections:
            if collection.level is not None:
                extents[collection.id] = {"bbox": by_level.get(collection.level)}
    if any(c.level is None for c in collections):
        row = (
            _incidents(scope=scope)
            .order_by()
            .aggregate(extent=Extent("location"), first=Min("reported_at"), last=Max("reported_at"))
        )
        extents["incidents"] = {"bbox": row["extent"], "interval": [row["first"], row["last"]]}
    return extents
