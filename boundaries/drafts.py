"""
Draft generations: open a draft, reshape, split, merge, create and retire units in it, undo, activate.

A draft starts as the active grid without copying a row (unchanged units stay valid into it). The
first edit of a unit closes its row at the active generation and adds a new row valid from the draft;
later edits of the same unit change that new row in place. Every edit is recorded with what it takes
to take it back. Geometry work is done by PostGIS; what a planner draws is snapped to the neighbours'
vertices and edges, clipped to the parent, and taken away from the siblings it covers.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, WKBWriter
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from boundaries.coding import next_free_sequence, reading_order
from boundaries.models import DraftEdit, Generation, GridUnit, Level
from boundaries.selectors import generation_active, valid_at_q
from boundaries.services import EDIT_BOUNDARIES
from core.errors import ApiError
from core.scope import Scope

EDIT = EDIT_BOUNDARIES
# The parts of geometry results kept: polygons, made valid, as one multipolygon.
_CLEAN = "ST_Multi(ST_CollectionExtract(ST_MakeValid({}), 3))"


def _tolerance_m2() -> float:
    return float(settings.GEOGRID_BOUNDARY_OVERLAP_TOLERANCE_M2)


def _snap_degrees() -> float:
    return float(getattr(settings, "GEOGRID_SNAP_TOLERANCE_M", 2.0)) / 111_320.0


def _geom(expression: str, params: list) -> GEOSGeometry | None:
    """The cleaned (valid, polygonal, multi) result of a PostGIS expression; None when empty."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ST_AsHEXEWKB({_CLEAN.format(expression)})", params)
        raw = cursor.fetchone()[0]
    if raw is None:
        return None
    geom = GEOSGeometry(raw)
    return None if geom.empty else geom


def _area_m2(geom: GEOSGeometry | None) -> float:
    if geom is None:
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT ST_Area((%s)::geometry::geography)", [geom.hexewkb.decode()])
        return float(cursor.fetchone()[0] or 0.0)


def _input_geometry(value, *, kinds: tuple[str, ...], field: str) -> GEOSGeometry:
    """A GeoJSON geometry (dict or text) of one of `kinds`, in WGS-84; a clear 400 otherwise."""
    try:
        text = value if isinstance(value, str) else json.dumps(value)
        geom = GEOSGeometry(text, srid=4326)
    except (TypeError, ValueError, Exception):  # GDAL/GEOS raise several types for bad input
        raise ApiError(_("Not a GeoJSON geometry."), fields={field: [_("Give a GeoJSON geometry.")]}) from None
    if geom.geom_type not in kinds:
        raise ApiError(
            _("Expected a %(kinds)s, got a %(got)s.") % {"kinds": " / ".join(kinds), "got": geom.geom_type},
            fields={field: [_("Wrong geometry type.")]},
        )
    if geom.empty:
        raise ApiError(_("The geometry is empty."), fields={field: [_("Empty geometry.")]})
    if geom.hasz:
        # Units are flat: heights a drawing tool or GPS added are dropped (the column has no Z).
        flat = WKBWriter()
        flat.outdim = 2
        geom = GEOSGeometry(flat.write(geom))
    min_lon, min_lat, max_lon, max_lat = geom.extent
    # A unit without a parent is not clipped to anything: only this keeps it on the globe (NaN fails too).
    if not (min_lon >= -180.0 and max_lon <= 180.0 and min_lat >= -90.0 and max_lat <= 90.0):
        raise ApiError(
            _("Coordinates must be WGS-84 longitude (-180 to 180) and latitude (-90 to 90)."),
            fields={field: [_("Coordinates out of range.")]},
        )
    geom.srid = 4326
    return geom


# --- drafts ----------------------------------------------------------------------------------------


def draft_open(*, scope: Scope, actor, description: str = "") -> Generation:
    """A new draft generation after the active one; at most one draft is open at a time."""
    if not scope.has(EDIT):
        raise ApiError(_("You may not edit boundaries."), code="forbidden", status_code=403)
    with transaction.atomic():
        active = Generation.objects.select_for_update().filter(active=True).first()
        if active is None:
            raise ApiError(_("There is no active generation to start from."), code="conflict", status_code=409)
        open_draft = draft_current()
        if open_draft is not None:
            raise ApiError(
                _("Draft #%(id)s is open; activate or discard it first.") % {"id": open_draft.pk},
                code="conflict",
                status_code=409,
            )
        draft = Generation.objects.create(description=description or _("Draft"), active=False)
    return draft


