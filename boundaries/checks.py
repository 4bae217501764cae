"""Checks of a draft generation's boundaries and a preview of what activating it would change."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.models import UnitBinding
from boundaries import sql
from boundaries.models import Generation, GridUnit, Level
from boundaries.selectors import generation_active, valid_at_q
from core.scope import Scope, subtree_prefix
from incidents.models import OPEN_STATUSES

ERROR = "error"
WARNING = "warning"

# The smallest area (m²) a unit of any level may have before it counts as a sliver.
DEFAULT_MIN_UNIT_AREA_M2 = 2000.0
# How many households one grid worker can know: cells outside this range are reported as warnings.
DEFAULT_GRID_HOUSEHOLDS_RANGE = (300, 500)

# Capitalised because they open the sentences of the reasons.
_UNIT_NOUN = {
    Level.CITY: gettext_lazy("City"),
    Level.DISTRICT: gettext_lazy("District"),
    Level.STREET: gettext_lazy("Street"),
    Level.COMMUNITY: gettext_lazy("Community"),
    Level.GRID: gettext_lazy("Grid cell"),
}
_UNITS_NOUN = {
    Level.CITY: gettext_lazy("Cities"),
    Level.DISTRICT: gettext_lazy("Districts"),
    Level.STREET: gettext_lazy("Streets"),
    Level.COMMUNITY: gettext_lazy("Communities"),
    Level.GRID: gettext_lazy("Grid cells"),
}


def _valid_at(alias: str, param: str) -> str:
    """sql.valid_at for a generation passed as the named parameter `param`."""
    return sql.valid_at(alias).replace("%(generation)s", f"%({param})s")


# The rows valid at exactly one of the two generations: the rows the draft adds (valid from the draft
# on) and the rows it closes at the active generation (changed or retired). Parameters: draft, active.
CHANGED_ROWS = f"""
SELECT u.id, u.code, u.name, u.level, u.parent_code, u.geom, u.area_m2, ({_valid_at("u", "draft")}) AS at_draft
FROM boundaries_gridunit u
WHERE ({_valid_at("u", "draft")}) <> ({_valid_at("u", "active")})
"""

# The part of the territory the draft redraws: the union of the old and the new geometries of its
# changed rows, at one level or (level NULL) at all. Only points in it can change their cell, or,
# for all levels, their responsible unit.
CHANGED_AREA = f"""
SELECT ST_Multi(ST_Union(changed.geom))
FROM ({CHANGED_ROWS}) changed
WHERE %(level)s::integer IS NULL OR changed.level = %(level)s::integer
"""

# Geometries the checks compute with: an invalid one (reported on its own) is first repaired, so one
# bad polygon cannot abort the others' checks with a GEOS topology error.
_USABLE = (
    "CASE WHEN ST_IsValid({g}) THEN {g}"
    " ELSE ST_Multi(ST_CollectionExtract(ST_MakeValid({g}, 'method=structure'), 3)) END"
)

# Every check in one statement, over the units valid at the draft. Only what the draft touches is
# looked at: its new rows, the parents of its changed rows (their children must still fill them),
# and the children of those parents. Each row is one problem: its kind, the units involved, the
# problem area as GeoJSON, the level it concerns, an ST_IsValidReason text and a number (m² or
# households).
DRAFT_PROBLEMS = f"""
WITH changed AS MATERIALIZED (
    SELECT * FROM ({CHANGED_ROWS}) c WHERE c.code LIKE %(prefix)s
), new_units AS MATERIALIZED (
    SELECT usable.*, CASE WHEN usable.valid THEN usable.raw_area ELSE ST_Area(usable.geom::geography) END AS area_m2
    FROM (
        SELECT n.id, n.code, n.level, n.parent_code, n.geom AS raw_geom, n.area_m2 AS raw_area,
               ST_IsValid(n.geom) AS valid, {_USABLE.format(g="n.geom")} AS geom
        FROM changed n WHERE n.at_draft
    ) usable
), parents AS MATERIALIZED (
    SELECT p.id, p.code, p.level, {_USABLE.format(g="p.geom")} AS geom, p.id IN (SELECT id FROM new_units) AS new
    FROM boundaries_gridunit p
    WHERE {_valid_at("p", "draft")} AND p.level < {Level.GRID:d} AND p.code LIKE %(prefix)s
      AND (p.code IN (SELECT parent_code FROM changed) OR p.id IN (SELECT id FROM new_units))
), children AS MATERIALIZED (
    SELECT c.code, c.level, c.parent_code, {_USABLE.format(g="c.geom")} AS geom,
           c.id IN (SELECT id FROM new_units) AS new
    FROM boundaries_gridunit c
    WHERE {_valid_at("c", "draft")} AND c.parent_code IN (SELECT code FROM parents)
)
SELECT 'invalid_geometry', ARRAY[n.code]::text[],
       ST_AsGeoJSON(coalesce((ST_IsValidDetail(n.raw_geom)).location, n.raw_geom), %(precision)s)::json,
       n.level::integer, ST_IsValidReason(n.raw_geom), NULL::float8
