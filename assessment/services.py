"""Computing indicator rollups (whole periods, or only those whose records changed) and storing them."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from assessment import sql
from assessment.indicators import INDICATORS
from assessment.models import KpiValue, RefreshState
from assessment.periods import KINDS, Period, period_containing
from boundaries.models import GridUnit, Level
from boundaries.selectors import ancestor_codes, generation_active, valid_at_q
from tiles.cache import bump
from tiles.prerender import prerender_soon

COUNT_KEYS = (
    "incidents_reported",
    "incidents_found",
    "incidents_from_residents",
    "incidents_accepted",
    "incidents_resolved",
    "visits",
)
RATIO_KEYS = (
    "accept_on_time",
    "dispatch_on_time",
    "resolve_on_time",
    "escalation_rate",
    "reopen_rate",
    "satisfied_share",
    "mean_satisfaction",
    "evaluation_rate",
)
# Counts that are zero (not unknown) when nothing was found.
ZERO_WHEN_EMPTY = COUNT_KEYS + ("unassigned_points", "households", "residents", "open_incidents", "overdue_incidents")
PERSON_ROLE = "grid_worker"
FRESH_MONTHS = 6


def _rows(statement: str, params: dict) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        columns = [c.name for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _incident_values(record: dict, values: dict, parts: dict) -> None:
    for key in COUNT_KEYS[:5]:
        if key in record:
            values[key] = int(record[key] or 0)
    for key in RATIO_KEYS:
        if f"{key}_d" in record:
            _share(values, parts, key, record[f"{key}_n"], record[f"{key}_d"])
    for key in ("median_hours_to_resolve", "p90_hours_to_resolve"):
        if key in record:
            values[key] = round(float(record[key]), 1) if record[key] is not None else None


def _days_since(last: dt.datetime | None, until: dt.datetime) -> float | None:
    return round((until - last).total_seconds() / 86400, 1) if last else None


@dataclass
class Snapshot:
    """What does not depend on the period: the units, the basic data's state, the people and their cells."""

    units: list[tuple[str, int, str | None, str, float]]  # code, level, parent, name, area in m²
    basic: dict[str, dict]
    basic_parts: dict[str, dict]
    households: dict[str, int]
    person_units: dict[str, str]
    person_households: dict[str, int]
    person_names: dict[str, str]


def take_snapshot(*, now: dt.datetime | None = None) -> Snapshot:
    now = now or timezone.now()
    params = {"fresh_since": now - dt.timedelta(days=30 * FRESH_MONTHS), "role": PERSON_ROLE}
    generation = generation_active()
    fields = ("code", "level", "parent_code", "name", "area_m2")
    units = list(GridUnit.objects.filter(valid_at_q(generation)).values_list(*fields)) if generation else []
    basic: dict[str, dict] = defaultdict(dict)
    parts: dict[str, dict] = defaultdict(dict)
    households: dict[str, int] = {}
    for record in _rows(sql.UNIT_BASIC_DATA, params):
        code = record["subject"]
        households[code] = record["households"]
        _share(basic[code], parts[code], "household_completeness", record["complete_households"], record["households"])
        _share(basic[code], parts[code], "data_freshness", record["fresh_households"], record["households"])
        basic[code]["unassigned_points"] = record["unassigned"]
        basic[code]["households"] = record["households"]
    for record in _rows(sql.UNIT_TAGS, params):
        basic[record["subject"]][record["key"]] = record["n"]
    for record in _rows(sql.UNIT_WORKLOAD, {**params, "now": now}):
        basic[record["subject"]]["open_incidents"] = record["open_incidents"]
        basic[record["subject"]]["overdue_incidents"] = record["overdue_incidents"]
    for record in _rows(sql.UNIT_RESIDENTS, params):
        basic[record["subject"]]["residents"] = record["residents"]
        _share(
            basic[record["subject"]],
            parts[record["subject"]],
            "resident_completeness",
            record["complete_residents"],
            record["residents"],
        )
    return Snapshot(
        units=units,
        basic=basic,
        basic_parts=parts,
        households=households,
        person_units=dict(_plain(sql.PERSON_UNITS, params)),
        person_households=dict(_plain(sql.PERSON_HOUSEHOLDS, params)),
        person_names={
            str(pk): name or username
            for pk, username, name in get_user_model()
            .objects.filter(groups__name=PERSON_ROLE)
            .values_list("pk", "username", "first_name")
        },
    )