def draft_current() -> Generation | None:
    """The open draft: a generation after the active one that was never activated."""
    active = generation_active()
    if active is None:
        return None
    return Generation.objects.filter(pk__gt=active.pk, activated_at__isnull=True, active=False).order_by("pk").last()


def draft_get(draft_id: int) -> Generation:
    draft = draft_current()
    if draft is None or draft.pk != draft_id:
        raise ApiError(_("No open draft #%(id)s.") % {"id": draft_id}, code="not_found", status_code=404)
    return draft


def draft_discard(*, scope: Scope, actor, draft: Generation) -> None:
    """Throws the draft away with every row it added; the rows it closed become live again."""
    if not scope.has(EDIT):
        raise ApiError(_("You may not edit boundaries."), code="forbidden", status_code=403)
    with transaction.atomic():
        active = generation_active()
        GridUnit.objects.filter(generation_low=draft).delete()
        closed = {code for edit in draft.edits.all() for code in edit.undo.get("closed_codes", [])}
        GridUnit.objects.filter(generation_high=active, code__in=closed).update(generation_high=None)
        draft.edits.all().delete()
        draft.delete()
        _drop_tiles()


# --- rows of the draft --------------------------------------------------------------------------------


class _Edit:
    """Collects what an edit does to rows, to record it and take it back."""

    def __init__(self, draft: Generation, active: Generation):
        self.draft, self.active = draft, active
        self.created: list[int] = []
        self.closed: list[int] = []
        self.closed_codes: list[str] = []
        self.updated: list[list] = []  # [row id, previous ewkt, previous name]

    def unit(self, code: str) -> GridUnit | None:
        return GridUnit.objects.filter(valid_at_q(self.draft), code=code).first()

    def replace(self, unit: GridUnit, geom: GEOSGeometry, name: str | None = None) -> GridUnit:
        """Gives `unit` a new boundary in the draft (a new row the first time, in place after)."""
        geom = geom if isinstance(geom, MultiPolygon) else MultiPolygon(geom, srid=4326)
        if unit.generation_low_id == self.draft.pk:
            self.updated.append([unit.pk, unit.geom.ewkt, unit.name])
            unit.geom = geom
            if name:
                unit.name = name
            unit.save(update_fields=["geom", "name"])
            return GridUnit.objects.get(pk=unit.pk)
        self.close(unit)
        return self.add(unit.code, name or unit.name, unit.level, geom, source=unit.source)

    def close(self, unit: GridUnit) -> None:
        if unit.generation_low_id == self.draft.pk:
            # A row of the draft itself: deleted (undo puts it back as it was).
            self.updated.append([unit.pk, unit.geom.ewkt, unit.name, "deleted", unit.code, unit.level, unit.source])
            unit.delete()
            return
        GridUnit.objects.filter(pk=unit.pk).update(generation_high=self.active)
        self.closed.append(unit.pk)
        self.closed_codes.append(unit.code)

    def add(self, code: str, name: str, level: int, geom: GEOSGeometry, source: str = "") -> GridUnit:
        geom = geom if isinstance(geom, MultiPolygon) else MultiPolygon(geom, srid=4326)
        unit = GridUnit.objects.create(
            code=code, name=name, level=level, geom=geom, generation_low=self.draft, source=source or "draft"
        )
        self.created.append(unit.pk)
        return GridUnit.objects.get(pk=unit.pk)

    def record(self, *, operation: str, codes: list[str], payload: dict, actor) -> DraftEdit:
        seq = (self.draft.edits.aggregate(m=Max("seq"))["m"] or 0) + 1
        return DraftEdit.objects.create(
            generation=self.draft,
            seq=seq,
            operation=operation,
            codes=codes,
            payload=payload,
            undo={
                "created": self.created,
                "closed": self.closed,
                "closed_codes": self.closed_codes,
                "updated": self.updated,
            },
            actor=actor if getattr(actor, "is_authenticated", False) else None,
        )