FROM new_units n WHERE NOT n.valid
UNION ALL
-- Siblings share a parent code. Interiors must meet ('2********') before an area is computed, so
-- neighbours touching along an edge cost one relate test. A pair of two new rows is reported once.
SELECT 'overlap', ARRAY[least(a.code, b.code), greatest(a.code, b.code)]::text[],
       ST_AsGeoJSON(overlap.geom, %(precision)s)::json, a.level::integer, NULL, overlap.area
FROM new_units a
-- The siblings are found through the parent code's index, one new unit at a time (a join on the
-- boxes alone makes the planner test every unit of the grid against every new one).
CROSS JOIN LATERAL (
    SELECT s.id, s.code, s.geom FROM boundaries_gridunit s
    WHERE s.parent_code = a.parent_code AND {_valid_at("s", "draft")} AND s.id <> a.id AND s.geom && a.geom
    UNION ALL
    SELECT s.id, s.code, s.geom FROM boundaries_gridunit s
    WHERE a.parent_code IS NULL AND s.parent_code IS NULL AND {_valid_at("s", "draft")} AND s.id <> a.id
      AND s.geom && a.geom
) b_row
CROSS JOIN LATERAL (SELECT b_row.code, {_USABLE.format(g="b_row.geom")} AS geom OFFSET 0) b
CROSS JOIN LATERAL (
    SELECT shared.geom, ST_Area(shared.geom::geography) AS area
    FROM (SELECT ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 3) AS geom) shared
    WHERE ST_Relate(a.geom, b.geom, '2********')
) overlap
WHERE (b_row.id NOT IN (SELECT id FROM new_units) OR a.code < b_row.code) AND overlap.area > %(tolerance)s
UNION ALL
-- What of a parent its children leave uncovered, one polygon at a time: a parent whose children
-- are all gone is one big gap. Parts under the tolerance are digitising noise.
SELECT 'gap', ARRAY[p.code]::text[], ST_AsGeoJSON(part.geom, %(precision)s)::json, p.level::integer, NULL,
       part.area
FROM parents p
CROSS JOIN LATERAL (
    SELECT coalesce(ST_Difference(p.geom, ST_Union(c.geom)), p.geom) AS geom
    FROM children c WHERE c.parent_code = p.code
) uncovered
CROSS JOIN LATERAL (
    SELECT dumped.geom, ST_Area(dumped.geom::geography) AS area FROM ST_Dump(uncovered.geom) dumped
    WHERE ST_Dimension(dumped.geom) = 2
) part
WHERE part.area > %(tolerance)s
UNION ALL
SELECT 'outside_parent', ARRAY[c.code, p.code]::text[], ST_AsGeoJSON(part.geom, %(precision)s)::json,
       c.level::integer, NULL, part.area