def _share(values: dict, parts: dict, key: str, numerator, denominator) -> None:
    numerator, denominator = float(numerator or 0), float(denominator or 0)
    values[key] = round(numerator / denominator, 4) if denominator else None
    parts[key] = [numerator, denominator]


def compute_period(
    period: Period, *, snapshot: Snapshot | None = None, now: dt.datetime | None = None
) -> list[KpiValue]:
    """Every indicator of every unit (at every level) and every grid worker for one period."""
    now = now or timezone.now()
    snapshot = snapshot or take_snapshot(now=now)
    start, end = period.bounds()
    params = {"start": start, "end": end, "now": now}
    horizon = min(end, now)
    unit_values: dict[str, dict] = {code: dict(snapshot.basic.get(code, {})) for code, *_rest in snapshot.units}
    unit_parts: dict[str, dict] = {code: dict(snapshot.basic_parts.get(code, {})) for code, *_rest in snapshot.units}

    for record in _rows(sql.UNIT_INCIDENTS, params):
        if record["subject"] in unit_values:
            _incident_values(record, unit_values[record["subject"]], unit_parts[record["subject"]])
    visited: dict[str, float] = {}
    for record in _rows(sql.UNIT_VISITS, params):
        code = record["subject"]
        if code not in unit_values:
            continue
        if record["part"] == "visits":
            unit_values[code]["visits"] = int(record["count"])
            unit_values[code]["days_since_last_visit"] = _days_since(record["last"], horizon)
        else:
            visited[code] = record["count"]
    unit_keys = [key for key, indicator in INDICATORS.items() if "unit" in indicator.subjects]
    areas = {code: area for code, _level, _parent, _name, area in snapshot.units}
    for code, values in unit_values.items():
        _share(values, unit_parts[code], "visit_coverage", visited.get(code, 0), snapshot.households.get(code, 0))
        for key in unit_keys:
            values.setdefault(key, 0 if key in ZERO_WHEN_EMPTY else None)
        residents = values["residents"]
        values["residents_per_km2"] = round(residents / (areas[code] / 1e6), 1) if areas.get(code) else None
        values["incidents_per_1000_residents"] = (
            round(values["incidents_reported"] * 1000 / residents, 2) if residents else None
        )

    rows = [
        KpiValue(
            period_kind=period.kind,
            period_start=period.start,
            subject_kind="unit",
            subject=code,
            level=level,
            unit_code=code,
            name=name,
            parent=parent or "",
            values=unit_values[code],
            parts=unit_parts[code],
        )
        for code, level, parent, name, _area in snapshot.units
    ]
    rows += _people(params, horizon, period, snapshot)
    return rows


def _people(params: dict, horizon: dt.datetime, period: Period, snapshot: Snapshot) -> list[KpiValue]:
    """The indicators of each grid worker; their peers are the workers of the same street."""
    units = snapshot.person_units
    if not units:
        return []
    values: dict[str, dict] = defaultdict(dict)
    parts: dict[str, dict] = defaultdict(dict)
    for record in _rows(sql.PERSON_ASSIGNED, params):
        if record["subject"] in units:
            _incident_values(record, values[record["subject"]], parts[record["subject"]])
    for user, found in _plain(sql.PERSON_FOUND, params):
        if user in units:
            values[user]["incidents_found"] = int(found or 0)
    for user, visits, last, seen in _plain(sql.PERSON_VISITS, params):
        if user in units:
            values[user]["visits"] = int(visits)
            values[user]["days_since_last_visit"] = _days_since(last, horizon)
            _share(values[user], parts[user], "visit_coverage", seen, snapshot.person_households.get(user, 0))
    rows = []
    person_keys = [key for key, indicator in INDICATORS.items() if "person" in indicator.subjects]
    for user, code in units.items():
        values[user] = {key: values[user].get(key, 0 if key in COUNT_KEYS else None) for key in person_keys}
        parts[user] = {key: value for key, value in parts[user].items() if key in person_keys}
        chain = ancestor_codes(code)
        street = next((c for c in chain if len(c) == 9), code[:9])
        rows.append(
            KpiValue(
                period_kind=period.kind,
                period_start=period.start,
                subject_kind="person",
                subject=user,
                level=None,
                unit_code=code,
                parent=street,
                values=values[user],
                parts=parts[user],
            )
        )
    return rows