def _check(scope: Scope, code: str) -> None:
    if not scope.has(EDIT):
        raise ApiError(_("You may not edit boundaries."), code="forbidden", status_code=403)
    if not scope.captures(code):
        # Outside the planner's jurisdiction: as if it did not exist.
        raise ApiError(_("No grid unit with code %(code)s.") % {"code": code}, code="not_found", status_code=404)


def _unit_or_404(edit: _Edit, scope: Scope, code: str) -> GridUnit:
    _check(scope, code)
    unit = edit.unit(code)
    if unit is None:
        raise ApiError(_("No grid unit with code %(code)s.") % {"code": code}, code="not_found", status_code=404)
    return unit


def _parent(edit: _Edit, unit_or_code) -> GridUnit | None:
    code = unit_or_code if isinstance(unit_or_code, str) else unit_or_code.parent_code
    return edit.unit(code) if code else None


def _siblings(edit: _Edit, parent_code: str, *, exclude=()) -> list[GridUnit]:
    return list(
        GridUnit.objects.filter(valid_at_q(edit.draft), parent_code=parent_code)
        .exclude(code__in=list(exclude))
        .order_by("code")
    )


def _fit(drawn: GEOSGeometry, parent: GridUnit | None, neighbours: list[GridUnit]) -> GEOSGeometry | None:
    """A drawn polygon snapped to the neighbours' vertices and edges, and clipped to the parent."""
    params: list = [drawn.hexewkb.decode()]
    expression = "(%s)::geometry"
    if neighbours:
        collected = MultiPolygon(*[p for n in neighbours for p in n.geom], srid=4326)
        expression = f"ST_Snap({expression}, (%s)::geometry, %s)"
        params += [collected.hexewkb.decode(), _snap_degrees()]
    if parent is not None:
        expression = f"ST_Intersection(ST_MakeValid({expression}), (%s)::geometry)"
        params.append(parent.geom.hexewkb.decode())
    return _geom(expression, params)


def _take_from_siblings(edit: _Edit, geom: GEOSGeometry, siblings: list[GridUnit]) -> list[str]:
    """Cuts `geom` out of the siblings it overlaps; refuses to swallow one whole."""
    changed = []
    for sibling in siblings:
        if not sibling.geom.intersects(geom):
            continue
        rest = _geom(
            "ST_Difference((%s)::geometry, (%s)::geometry)", [sibling.geom.hexewkb.decode(), geom.hexewkb.decode()]
        )
        rest_m2 = _area_m2(rest)
        if sibling.area_m2 - rest_m2 <= _tolerance_m2():
            continue  # they only touch, or overlap within the tolerance
        if rest is None or rest_m2 <= _tolerance_m2():
            raise ApiError(
                _("The new boundary covers all of %(code)s %(name)s; merge the two units instead.")
                % {"code": sibling.code, "name": sibling.name},
                fields={"geometry": [_("Covers a whole neighbour.")]},
            )
        edit.replace(sibling, rest)
        changed.append(sibling.code)
    return changed


def _new_codes(
    edit: _Edit, parent_code: str, level: int, pieces: list[GEOSGeometry], *, field: str = "code"
) -> list[str]:
    """Codes for new units under a parent: free sequence numbers in reading order (north to south,
    west to east), never one used before by any generation."""
    if level <= Level.DISTRICT:
        # Their codes are the administrative divisions' own (GB/T 2260), not sequence numbers to hand out.
        raise ApiError(
            _("Cities and districts keep the codes of their administrative divisions: import a new one instead."),
            fields={field: [_("No new units at this level.")]},
        )
    last = 399 if level == Level.STREET else 999  # street and township numbers end at 399
    used = {
        int(code[-3:])
        for code in GridUnit.objects.filter(parent_code=parent_code, level=level).values_list("code", flat=True)
    }
    order = reading_order([(p.point_on_surface.x, p.point_on_surface.y) for p in pieces])
    codes: list[str | None] = [None] * len(pieces)
    for index in order:
        try:
            sequence = next_free_sequence(used, stop=last)
        except ValueError:  # every number was given once, and codes are never reused
            raise ApiError(
                _("No code is left under %(parent)s: every sequence number from 001 to %(last)03d was used once.")
                % {"parent": parent_code, "last": last},
                code="codes_exhausted",
                status_code=409,
                fields={field: [_("No free code left.")]},
            ) from None
        used.add(sequence)
        codes[index] = f"{parent_code}{sequence:03d}"
    return codes  # type: ignore[return-value]