FROM parents p
-- An unchanged child of an unchanged parent sticks out as much as it did before the draft.
JOIN children c ON c.parent_code = p.code AND (c.new OR p.new) AND NOT ST_CoveredBy(c.geom, p.geom)
CROSS JOIN LATERAL (
    SELECT dumped.geom, ST_Area(dumped.geom::geography) AS area FROM ST_Dump(ST_Difference(c.geom, p.geom)) dumped
    WHERE ST_Dimension(dumped.geom) = 2
) part
WHERE part.area > %(tolerance)s
UNION ALL
SELECT 'sliver', ARRAY[n.code]::text[], ST_AsGeoJSON(n.geom, %(precision)s)::json, n.level::integer, NULL,
       n.area_m2
FROM new_units n WHERE n.area_m2 < %(min_area)s
UNION ALL
-- Households counted by their points inside the cell (the GiST index on the points answers it).
SELECT 'workload', ARRAY[n.code]::text[], ST_AsGeoJSON(n.geom, %(precision)s)::json, n.level::integer, NULL,
       households.n::float8
FROM new_units n
CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM residents_household h WHERE ST_Intersects(n.geom, h.location)
) households
WHERE n.level = {Level.GRID:d} AND (households.n < %(low)s OR households.n > %(high)s)
"""

# The points of {table} (aliased k, filtered by {where}) that lie in the changed cells' area, each
# with its cell at the draft by the boundary rule (the smallest code among the cells covering it; ''
# when none does). Both joins are driven by the cells, which find their points through the GiST
# index: first the changed cells, old and new shapes, then the draft's cells around them.
_PLACED_AT_DRAFT = """
{name}_inside AS MATERIALIZED (
    SELECT DISTINCT k.id FROM changed c JOIN {table} k ON ST_Intersects(c.geom, k.location)
    WHERE c.level = %(grid)s {where}
), {name}_hits AS MATERIALIZED (
    SELECT k.id, cell.code FROM near_cells cell JOIN {table} k ON ST_Intersects(cell.geom, k.location)
    WHERE k.id IN (SELECT id FROM {name}_inside)
), {name} AS MATERIALIZED (
    SELECT DISTINCT ON (k.id) k.id, k.grid_code AS before, coalesce(hit.code, '') AS after, k.location
    FROM {name}_inside inside
    JOIN {table} k ON k.id = inside.id
    LEFT JOIN {name}_hits hit ON hit.id = inside.id
    ORDER BY k.id, hit.code
)"""

_OPEN_INCIDENTS = "AND k.status = ANY(%(open_statuses)s) {incident_scope}"

# The whole preview in one statement. Households are looked at only inside the old and new shapes
# of the changed cells (each changed cell finds its points through the GiST index), and placed in
# the draft's cells; those whose cell differs from their stored grid_code move. A unit's count after
# is its count before plus what moves in, minus what moves out, so no count is taken twice.
DRAFT_IMPACT = f"""
WITH changed AS MATERIALIZED ({CHANGED_ROWS}),
near_cells AS MATERIALIZED (
    -- The draft's cells whose box meets a changed cell's: the only cells a point in the area can lie in.
    SELECT cell.code, cell.geom FROM boundaries_gridunit cell
    WHERE cell.id IN (
        SELECT near.id FROM changed c JOIN boundaries_gridunit near ON near.geom && c.geom
        WHERE c.level = %(grid)s AND near.level = %(grid)s AND {_valid_at("near", "draft")}
    )
),
{_PLACED_AT_DRAFT.format(name="placed", table="residents_household", where="{placed_scope}")},
moved AS MATERIALIZED (SELECT * FROM placed WHERE before <> after),
steps AS (
    SELECT unnest(ARRAY[before, left(before, 12), left(before, 9), left(before, 6), left(before, 4) || '00'])
           AS code, -1 AS step
    FROM moved WHERE before <> ''
    UNION ALL
    SELECT unnest(ARRAY[after, left(after, 12), left(after, 9), left(after, 6), left(after, 4) || '00']), 1
    FROM moved WHERE after <> ''
), deltas AS (
    SELECT code, sum(step) AS delta FROM steps GROUP BY code
), touched AS (
    SELECT code FROM changed
    UNION SELECT parent_code FROM changed WHERE level = {Level.GRID:d}
    UNION SELECT before FROM moved WHERE before <> ''
    UNION SELECT after FROM moved WHERE after <> ''
    UNION SELECT left(before, 12) FROM moved WHERE before <> ''
    UNION SELECT left(after, 12) FROM moved WHERE after <> ''
    UNION SELECT code FROM deltas WHERE delta <> 0
), units AS (
    -- Named as at the draft, or as at the active generation for a unit the draft retires.
    SELECT DISTINCT ON (u.code) u.code, u.name, u.level,
           CASE WHEN u.level = {Level.CITY:d} THEN left(u.code, 4) ELSE u.code END AS prefix
    FROM touched t
    JOIN boundaries_gridunit u
      ON u.code = t.code AND (({_valid_at("u", "draft")}) OR ({_valid_at("u", "active")}))
    WHERE true {{unit_scope}}
    ORDER BY u.code, u.generation_low_id DESC
), counted AS (
    SELECT units.code, units.name, units.level, before.n AS before, before.n + coalesce(d.delta, 0) AS after
    FROM units
    LEFT JOIN deltas d ON d.code = units.code
    -- A range on the code prefix, which the varchar_pattern_ops index on unit_code answers.
    CROSS JOIN LATERAL (
        SELECT count(*) AS n FROM residents_household h
        WHERE h.unit_code ~>=~ units.prefix AND h.unit_code ~<~ (units.prefix || ':') AND h.grid_code <> ''
          {{household_scope}}
    ) before
), {_PLACED_AT_DRAFT.format(name="incidents_placed", table="incidents_incident", where=_OPEN_INCIDENTS)},
moved_features AS (
    SELECT id, json_build_object(
        'type', 'Feature',
        'geometry', ST_AsGeoJSON(location, %(precision)s)::json,
        'properties', json_build_object('id', id, 'from', before, 'to', after)
    ) AS feature
    FROM moved ORDER BY id LIMIT %(moved_limit)s
)
SELECT
    (SELECT count(*) FROM moved),
    (SELECT count(*) FROM residents_resident r WHERE r.household_id IN (SELECT id FROM moved)),
    (SELECT count(*) FROM incidents_placed WHERE before <> after),
    (SELECT coalesce(json_agg(json_build_object(
        'code', code, 'name', name, 'level', level, 'before', before, 'after', after) ORDER BY level, code), '[]')
     FROM counted),
    (SELECT coalesce(json_agg(feature ORDER BY id), '[]') FROM moved_features)
