"""Reading incidents: lists with filters, duplicates, progress per unit, visit logs and coverage, notifications."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.gis.db.models import PointField
from django.contrib.gis.geos import Point
from django.db import connection
from django.db.models import BooleanField, Count, F, FloatField, Func, Q, QuerySet, Value
from django.db.models.functions import Cast
from django.utils import timezone

from boundaries.models import GridUnit
from boundaries.selectors import generation_active, valid_at_q
from core.scope import Scope, subtree_prefix
from incidents.models import FINAL_STATUSES, OPEN_STATUSES, Category, Incident, Notification, Status, VisitLog
from residents.models import Household


def incident_scope_q(scope: Scope) -> Q:
    """An incident is seen where it lies and where it is handled; department staff see their department's."""
    condition = scope.q("unit_code") | scope.q("assigned_unit_code")
    if scope.department_only and not scope.is_global:
        condition &= Q(assigned_department_id=scope.department_id)
    return condition


def incident_list(
    *,
    scope: Scope,
    category: str | None = None,
    status: list[str] | None = None,
    source: str | None = None,
    under: str | None = None,
    department: str | None = None,
    assignee: int | None = None,
    reporter: int | None = None,
    overdue: bool | None = None,
    supervised: bool | None = None,
    reported_after: dt.datetime | None = None,
    reported_before: dt.datetime | None = None,
    resolved_after: dt.datetime | None = None,
    resolved_before: dt.datetime | None = None,
    q: str | None = None,
    sort: str = "-reported_at",
    now: dt.datetime | None = None,
) -> QuerySet[Incident]:
    incidents = Incident.objects.filter(incident_scope_q(scope))
    if category:
        # The category and, for a major class, its minors: resolved to ids first so the index on
        # (category, reported_at) serves the filter.
        ids = list(Category.objects.filter(Q(code=category) | Q(parent__code=category)).values_list("pk", flat=True))
        incidents = incidents.filter(category_id__in=ids)
    if status:
        incidents = incidents.filter(status__in=status)
    if source:
        incidents = incidents.filter(source=source)
    if under:
        prefix = subtree_prefix(under)
        incidents = incidents.filter(Q(unit_code__startswith=prefix) | Q(assigned_unit_code__startswith=prefix))
    if department:
        incidents = incidents.filter(assigned_department__code=department)
    if assignee is not None:
        incidents = incidents.filter(assignee_id=assignee)
    if reporter is not None:
        incidents = incidents.filter(reporter_user_id=reporter)
    if overdue is not None:
        late = Q(status__in=OPEN_STATUSES, due_at__lt=now or timezone.now())
        incidents = incidents.filter(late) if overdue else incidents.exclude(late)
    if supervised is not None:
        incidents = incidents.filter(supervised=supervised)
    if reported_after:
        incidents = incidents.filter(reported_at__gte=reported_after)
    if reported_before:
        incidents = incidents.filter(reported_at__lt=reported_before)
    if resolved_after:
        incidents = incidents.filter(resolved_at__gte=resolved_after)
    if resolved_before:
        incidents = incidents.filter(resolved_at__lt=resolved_before)
    if q:
        incidents = incidents.filter(
            Q(title__contains=q) | Q(description__contains=q) | Q(number=q) | Q(address__contains=q)
        )
    order = {
        "-reported_at": ["-reported_at", "-id"],
        "reported_at": ["reported_at", "id"],
        "due_at": ["due_at", "id"],
        "-priority": ["-priority_rank", "-reported_at"],
        "-updated_at": ["-updated_at", "-id"],
    }[sort]
    if sort == "-priority":
        incidents = incidents.annotate(
            priority_rank=Func(
                F("priority"),
                function="array_position",
                template="array_position(ARRAY['low','normal','high','urgent']::varchar[], %(expressions)s)",
            )
        )
    return incidents.select_related("category", "assigned_department", "assignee").order_by(*order)


def incident_get(*, scope: Scope, incident_id: int) -> Incident | None:
    return (
        Incident.objects.filter(incident_scope_q(scope), pk=incident_id)
        .select_related(
            "category__parent",
            "assigned_department",
            "assignee",
            "reporter_user",
            "reporter_resident",
            "merged_into",
            "visit_log",
        )
        .prefetch_related("events__actor", "events__attachments", "attachments")
        .first()
    )