def _new_name(parent: GridUnit | None, code: str, level: int) -> str:
    """A name by the local rule (data, not interface text: the same whatever the planner's language)."""
    sequence = int(code[-3:])
    suffix = "网格" if level == Level.GRID else ""
    return f"{parent.name if parent else ''}第{sequence}{suffix}"


# --- edit operations ------------------------------------------------------------------------------------


def _begin(draft: Generation) -> _Edit:
    active = generation_active()
    if active is None or draft.active or draft.activated_at is not None or draft.pk <= active.pk:
        raise ApiError(_("This generation is not an open draft."), code="conflict", status_code=409)
    return _Edit(draft, active)


@transaction.atomic
def draft_reshape(*, scope: Scope, actor, draft: Generation, code: str, geometry) -> DraftEdit:
    """A unit takes the drawn boundary (snapped, clipped to its parent); neighbours give up what it covers."""
    edit = _begin(draft)
    unit = _unit_or_404(edit, scope, code)
    drawn = _input_geometry(geometry, kinds=("Polygon", "MultiPolygon"), field="geometry")
    parent = _parent(edit, unit)
    siblings = _siblings(edit, unit.parent_code, exclude=[code]) if unit.parent_code else []
    geom = _fit(drawn, parent, siblings)
    if geom is None or _area_m2(geom) <= _tolerance_m2():
        raise ApiError(
            _("The boundary lies outside the parent unit."), fields={"geometry": [_("Empty after clipping.")]}
        )
    for sibling in siblings:
        _check(scope, sibling.code)
    changed = _take_from_siblings(edit, geom, siblings)
    edit.replace(unit, geom)
    return edit.record(operation="reshape", codes=[code, *changed], payload={"code": code}, actor=actor)


@transaction.atomic
def draft_split(*, scope: Scope, actor, draft: Generation, code: str, line) -> DraftEdit:
    """Cuts a unit along a drawn line; the largest piece keeps the code, the others get new codes."""
    edit = _begin(draft)
    unit = _unit_or_404(edit, scope, code)
    cut = _input_geometry(line, kinds=("LineString", "MultiLineString"), field="line")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_AsHEXEWKB(part.geom), ST_Distance(part.geom, (%(line)s)::geometry) < 1e-9"
            " FROM ST_Dump(ST_CollectionExtract(ST_Split((%(geom)s)::geometry, (%(line)s)::geometry), 3))"
            " AS part ORDER BY ST_Area(part.geom) DESC",
            {"geom": unit.geom.hexewkb.decode(), "line": cut.hexewkb.decode()},
        )
        parts = [(GEOSGeometry(raw), touches) for raw, touches in cursor.fetchall()]
    cut_parts = [geom for geom, touches in parts if touches]
    if len(cut_parts) < 2:
        raise ApiError(
            _("The line does not cut the unit in two: draw it across the unit, from outside to outside."),
            fields={"line": [_("Does not cross the unit.")]},
        )
    untouched = [geom for geom, touches in parts if not touches]
    pieces = [MultiPolygon(geom, srid=4326) for geom in cut_parts]
    if untouched:  # islands the line does not reach stay with the largest piece
        pieces[0] = MultiPolygon(*pieces[0], *untouched, srid=4326)
    for piece in pieces:
        if _area_m2(piece) <= _tolerance_m2():
            raise ApiError(_("One side of the line would be a sliver."), fields={"line": [_("A piece is too small.")]})
    parent = _parent(edit, unit)
    new_codes = _new_codes(edit, unit.parent_code, unit.level, pieces[1:])
    edit.replace(unit, pieces[0])
    for new_code, piece in zip(new_codes, pieces[1:], strict=True):
        _check(scope, new_code)
        edit.add(new_code, _new_name(parent, new_code, unit.level), unit.level, piece)
    return edit.record(operation="split", codes=[code, *sorted(new_codes)], payload={"code": code}, actor=actor)