def _plain(statement: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


COPY_FIELDS = (
    "period_kind",
    "period_start",
    "subject_kind",
    "subject",
    "level",
    "unit_code",
    "name",
    "parent",
    "values",
    "parts",
)


def _copy_value(row: KpiValue, name: str):
    value = getattr(row, name)
    return json.dumps(value) if name in ("values", "parts") else value


@transaction.atomic
def kpi_refresh_period(period: Period, *, now: dt.datetime | None = None, snapshot: Snapshot | None = None) -> int:
    """Recomputes one period for every subject and replaces its stored values; returns how many rows."""
    with connection.cursor() as cursor:
        # Refreshes of one period take turns (a task delivered twice, the periodic job beside a request):
        # the second's delete would miss the first's new rows and its copy collide with them.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('kpi-period'), hashtext(%s))", [str(period)])
    rows = compute_period(period, now=now, snapshot=snapshot)
    KpiValue.objects.filter(period_kind=period.kind, period_start=period.start).delete()
    columns = ", ".join(f'"{name}"' for name in COPY_FIELDS) + ", computed_at"
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY assessment_kpivalue ({columns}) FROM STDIN") as copy:
        stamp = timezone.now()
        for row in rows:
            copy.write_row([_copy_value(row, name) for name in COPY_FIELDS] + [stamp])
    return len(rows)


def _changed_days(since: dt.datetime | None) -> tuple[set[dt.date], dt.datetime | None]:
    """The days whose records changed since the watermark, and the new watermark."""
    from incidents.models import Incident, VisitLog
    from residents.models import Household

    days: set[dt.date] = set()
    newest = since
    incidents = Incident.objects.all() if since is None else Incident.objects.filter(updated_at__gt=since)
    for field in ("reported_at", "accepted_at", "resolved_at", "evaluated_at"):
        for moment in incidents.exclude(**{f"{field}__isnull": True}).values_list(field, flat=True).distinct():
            days.add(timezone.localtime(moment).date())
    logs = VisitLog.objects.all() if since is None else VisitLog.objects.filter(created_at__gt=since)
    days.update(timezone.localtime(m).date() for m in logs.values_list("visited_at", flat=True).distinct())
    for queryset, field in (
        (Incident.objects, "updated_at"),
        (VisitLog.objects, "created_at"),
        (Household.objects, "updated_at"),
    ):
        latest = queryset.aggregate(latest=Max(field))["latest"]
        if latest and (newest is None or latest > newest):
            newest = latest
    if since is not None and Household.objects.filter(updated_at__gt=since).exists():
        days.add(timezone.localdate())  # basic data has no history: the current periods show it
    return days, newest


def kpi_refresh(*, kinds=KINDS, now: dt.datetime | None = None, full: bool = False) -> dict[str, int]:
    """
    The incremental refresh run by the periodic job: the periods (of each kind) holding a day whose
    records changed since the last run are recomputed, and the current periods always are (their
    "days since" and on-time figures move with the clock). `full` recomputes every period with data.
    """
    state, _created = RefreshState.objects.get_or_create(source="kpi")
    days, watermark = _changed_days(None if full else state.watermark)
    today = timezone.localdate()
    days.add(today)
    refreshed: dict[str, int] = {}
    snapshot = take_snapshot(now=now)
    for kind in kinds:
        periods = sorted({period_containing(kind, day) for day in days})
        for period in periods:
            refreshed[str(period)] = kpi_refresh_period(period, now=now, snapshot=snapshot)
    RefreshState.objects.filter(pk=state.pk).update(watermark=watermark)
    if refreshed:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE assessment_kpivalue")  # fresh statistics for the tables read next
        bump("kpi")
        prerender_soon(sources=("kpi",))
    return refreshed


def kpi_refresh_later() -> None:
    """The incremental refresh, on a worker (assessment.tasks) once the caller's transaction commits."""
    from assessment.tasks import refresh_kpis
    from jobs.services import task_enqueue

    task_enqueue(refresh_kpis)


def kpi_refresh_job() -> str:
    """The periodic job's entry point (GEOGRID_PERIODIC_JOBS)."""
    return f"{len(kpi_refresh())} periods refreshed"


def level_name(level: int | None) -> str | None:
    return Level(level).slug if level else None