def incident_exists(*, scope: Scope, incident_id: int) -> bool:
    return Incident.objects.filter(incident_scope_q(scope), pk=incident_id).exists()


def incident_get_by_number(*, scope: Scope, number: str) -> Incident | None:
    return Incident.objects.filter(incident_scope_q(scope), number=number).first()


def _geography(expression):
    if isinstance(expression, Point):
        expression = Value(expression, output_field=PointField(srid=4326))
    return Cast(expression, PointField(geography=True, srid=4326))


def incident_duplicates(
    *, scope: Scope, category: Category, location: Point, at: dt.datetime | None = None, exclude_id: int | None = None
) -> QuerySet[Incident]:
    """Open cases of the same category within 50 m and 7 days: likely the same problem, reported again."""
    at = at or timezone.now()
    window = dt.timedelta(days=settings.GEOGRID_DUPLICATE_DAYS)
    duplicates = (
        Incident.objects.filter(incident_scope_q(scope), category=category)
        .exclude(status__in=FINAL_STATUSES)
        .filter(reported_at__gte=at - window, reported_at__lte=at + window)
        .filter(
            Func(
                _geography("location"),
                _geography(location),
                Value(float(settings.GEOGRID_DUPLICATE_METRES)),
                function="ST_DWithin",
                output_field=BooleanField(),
            )
        )
        .annotate(
            distance=Func(
                _geography("location"), _geography(location), function="ST_Distance", output_field=FloatField()
            )
        )
    )
    if exclude_id:
        duplicates = duplicates.exclude(pk=exclude_id)
    return duplicates.order_by("reported_at")


PROGRESS_SQL = """
SELECT left(i.unit_code, %(child_length)s) AS child,
    count(*) AS total,
    count(*) FILTER (WHERE i.status = ANY(%(open)s)) AS open,
    count(*) FILTER (WHERE i.status = ANY(%(open)s) AND i.due_at < %(now)s) AS overdue,
    count(*) FILTER (WHERE i.resolved_at IS NOT NULL) AS resolved,
    count(*) FILTER (WHERE i.supervised) AS supervised,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM i.resolved_at - i.reported_at) / 3600)
        FILTER (WHERE i.resolved_at IS NOT NULL) AS median_hours,
    avg(i.satisfaction) AS satisfaction,
    count(i.satisfaction) AS evaluations,
    jsonb_object_agg_status
FROM incidents_incident i
WHERE i.unit_code LIKE %(prefix)s {scope} {period}
GROUP BY 1
"""