@transaction.atomic
def draft_merge(
    *, scope: Scope, actor, draft: Generation, codes: list[str], keep: str | None = None, operation: str = "merge"
) -> DraftEdit:
    """Merges adjacent units of one parent into one; `keep` (default the smallest code) survives."""
    edit = _begin(draft)
    codes = list(dict.fromkeys(codes or []))
    if len(codes) < 2:
        raise ApiError(_("Choose at least two units to merge."), fields={"codes": [_("At least two.")]})
    units = [_unit_or_404(edit, scope, code) for code in codes]
    if len({u.parent_code for u in units}) != 1 or len({u.level for u in units}) != 1:
        raise ApiError(_("Only units of the same parent can be merged."), fields={"codes": [_("Different parents.")]})
    if any(GridUnit.objects.filter(valid_at_q(draft), parent_code=u.code).exists() for u in units):
        raise ApiError(
            _("Units with units below them cannot be merged; merge or move their children first."),
            fields={"codes": [_("Has children.")]},
        )
    # Adjacent: the units form one connected group (each touches another by an edge or a point).
    group, rest = [units[0]], units[1:]
    while rest:
        joined = [u for u in rest if any(u.geom.intersects(g.geom) for g in group)]
        if not joined:
            raise ApiError(
                _("%(codes)s do not touch the others; only adjacent units can be merged.")
                % {"codes": ", ".join(u.code for u in rest)},
                fields={"codes": [_("Not adjacent.")]},
            )
        group += joined
        rest = [u for u in rest if u not in joined]
    keep = keep or min(codes)
    if keep not in codes:
        raise ApiError(_("The unit to keep must be one of those merged."), fields={"keep": [_("Not in the list.")]})
    params = [u.geom.hexewkb.decode() for u in units]
    merged = _geom(
        "ST_Union(ARRAY[" + ", ".join(["(%s)::geometry"] * len(units)) + "])",
        params,
    )
    kept = next(u for u in units if u.code == keep)
    for unit in units:
        if unit.code != keep:
            edit.close(unit)
    edit.replace(kept, merged)
    return edit.record(
        operation=operation,
        codes=[keep, *[c for c in codes if c != keep]],
        payload={"codes": codes, "keep": keep},
        actor=actor,
    )


@transaction.atomic
def draft_create(*, scope: Scope, actor, draft: Generation, parent: str, geometry, name: str = "") -> DraftEdit:
    """A new unit inside a parent, from a drawn polygon (snapped, clipped); it takes its area from siblings."""
    edit = _begin(draft)
    parent_unit = _unit_or_404(edit, scope, parent)
    if parent_unit.level >= Level.GRID:
        raise ApiError(_("Grid cells have no units below them."), fields={"parent": [_("A grid cell.")]})
    drawn = _input_geometry(geometry, kinds=("Polygon", "MultiPolygon"), field="geometry")
    siblings = _siblings(edit, parent_unit.code)
    geom = _fit(drawn, parent_unit, siblings)
    if geom is None or _area_m2(geom) <= _tolerance_m2():
        raise ApiError(
            _("The boundary lies outside the parent unit."), fields={"geometry": [_("Empty after clipping.")]}
        )
    level = parent_unit.level + 1
    (code,) = _new_codes(edit, parent_unit.code, level, [geom], field="parent")
    _check(scope, code)
    changed = _take_from_siblings(edit, geom, siblings)
    edit.add(code, name.strip() or _new_name(parent_unit, code, level), level, geom)
    return edit.record(
        operation="create", codes=[code, *changed], payload={"parent": parent, "name": name}, actor=actor
    )


def draft_retire(*, scope: Scope, actor, draft: Generation, code: str, into: str) -> DraftEdit:
    """Retires a unit; its area goes to the adjacent unit `into` (its code is never used again)."""
    if not into:
        raise ApiError(_("Say which neighbour takes the area."), fields={"into": [_("Required.")]})
    return draft_merge(scope=scope, actor=actor, draft=draft, codes=[into, code], keep=into, operation="retire")


