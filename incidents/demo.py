"""The demo city's year of incidents and visit logs: hotspots, seasons, every status, written in bulk."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
from django.contrib.gis.geos import Point
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import UnitBinding, User
from accounts.services import user_create
from boundaries.models import GridUnit, Level
from boundaries.selectors import ancestor_codes, generation_active, valid_at_q
from boundaries.services import cells_for_points
from core.scope import Scope
from incidents.models import Category, Incident, IncidentEvent, Source, Status, VisitLog
from incidents.services import route
from incidents.workflow import STEP_OF_STATUS
from residents.models import Household

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"

# Hotspots: the kind of place, how many, their spread (m), and the major classes they produce.
HOTSPOTS = [
    ("market", 6, 120, {"E04": 0.45, "E01": 0.3, "E02": 0.1, "E06": 0.15}),
    ("construction", 5, 150, {"E03": 0.6, "E01": 0.2, "C06": 0.2}),
    ("old_residential", 8, 200, {"C01": 0.3, "E06": 0.25, "E01": 0.25, "C05": 0.2}),
]
BACKGROUND = {
    "E01": 0.22,
    "E04": 0.18,
    "C01": 0.14,
    "C02": 0.12,
    "C03": 0.08,
    "C04": 0.06,
    "E02": 0.06,
    "E06": 0.08,
    "E05": 0.03,
    "C05": 0.03,
}
# Seasons: month -> multipliers of some major (or minor) classes.
SEASONAL = {
    "E0506": {12: 3.0, 1: 3.0, 2: 2.0},  # snow and ice
    "E0505": {7: 4.0, 8: 3.0, 6: 1.5},  # standing water after summer storms
    "E0302": {3: 2.5, 4: 2.5, 5: 2.0},  # construction dust in spring
    "E04": {5: 1.3, 6: 1.4, 7: 1.5, 8: 1.5, 9: 1.2},  # street trading in the warm months
}
SOURCES = [
    (Source.HOTLINE, 0.35),
    (Source.PATROL, 0.25),
    (Source.VISIT_LOG, 0.08),
    (Source.SMS, 0.1),
    (Source.WEB, 0.1),
    (Source.MOBILE, 0.09),
    (Source.OPEN311, 0.03),
]


@dataclass
class _Staff:
    dispatcher: User
    workers: dict[str, User]  # community code -> grid worker


def _name(rng) -> str:
    return SURNAMES[rng.integers(len(SURNAMES))] + "".join(
        GIVEN[i] for i in rng.integers(len(GIVEN), size=rng.integers(1, 3))
    )


def ensure_grid_workers(rng) -> dict[str, User]:
    """One grid worker per community (the demo's own `grid_worker` keeps its community)."""
    generation = generation_active()
    communities = list(
        GridUnit.objects.filter(valid_at_q(generation), level=Level.COMMUNITY)
        .order_by("code")
        .values_list("code", flat=True)
    )
    workers: dict[str, User] = {}
    for binding in UnitBinding.objects.filter(user__groups__name="grid_worker").select_related("user"):
        workers.setdefault(binding.unit_code[:12], binding.user)
    for code in communities:
        if code in workers:
            continue
        workers[code] = user_create(
            scope=Scope.everything(),
            username=f"gw{code[-6:]}",
            password=None,
            roles=["grid_worker"],
            units=[code],
            full_name=_name(rng),
            validate_password=False,
        )
    return workers


def _hotspots(rng, households: np.ndarray) -> list[tuple[float, float, float, dict]]:
    spots = []
    for _kind, count, spread, classes in HOTSPOTS:
        for index in rng.choice(len(households), size=count, replace=len(households) < count):
            lon, lat = households[index]
            spots.append((lon, lat, spread, classes))
    return spots


def _pick(rng, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[rng.choice(len(keys), p=p / p.sum())]


def _minor(rng, major: str, month: int, minors: dict[str, list[Category]]) -> Category:
    options = minors[major]
    weights = np.array([SEASONAL.get(c.code, {}).get(month, 1.0) for c in options])
    return options[rng.choice(len(options), p=weights / weights.sum())]


def load_demo_incidents(*, seed: int = 20240601, incidents: int = 20_000, today: dt.datetime | None = None) -> dict:
    """A year of incidents ending today, and the grid workers' visit logs; returns what was written."""
    rng = np.random.default_rng(seed)
    today = timezone.localtime(today or timezone.now())  # hours of the day are local hours
    workers = ensure_grid_workers(rng)
    dispatcher = User.objects.filter(groups__name="dispatcher").order_by("pk").first() or next(iter(workers.values()))
    households = np.array(
        [(p.x, p.y) for p in Household.objects.exclude(grid_code="").order_by("pk").values_list("location", flat=True)]
    )
    if len(households) == 0:
        raise RuntimeError("Load the demo households first.")
    minors: dict[str, list[Category]] = {}
    for category in (
        Category.objects.filter(parent__isnull=False, active=True)
        .select_related("parent", "default_department")
        .order_by("code")
    ):
        minors.setdefault(category.parent.code, []).append(category)
    spots = _hotspots(rng, households)

    # When: a year back from today, more in the warm months and on weekdays, more by day.
    days = rng.uniform(0, 365, incidents * 2)
    when = [today - dt.timedelta(days=float(d)) for d in days]
    month_weight = np.array([1.0 + 0.35 * math.sin((w.month - 4) / 12 * 2 * math.pi) for w in when])
    keep = rng.random(len(when)) < month_weight / month_weight.max()
    when = [w for w, k in zip(when, keep, strict=True) if k][:incidents]
    hours = rng.normal(13, 4, len(when)).clip(6, 22)
    when = sorted(w.replace(hour=int(h), minute=int(rng.integers(60))) for w, h in zip(when, hours, strict=True))

    # Where and what: a third around hotspots, the rest where people live.
    points, categories = [], []
    for moment in when:
        if rng.random() < 0.35:
            lon, lat, spread, classes = spots[rng.integers(len(spots))]
            major = _pick(rng, classes)
        else:
            lon, lat = households[rng.integers(len(households))]
            spread, major = 60, _pick(rng, BACKGROUND)
        metres = rng.normal(0, spread, 2)
        points.append((lon + metres[0] / (111_320 * math.cos(math.radians(lat))), lat + metres[1] / 110_540))
        categories.append(_minor(rng, major, moment.month, minors))
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    cells = cells_for_points(lon=lon, lat=lat)
    inside = [i for i, cell in enumerate(cells) if cell]

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval('incidents_case_number') FROM generate_series(1, %s)", [len(inside)])
            numbers = [f"{row[0]:08d}" for row in cursor.fetchall()]
        routes: dict = {}
        generation = generation_active()
        rows, timelines, merges = [], [], []
        # The most recent cases stop at every status a desk sees, so each one appears in the demo.
        stops = [
            Status.REPORTED,
            Status.ACCEPTED,
            Status.DISPATCHED,
            Status.IN_PROGRESS,
            Status.RETURNED,
            Status.ESCALATED,
            Status.RESOLVED,
            Status.EVALUATED,
            Status.MERGED,
        ]
        for position, (number, index) in enumerate(zip(numbers, inside, strict=True)):
            recent = position >= len(inside) - 400
            stop = stops[int(rng.integers(len(stops)))] if recent else None
            category, reported, cell = categories[index], when[index], cells[index]
            key = (category.pk, cell[:12])
            if key not in routes:
                routes[key] = route(category=category, unit_code=cell)
            decision = routes[key]
            worker = workers.get(cell[:12])
            incident, events = _life(
                rng,
                number=number,
                category=category,
                reported=reported,
                today=today,
                point=(lon[index], lat[index]),
                cell=cell,
                decision=decision,
                worker=worker,
                dispatcher=dispatcher,
                generation=generation,
                stop=stop,
            )
            if incident.status == Status.MERGED:
                merges.append((len(rows), _earlier_of_category(rows, category)))
            rows.append(incident)
            timelines.append(events)
        for position, target in merges:
            if target is None:  # nothing to merge into: it stays reported
                rows[position].status = Status.REPORTED
                timelines[position] = timelines[position][:1]
        merged = {position: target for position, target in merges if target is not None}
        # Merged cases name their target, so they are written once the targets have their ids.
        Incident.objects.bulk_create([r for i, r in enumerate(rows) if i not in merged], batch_size=2000)
        for position, target in merged.items():
            rows[position].merged_into_id = rows[target].pk
        Incident.objects.bulk_create([rows[i] for i in merged], batch_size=2000)
        events = []
        for incident, timeline in zip(rows, timelines, strict=True):
            for event in timeline:
                event.incident = incident
                events.append(event)
        IncidentEvent.objects.bulk_create(events, batch_size=5000)
        logs = _visit_logs(rng, workers=workers, today=today, incidents=rows)
    return {"incidents": len(rows), "events": len(events), "visit_logs": logs, "grid_workers": len(workers)}


def _hours(rng, mean: float) -> dt.timedelta:
    return dt.timedelta(hours=float(rng.gamma(2.0, mean / 2.0)))


def _earlier_of_category(rows: list[Incident], category: Category) -> int | None:
    for position in range(len(rows) - 1, max(-1, len(rows) - 2000), -1):
        if rows[position].category_id == category.pk and rows[position].status != Status.MERGED:
            return position
    return None


def _life(rng, *, number, category, reported, today, point, cell, decision, worker, dispatcher, generation, stop=None):
    """One incident and its timeline: how far it got depends on its age, on chance, and on `stop`."""
    source = SOURCES[rng.choice(len(SOURCES), p=[w for _s, w in SOURCES])][0]
    incident = Incident(
        number=number,
        title=category.name,
        description=f"{category.name}：{_DESCRIPTIONS[rng.integers(len(_DESCRIPTIONS))]}",
        category=category,
        source=source,
        priority=category.default_priority,
        location=Point(float(point[0]), float(point[1]), srid=4326),
        grid_code=cell,
        unit_code=cell,
        generation=generation,
        reporter_user=worker if source in (Source.PATROL, Source.VISIT_LOG) else None,
        reporter_name="" if source in (Source.PATROL, Source.VISIT_LOG) else _name(rng),
        assigned_unit_code=decision.unit_code,
        assigned_department=decision.department,
        reported_at=reported,
        external_token=f"demo{number}",
    )
    events = [
        IncidentEvent(
            action="report",
            to_status=Status.REPORTED,
            at=reported,
            actor=incident.reporter_user,
            data={"source": source, "routed_to": decision.unit_code},
        )
    ]
    status, clock, version = Status.REPORTED, reported, 1

    def step(action, to, after, actor, **data):
        nonlocal status, clock, version
        if stop is not None and status == stop:
            return False
        at = clock + after
        if at > today:
            return False
        events.append(
            IncidentEvent(
                action=action,
                from_status=status,
                to_status=to,
                at=at,
                actor=actor,
                note=data.pop("note", ""),
                data=data,
            )
        )
        status, clock, version = to, at, version + 1
        return True

    roll = rng.random()
    if stop == Status.MERGED:
        if step("merge", Status.MERGED, _hours(rng, category.accept_hours), dispatcher, note="重复事件"):
            incident.closed_at = clock
    elif roll < 0.03 and stop is None:
        if step("reject", Status.REJECTED, _hours(rng, category.accept_hours), dispatcher, note="非本平台受理范围"):
            incident.closed_at = clock
    elif step("accept", Status.ACCEPTED, _hours(rng, category.accept_hours), dispatcher):
        incident.accepted_at = clock
        if (rng.random() < 0.06 or stop == Status.ESCALATED) and step(
            "escalate", Status.ESCALATED, _hours(rng, category.dispatch_hours), dispatcher, note="需上级协调"
        ):
            chain = ancestor_codes(decision.unit_code)
            incident.assigned_unit_code = chain[-1] if chain else decision.unit_code
            incident.escalation_level = 1
        assignee = worker if len(incident.assigned_unit_code) >= 12 else None
        if step(
            "dispatch",
            Status.DISPATCHED,
            _hours(rng, category.dispatch_hours),
            dispatcher,
            unit=incident.assigned_unit_code,
        ):
            incident.dispatched_at, incident.assignee = clock, assignee
            if (rng.random() < 0.04 or stop == Status.RETURNED) and step(
                "return", Status.RETURNED, _hours(rng, 2), assignee, note="不属于本单位职责"
            ):
                step("dispatch", Status.DISPATCHED, _hours(rng, category.dispatch_hours), dispatcher)
            if status == Status.DISPATCHED and step("start", Status.IN_PROGRESS, _hours(rng, 2), assignee):
                late = rng.random() < 0.12
                if step(
                    "resolve",
                    Status.RESOLVED,
                    _hours(rng, category.resolve_hours * (2.5 if late else 0.6)),
                    assignee,
                    note="已处理完毕",
                ):
                    incident.resolved_at = clock
                    if rng.random() < 0.75 and step(
                        "evaluate",
                        Status.EVALUATED,
                        _hours(rng, 24),
                        dispatcher,
                        satisfaction=int(rng.choice([5, 4, 3, 2, 1], p=[0.55, 0.25, 0.1, 0.06, 0.04])),
                    ):
                        incident.satisfaction = events[-1].data["satisfaction"]
                        incident.evaluated_at = clock
                    if step("close", Status.CLOSED, _hours(rng, 48), dispatcher):
                        incident.closed_at = clock
    incident.status, incident.version = status, version
    incident.supervised = status in (Status.DISPATCHED, Status.IN_PROGRESS) and rng.random() < 0.08
    step_hours = STEP_OF_STATUS.get(status)
    incident.due_at = clock + dt.timedelta(hours=getattr(category, step_hours)) if step_hours else None
    return incident, events


_DESCRIPTIONS = [
    "居民反映情况属实，请尽快处理。",
    "现场核实后发现问题较为严重。",
    "多次反映未解决。",
    "影响周边居民出行。",
    "请相关部门到场处置。",
    "夜间尤为明显。",
]


def _visit_logs(rng, *, workers: dict[str, User], today, incidents: list[Incident]) -> int:
    """Each grid worker visits two or three households of their community a week."""
    by_community: dict[str, list[tuple[int, Point]]] = {}
    for pk, unit_code, location in Household.objects.exclude(grid_code="").values_list("pk", "grid_code", "location"):
        by_community.setdefault(unit_code[:12], []).append((pk, location))
    logs, links = [], []
    through = VisitLog.households.through
    for community, worker in workers.items():
        homes = by_community.get(community)
        if not homes:
            continue
        for week in range(52):
            for _ in range(int(rng.integers(2, 4))):
                pk, location = homes[rng.integers(len(homes))]
                visited = today - dt.timedelta(weeks=week, days=float(rng.uniform(0, 7)))
                mood = rng.choice(["positive", "neutral", "negative"], p=[0.3, 0.55, 0.15])
                logs.append(
                    VisitLog(
                        worker=worker,
                        visited_at=visited,
                        location=location,
                        grid_code="",
                        unit_code=community,
                        discussion=_VISIT_TOPICS[rng.integers(len(_VISIT_TOPICS))],
                        sentiment=mood,
                        problems="楼道照明不足" if mood == "negative" else "",
                    )
                )
                links.append(pk)
    VisitLog.objects.bulk_create(logs, batch_size=5000)
    through.objects.bulk_create(
        [through(visitlog_id=log.pk, household_id=pk) for log, pk in zip(logs, links, strict=True)], batch_size=5000
    )
    with connection.cursor() as cursor:
        # The cell of each log: from its household, which the worker visited.
        cursor.execute(
            "UPDATE incidents_visitlog v SET grid_code = h.grid_code FROM incidents_visitlog_households l "
            "JOIN residents_household h ON h.id = l.household_id WHERE l.visitlog_id = v.id "
            "AND v.grid_code = ''"
        )
    # Incidents found on visits point back to a log of their worker near that time.
    for incident in incidents:
        if incident.source == Source.VISIT_LOG and incident.reporter_user_id:
            log = (
                VisitLog.objects.filter(worker_id=incident.reporter_user_id, visited_at__lte=incident.reported_at)
                .order_by("-visited_at")
                .first()
            )
            if log:
                Incident.objects.filter(pk=incident.pk).update(visit_log=log)
    return len(logs)


_VISIT_TOPICS = [
    "了解家庭近况与诉求",
    "走访独居老人，询问身体情况",
    "宣传垃圾分类政策",
    "核实流动人口登记信息",
    "排查安全隐患",
    "听取居民对小区管理的意见",
]
