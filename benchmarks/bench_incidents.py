"""Incident list with filters over 1,000,000 incidents through HTTP, and incidents created per second."""

from __future__ import annotations

import random
import time

from django.contrib.gis.geos import Point
from django.db import connection

from accounts.models import User
from accounts.services import token_create, user_create
from benchmarks.bench_locate import free_port, hammer, start_gunicorn
from benchmarks.common import Results, Row, ensure_bench_city, percentile
from boundaries.models import GridUnit, Level
from boundaries.selectors import generation_active, valid_at_q
from core.scope import Scope
from incidents.models import Category, Incident
from incidents.services import incident_create

FILL_SQL = """
INSERT INTO incidents_incident (number, title, description, category_id, source, priority, status, location,
    address, grid_code, unit_code, generation_id, reporter_name, reporter_phone, reporter_phone_index,
    assigned_unit_code, escalation_level, reopen_count, supervised, reported_at, resolved_at, due_at,
    evaluation_comment, external_token, version, updated_at, satisfaction)
SELECT lpad((90000000 + g)::text, 8, '0'), c.name, c.name || ' 测试', c.id,
    (ARRAY['hotline','patrol','sms','web','mobile','visit_log'])[1 + g %% 6], 'normal',
    (ARRAY['reported','accepted','dispatched','in_progress','resolved','evaluated','closed','closed','closed',
           'closed'])[1 + (g * 7) %% 10],
    ST_SetSRID(ST_MakePoint(ST_X(u.label_point) + (random() - 0.5) * 0.0005,
                            ST_Y(u.label_point) + (random() - 0.5) * 0.0005), 4326),
    '', u.code, u.code, %(generation)s, '', '', '', left(u.code, 12), 0, 0, g %% 50 = 0,
    now() - (g %% 365) * interval '1 day' - (g %% 24) * interval '1 hour',
    CASE WHEN (g * 7) %% 10 >= 4 THEN now() - (g %% 365) * interval '1 day' + interval '20 hours' END,
    now() - (g %% 365) * interval '1 day' + interval '1 day', '', 'bench' || g, 1, now(),
    CASE WHEN (g * 7) %% 10 >= 5 THEN 1 + g %% 5 END
FROM generate_series(1::bigint, %(count)s) g
JOIN LATERAL (SELECT * FROM cells WHERE cells.n = 1 + (g * 7919) %% %(cells)s) u ON true
JOIN LATERAL (SELECT * FROM minors WHERE minors.n = 1 + g %% %(minors)s) c ON true
"""


def _fill(count: int) -> None:
    generation = generation_active()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE cells AS SELECT row_number() OVER (ORDER BY code) AS n, code, label_point "
            "FROM boundaries_gridunit WHERE level = 5 AND generation_high_id IS NULL"
        )
        cursor.execute(
            "CREATE TEMP TABLE minors AS SELECT row_number() OVER (ORDER BY code) AS n, id, name "
            "FROM incidents_category WHERE parent_id IS NOT NULL"
        )
        cursor.execute("CREATE INDEX ON cells (n); CREATE INDEX ON minors (n)")
        cursor.execute("SELECT count(*) FROM cells")
        cells = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM minors")
        minors = cursor.fetchone()[0]
        cursor.execute(FILL_SQL, {"generation": generation.pk, "count": count, "cells": cells, "minors": minors})
        cursor.execute("DROP TABLE cells, minors")
        # As autovacuum would do on a live system: statistics, and the visibility map index-only scans need.
        cursor.execute("VACUUM ANALYZE incidents_incident")


def _token(username: str, role: str, unit: str) -> str:
    user = User.objects.filter(username=username).first() or user_create(
        scope=Scope.everything(), username=username, password=None, roles=[role], units=[unit], validate_password=False
    )
    return token_create(user=user, name="bench")[1]


def run(results: Results, *, incidents: int = 1_000_000, seconds: float = 15, creates: int = 300) -> None:
    ensure_bench_city()
    have = Incident.objects.count()
    if have < incidents:
        print(f"Writing {incidents - have:,} incidents", flush=True)
        _fill(incidents - have)
    street = GridUnit.objects.filter(valid_at_q(generation_active()), level=Level.STREET).order_by("code").first()
    admin_key = _token("bench-admin", "system_admin", street.code[:4] + "00")
    leader_key = _token("bench-street", "street_leader", street.code)
    paths = [
        "/api/v1/incidents/?status=in_progress,dispatched&page_size=50",
        "/api/v1/incidents/?category=E04&overdue=true&page_size=50",
        f"/api/v1/incidents/?under={street.code}&status=closed&sort=-reported_at&page_size=50",
        "/api/v1/incidents/?source=hotline&reported_after=2026-01-01T00:00:00Z&page_size=50",
    ]
    port = free_port()
    process = start_gunicorn(port)
    try:
        rows = []
        for label, key in (("city-wide (administrator)", admin_key), ("one street (street leader)", leader_key)):
            hammer(port, paths[:1], threads=2, seconds=1, headers={"Authorization": f"Token {key}"})
            latencies, errors, elapsed = hammer(
                port, paths, threads=4, seconds=seconds, headers={"Authorization": f"Token {key}"}
            )
            rows.append((label, latencies, errors, elapsed))
    finally:
        process.terminate()
        process.wait(timeout=10)
    for label, latencies, errors, elapsed in rows:
        results.add(
            Row(
                name=f"incident list with filters over {incidents:,} incidents, {label}, p50",
                value=percentile(latencies, 50),
                unit="ms",
                target="no errors",
                passed=errors == 0,
                notes=f"p95 {percentile(latencies, 95):.1f} ms, {len(latencies) / elapsed:.0f} req/s, {errors} errors; "
                "4 filter mixes, 50 a page",
            )
        )

    categories = list(Category.objects.filter(parent__isnull=False))
    cells = list(
        GridUnit.objects.filter(valid_at_q(generation_active()), level=Level.GRID).values_list(
            "label_point", flat=True
        )[:2000]
    )
    rng = random.Random(5)
    everything = Scope.everything()
    start = time.perf_counter()
    for _ in range(creates):
        point = rng.choice(cells)
        incident_create(
            scope=everything,
            actor=None,
            title="基准",
            description="基准测试事件",
            category=rng.choice(categories),
            location=Point(point.x, point.y, srid=4326),
            source="hotline",
        )
    rate = creates / (time.perf_counter() - start)
    results.add(
        Row(
            name="incidents created per second (point-in-polygon, routing, deadline, timeline, audit)",
            value=rate,
            unit="/s",
            target="reported",
            notes=f"{creates} creations through the service, one process",
        )
    )