@transaction.atomic
def draft_undo(*, scope: Scope, actor, draft: Generation) -> DraftEdit:
    """Takes back the draft's last edit."""
    if not scope.has(EDIT):
        raise ApiError(_("You may not edit boundaries."), code="forbidden", status_code=403)
    edit = draft.edits.select_for_update().order_by("-seq").first()
    if edit is None:
        raise ApiError(_("Nothing to undo."), code="conflict", status_code=409)
    for code in edit.codes:
        _check(scope, code)
    undo = edit.undo
    GridUnit.objects.filter(pk__in=undo.get("created", [])).delete()
    for row in reversed(undo.get("updated", [])):
        if len(row) > 3 and row[3] == "deleted":
            GridUnit.objects.create(
                pk=row[0],
                code=row[4],
                name=row[2],
                level=row[5],
                geom=GEOSGeometry(row[1]),
                generation_low=draft,
                source=row[6],
            )
        else:
            GridUnit.objects.filter(pk=row[0]).update(geom=GEOSGeometry(row[1]), name=row[2])
    GridUnit.objects.filter(pk__in=undo.get("closed", [])).update(generation_high=None)
    edit.delete()
    _drop_tiles()  # rows changed in bulk send no signals
    return edit


def _drop_tiles() -> None:
    from tiles.cache import bump

    transaction.on_commit(lambda: bump("boundaries"))


def draft_changed_codes(draft: Generation) -> list[str]:
    codes = {code for edit in draft.edits.all() for code in edit.codes}
    return sorted(codes)


def _check_may_activate(scope: Scope, draft: Generation) -> None:
    """The caller edits boundaries, and every unit the draft changes lies in their jurisdiction."""
    if not scope.has(EDIT):
        raise ApiError(_("You may not edit boundaries."), code="forbidden", status_code=403)
    for code in draft_changed_codes(draft):
        _check(scope, code)


def draft_activate(*, scope: Scope, actor, draft: Generation, confirm_warnings: bool = False) -> dict:
    """
    Makes the draft the live grid in one transaction: refuses while its checks find errors (and,
    unless confirmed, warnings), reassigns the households inside the changed areas to the new cells,
    switches the active generation, writes the audit log and drops the tiles under the change.
    """
    from accounts.services import audit_event
    from boundaries import checks
    from tiles.cache import bump
    from tiles.prerender import prerender_soon

    _check_may_activate(scope, draft)
    with transaction.atomic():
        active = Generation.objects.select_for_update().get(active=True)
        draft = Generation.objects.select_for_update().get(pk=draft.pk)
        _begin(draft)
        problems = checks.draft_problems(draft)
        errors = [p for p in problems if p["properties"]["severity"] == "error"]
        warnings = [p for p in problems if p["properties"]["severity"] == "warning"]
        if errors or (warnings and not confirm_warnings):
            raise ApiError(
                _("%(errors)s errors and %(warnings)s warnings: fix the errors (and confirm the warnings) first.")
                % {"errors": len(errors), "warnings": len(warnings)},
                code="invalid_draft" if errors else "confirm_warnings",
                status_code=409,
                fields={"problems": [p["properties"]["reason"] for p in (errors or warnings)][:50]},
            )
        moved = _reassign(draft, active)
        Generation.objects.filter(pk=active.pk).update(active=False)
        Generation.objects.filter(pk=draft.pk).update(active=True, activated_at=timezone.now())
        result = {"generation": draft.pk, "previous": active.pk, **moved, "warnings": len(warnings)}
        audit_event(
            event="generation_activated",
            actor=actor,
            target=draft,
            data={"previous": active.pk, "edits": draft.edits.count(), **moved},
        )
        transaction.on_commit(lambda: [bump(source) for source in ("boundaries", "households", "kpi")])
        prerender_soon(sources=("boundaries", "households", "kpi"))
    return result


@transaction.atomic
def draft_activate_later(*, scope: Scope, actor, draft: Generation, confirm_warnings: bool = False) -> None:
    """
    Activation on a worker (boundaries.tasks): who may activate is checked now, the checks and the
    reassignment run there; a refusal then goes to the audit log.
    """
    from boundaries.tasks import draft_activate_task
    from jobs.services import task_enqueue

    _check_may_activate(scope, draft)
    _begin(draft)
    task_enqueue(draft_activate_task, draft.pk, actor.pk, confirm_warnings)