def incident_progress(
    *,
    scope: Scope,
    unit_code: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> list[dict]:
    """
    Progress of each child of a unit (or of a grid cell itself): counts by status, open, overdue,
    resolved, median hours to resolve, mean satisfaction; one grouped query, within scope.
    """
    is_city = len(unit_code) == 6 and unit_code.endswith("00")
    child_length = 6 if is_city else min(len(unit_code) + 3, 15)
    generation = generation_active()
    children = (
        {
            u.code: u.name
            for u in GridUnit.objects.filter(valid_at_q(generation), parent_code=unit_code).only("code", "name")
        }
        if generation
        else {}
    )
    params: dict = {
        "child_length": child_length,
        "open": list(OPEN_STATUSES),
        "now": now or timezone.now(),
        "prefix": subtree_prefix(unit_code) + "%",
    }
    scope_sql = ""
    if not scope.is_global:
        prefixes = sorted(scope.view_prefixes) or ["-"]
        params["scope"] = [p + "%" for p in prefixes]
        scope_sql = "AND (i.unit_code LIKE ANY(%(scope)s) OR i.assigned_unit_code LIKE ANY(%(scope)s))"
        if scope.department_only:
            params["department"] = scope.department_id
            scope_sql += " AND i.assigned_department_id = %(department)s"
    period_sql = ""
    if since:
        params["since"] = since
        period_sql += " AND i.reported_at >= %(since)s"
    if until:
        params["until"] = until
        period_sql += " AND i.reported_at < %(until)s"
    statuses = ", ".join(f"count(*) FILTER (WHERE i.status = '{s}') AS status_{s}" for s in Status.values)
    statement = PROGRESS_SQL.replace("jsonb_object_agg_status", statuses).format(scope=scope_sql, period=period_sql)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        columns = [c.name for c in cursor.description]
        rows = {row[0]: dict(zip(columns, row, strict=True)) for row in cursor.fetchall()}
    result = []
    for code in sorted(set(children) | {c for c in rows if c}):
        row = rows.get(code, {})
        result.append(
            {
                "code": code,
                "name": children.get(code, ""),
                "total": row.get("total", 0),
                "open": row.get("open", 0),
                "overdue": row.get("overdue", 0),
                "resolved": row.get("resolved", 0),
                "supervised": row.get("supervised", 0),
                "median_hours_to_resolve": round(row["median_hours"], 1)
                if row.get("median_hours") is not None
                else None,
                "satisfaction": round(float(row["satisfaction"]), 2) if row.get("satisfaction") is not None else None,
                "evaluations": row.get("evaluations", 0),
                "by_status": {s: row.get(f"status_{s}", 0) for s in Status.values},
            }
        )
    return result


def visit_log_list(
    *,
    scope: Scope,
    worker: int | None = None,
    under: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet[VisitLog]:
    logs = VisitLog.objects.filter(scope.q("unit_code"))
    if worker is not None:
        logs = logs.filter(worker_id=worker)
    if under:
        logs = logs.filter(unit_code__startswith=subtree_prefix(under))
    if since:
        logs = logs.filter(visited_at__gte=since)
    if until:
        logs = logs.filter(visited_at__lt=until)
    return logs.select_related("worker").prefetch_related("households", "incidents").order_by("-visited_at", "-id")


def visit_log_get(*, scope: Scope, log_id: int) -> VisitLog | None:
    return visit_log_list(scope=scope).prefetch_related("residents", "attachments").filter(pk=log_id).first()


def visit_coverage(*, scope: Scope, under: str, since: dt.datetime, until: dt.datetime, by: str = "cell") -> list[dict]:
    """
    How much of each cell (or each worker's cells) was visited in a period: logs, distinct
    households visited, households there, and the share. One grouped query each.
    """
    prefix = subtree_prefix(under)
    logs = VisitLog.objects.filter(
        scope.q("unit_code"), unit_code__startswith=prefix, visited_at__gte=since, visited_at__lt=until
    )
    if by == "worker":
        rows = (
            logs.values("worker_id", "worker__username", "worker__first_name")
            .annotate(
                logs=Count("id", distinct=True),
                households_visited=Count("households", distinct=True),
                cells=Count("grid_code", distinct=True),
            )
            .order_by("worker__username")
        )
        return [
            {
                "worker": r["worker__username"],
                "name": r["worker__first_name"],
                "logs": r["logs"],
                "households_visited": r["households_visited"],
                "cells": r["cells"],
            }
            for r in rows
        ]
    visited = {
        r["grid_code"]: r
        for r in logs.exclude(grid_code="")
        .values("grid_code")
        .annotate(logs=Count("id", distinct=True), households_visited=Count("households", distinct=True))
    }
    households = {
        r["grid_code"]: r["n"]
        for r in Household.objects.filter(scope.q("unit_code"), unit_code__startswith=prefix)
        .exclude(grid_code="")
        .values("grid_code")
        .annotate(n=Count("id"))
    }
    result = []
    for code in sorted(set(visited) | set(households)):
        total = households.get(code, 0)
        seen = visited.get(code, {}).get("households_visited", 0)
        result.append(
            {
                "grid_code": code,
                "logs": visited.get(code, {}).get("logs", 0),
                "households_visited": seen,
                "households": total,
                "coverage": round(seen / total, 4) if total else None,
            }
        )
    return result


def notification_list(*, user, unread: bool | None = None) -> QuerySet[Notification]:
    notifications = Notification.objects.filter(recipient=user).select_related("incident")
    if unread is not None:
        notifications = notifications.filter(read_at__isnull=unread)
    return notifications.order_by("-created_at", "-id")


def category_list(*, family: str | None = None, active: bool | None = True) -> QuerySet[Category]:
    categories = Category.objects.select_related("parent", "default_department")
    if family:
        categories = categories.filter(family=family)
    if active is not None:
        categories = categories.filter(active=active)
    return categories.order_by("code")