"""


# The planner's estimates for these statements are large (a million households), so PostgreSQL would
# JIT-compile them; compiling took longer than running them on a 10,000-cell city. Kept within the
# statement's transaction.
NO_JIT = "SET LOCAL jit = off"


def _json(value):
    # psycopg parses json columns; a connection set up to leave them as text still works.
    return json.loads(value) if isinstance(value, str | bytes) else value


def _generations(draft: Generation, active: Generation | None) -> dict:
    active = active if active is not None else generation_active()
    # Without an active generation every unit of the draft is new.
    return {"draft": draft.pk, "active": active.pk if active is not None else 0}


def changed_area_sql(
    draft: Generation, active: Generation | None = None, *, level: Level | None = None
) -> tuple[str, dict]:
    """
    A statement selecting the draft's changed area (one row, one geometry column, NULL when the
    draft changes nothing) and its parameters, to be run as is or nested as a scalar subquery:
    the union of the old and new geometries of the units the draft changes compared with the
    active generation, of one level or of all.
    """
    return CHANGED_AREA, {**_generations(draft, active), "level": int(level) if level is not None else None}


def changed_area(
    draft: Generation, active: Generation | None = None, *, level: Level | None = None
) -> GEOSGeometry | None:
    """
    The draft's changed area as a GEOS MultiPolygon (SRID 4326), or None when it changes nothing.
    Points outside it keep their cell (level GRID) and their responsible unit (all levels) when the
    draft is activated.
    """
    statement, params = changed_area_sql(draft, active, level=level)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        (area,) = cursor.fetchone()
    return GEOSGeometry(bytes(area) if isinstance(area, memoryview) else area) if area is not None else None


def _min_unit_area() -> float:
    return float(getattr(settings, "GEOGRID_MIN_UNIT_AREA_M2", DEFAULT_MIN_UNIT_AREA_M2))


def _households_range() -> tuple[int, int]:
    low, high = getattr(settings, "GEOGRID_GRID_HOUSEHOLDS_RANGE", DEFAULT_GRID_HOUSEHOLDS_RANGE)
    return int(low), int(high)


def _reason(problem: str, codes: list[str], level: Level, reason: str | None, amount: float | None) -> str:
    unit, units = _UNIT_NOUN[level], _UNITS_NOUN[level]
    if problem == "invalid_geometry":
        return _("%(unit)s %(code)s has an invalid boundary: %(reason)s.") % {
            "unit": unit,
            "code": codes[0],
            "reason": reason,
        }
    if problem == "overlap":
        return _("%(units)s %(first)s and %(second)s overlap by %(area).1f m².") % {
            "units": units,
            "first": codes[0],
            "second": codes[1],
            "area": amount,
        }
    if problem == "gap":
        return _("%(unit)s %(code)s has a gap of %(area).1f m² that none of its children covers.") % {
            "unit": unit,
            "code": codes[0],
            "area": amount,
        }
    if problem == "outside_parent":
        return _("%(unit)s %(code)s sticks out of its parent %(parent)s by %(area).1f m².") % {
            "unit": unit,
            "code": codes[0],
            "parent": codes[1],
            "area": amount,
        }
    if problem == "sliver":
        return _("%(unit)s %(code)s covers only %(area).1f m², less than the minimum of %(minimum).0f m².") % {
            "unit": unit,
            "code": codes[0],
            "area": amount,
            "minimum": _min_unit_area(),
        }
    low, high = _households_range()
    count = int(amount or 0)
    return ngettext(
        "Grid cell %(code)s would hold %(count)d household, outside the range of %(low)d to %(high)d.",
        "Grid cell %(code)s would hold %(count)d households, outside the range of %(low)d to %(high)d.",
        count,
    ) % {"code": codes[0], "count": count, "low": low, "high": high}


_PROBLEM_ORDER = ("invalid_geometry", "overlap", "gap", "outside_parent", "sliver", "workload")


def draft_problems(draft: Generation, *, under: str | None = None) -> list[dict]:
    """
    The problems of a draft generation as GeoJSON features, errors first: invalid geometries,
    overlapping siblings, gaps in a parent, children outside their parent, slivers (errors) and grid
    cells whose households fall outside the workload range (warnings). Each feature's geometry is the
    problem area and its properties are {"severity", "problem", "reason", "units"}. Only the units
    the draft changes, their parents and those parents' children are checked; `under` (a unit code)
    limits the checks to that subtree.
    """
    low, high = _households_range()
    params = {
        **_generations(draft, None),
        "prefix": (subtree_prefix(under) if under else "") + "%",
        "tolerance": float(settings.GEOGRID_BOUNDARY_OVERLAP_TOLERANCE_M2),
        "min_area": _min_unit_area(),
        "low": low,
        "high": high,
        "precision": settings.GEOGRID_GEOJSON_PRECISION,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(NO_JIT)
        cursor.execute(DRAFT_PROBLEMS, params)
        rows = cursor.fetchall()
    features = []
    for problem, codes, geometry, level, reason, amount in rows:
        features.append(
            {
                "type": "Feature",
                "geometry": _json(geometry),
                "properties": {
                    "severity": WARNING if problem == "workload" else ERROR,
                    "problem": problem,
                    "reason": _reason(problem, list(codes), Level(level), reason, amount),
                    "units": list(codes),
                },
            }
        )
    features.sort(
        key=lambda f: (
            f["properties"]["severity"] != ERROR,
            _PROBLEM_ORDER.index(f["properties"]["problem"]),
            f["properties"]["units"],
        )
    )
    return features


def _like_any(scope: Scope) -> list[str]:
    # A scope binding nothing matches no code (an empty array would have no type in SQL).
    return [prefix + "%" for prefix in sorted(scope.view_prefixes)] or ["-"]


def draft_impact(
    draft: Generation, *, active: Generation | None = None, scope: Scope | None = None, moved_limit: int = 5000
) -> dict:
    """
    What activating the draft would change, within the caller's scope (everything without one):

    {"households": n, "residents": n, "open_incidents": n,
     "bindings": [{"user": username, "code": code}],
     "units": [{"code", "name", "level", "before", "after"}],
     "moved": {"type": "FeatureCollection", "features": [...], "truncated": bool}}

    `households` move to another cell or out of every cell ("to" is then ''); `residents` live in
    them. `open_incidents` lie in another cell at the draft than their grid_code (they keep their
    units; this is for information). `bindings` name retired units. `units` gives the household
    counts, before and after, of the units the draft changes, the cells households move between and
    the units above them whose count changes. `moved` holds the moved households' points, at most
    `moved_limit` of them.
    """
    scope = scope or Scope.everything()
    params = {
        **_generations(draft, active),
        "open_statuses": [str(status) for status in OPEN_STATUSES],
        "precision": settings.GEOGRID_GEOJSON_PRECISION,
        "moved_limit": moved_limit,
        "grid": int(Level.GRID),
    }
    placed_scope = household_scope = unit_scope = incident_scope = ""
    if not scope.is_global:
        params["scope"] = _like_any(scope)
        placed_scope = "AND k.unit_code LIKE ANY(%(scope)s)"
        household_scope = "AND h.unit_code LIKE ANY(%(scope)s)"
        unit_scope = "AND u.code LIKE ANY(%(scope)s)"
        incident_scope = "AND (k.unit_code LIKE ANY(%(scope)s) OR k.assigned_unit_code LIKE ANY(%(scope)s))"
        if scope.department_only:
            params["department"] = scope.department_id
            incident_scope += " AND k.assigned_department_id = %(department)s"
    statement = DRAFT_IMPACT.format(
        placed_scope=placed_scope,
        household_scope=household_scope,
        unit_scope=unit_scope,
        incident_scope=incident_scope,
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(NO_JIT)
        cursor.execute(statement, params)
        households, residents, incidents, units, features = cursor.fetchone()
    units = _json(units)
    for unit in units:
        unit["level"] = Level(unit["level"]).slug
    features = _json(features)
    return {
        "households": households,
        "residents": residents,
        "open_incidents": incidents,
        "bindings": _retired_bindings(draft, params["active"], scope),
        "units": units,
        "moved": {"type": "FeatureCollection", "features": features, "truncated": households > len(features)},
    }


def _retired_bindings(draft: Generation, active_id: int, scope: Scope) -> list[dict]:
    """Bindings to units live at the active generation that the draft retires."""
    retired = (
        GridUnit.objects.filter(valid_at_q(active_id))
        .exclude(code__in=GridUnit.objects.filter(valid_at_q(draft)).values("code"))
        .values("code")
    )
    bindings = (
        UnitBinding.objects.filter(unit_code__in=retired)
        .filter(scope.q("unit_code"))
        .order_by("unit_code", "user__username")
        .values_list("user__username", "unit_code")
    )
    return [{"user": username, "code": code} for username, code in bindings]