def _reassign(draft: Generation, active: Generation) -> dict:
    """
    Households (and their residents) and buildings inside the changed areas go to the draft's cells,
    by the same rule as the bulk assignment (the covering cell with the smallest code; for a point in
    no cell, the deepest unit covering it, else the nearest cell's community). Only the points in the
    changed area are looked at, found by the cells through the points' spatial index.
    """
    from boundaries.checks import CHANGED_ROWS

    params = {"generation": draft.pk}
    with connection.cursor() as cursor:
        # Compiling these statements costs more than running them.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(
            f"CREATE TEMP TABLE draft_changed ON COMMIT DROP AS {CHANGED_ROWS}",
            {"draft": draft.pk, "active": active.pk},
        )
        cursor.execute("ANALYZE draft_changed")
        households = _reassign_points(cursor, "residents_household", params)
        cursor.execute(
            "UPDATE residents_resident r SET unit_code = h.unit_code FROM residents_household h"
            " WHERE r.household_id = h.id AND h.id IN (SELECT id FROM draft_moved_before)"
            " AND r.unit_code IS DISTINCT FROM h.unit_code"
        )
        cursor.execute("DROP TABLE draft_moved_before")
        buildings = _reassign_points(cursor, "residents_building", params)
        cursor.execute("DROP TABLE draft_moved_before; DROP TABLE draft_changed")
    return {"households_moved": households, "buildings_moved": buildings}


def _reassign_points(cursor, table: str, params: dict) -> int:
    """
    Places the points of `table` (households or buildings) inside the changed rows of the temporary
    table draft_changed in the draft's cells, and returns how many changed their cell. The points
    looked at stay in the temporary table draft_moved_before (id, grid_code before).
    """
    from boundaries import sql

    # Each changed row finds its points through the points' spatial index (one union of all of them
    # would cover the city with its bounding box and test every point).
    cursor.execute(
        "CREATE TEMP TABLE draft_moved_before ON COMMIT DROP AS SELECT DISTINCT h.id, h.grid_code"
        f" FROM draft_changed changed JOIN {table} h ON ST_Intersects(h.location, changed.geom)"
    )
    cursor.execute("ALTER TABLE draft_moved_before ADD PRIMARY KEY (id); ANALYZE draft_moved_before")
    # Placed polygon-driven: each of the draft's cells near the change (its box meets a changed
    # row's) finds its points through the points' index; a point looked up cell by cell instead
    # costs ten times more. Only the points whose cell changes are written.
    cursor.execute(
        "WITH near_cells AS MATERIALIZED ("
        "   SELECT cell.code, cell.geom FROM boundaries_gridunit cell WHERE cell.id IN ("
        "     SELECT near.id FROM draft_changed changed"
        "     CROSS JOIN LATERAL (SELECT n.id FROM boundaries_gridunit n WHERE n.geom && changed.geom"
        f"      AND n.level = {Level.GRID:d} AND {sql.valid_at('n')}) near)"
        " ), hits AS ("
        "   SELECT h.id, min(cell.code) AS code FROM near_cells cell"
        f"   JOIN {table} h ON ST_Intersects(cell.geom, h.location)"
        "   JOIN draft_moved_before b ON b.id = h.id GROUP BY h.id"
        " )"
        f" UPDATE {table} p SET grid_code = coalesce(hits.code, ''), unit_code = coalesce(hits.code, '')"
        " FROM draft_moved_before b LEFT JOIN hits ON hits.id = b.id"
        " WHERE p.id = b.id AND coalesce(hits.code, '') IS DISTINCT FROM b.grid_code",
        params,
    )
    moved = cursor.rowcount
    cursor.execute(
        sql.UNASSIGNED_RESPONSIBLE_UNIT.format(
            table=table,
            unit="unit_code",
            geom="location",
            grid="grid_code",
            where="AND p.id IN (SELECT id FROM draft_moved_before)",
        ),
        params,
    )
    return moved
