"""The city-wide KPI table of 10,000 units over 1,000,000 incidents, from the rollups vs from raw rows."""

from __future__ import annotations

from assessment.periods import period_containing
from assessment.selectors import kpi_rows, kpi_table
from assessment.services import compute_period, kpi_refresh_period, take_snapshot
from benchmarks.bench_incidents import _fill, _token
from benchmarks.bench_locate import free_port, hammer, start_gunicorn
from benchmarks.common import Results, Row, ensure_bench_city, percentile, timed
from core.scope import Scope
from incidents.models import Incident


def run(results: Results, *, incidents: int = 1_000_000) -> None:
    ensure_bench_city()
    have = Incident.objects.count()
    if have < incidents:
        _fill(incidents - have)
    period = period_containing("year", Incident.objects.order_by("-reported_at").first().reported_at.date())
    refresh_seconds, written = timed(lambda: kpi_refresh_period(period), repeat=1)
    everything = Scope.everything()
    table_seconds, rows = timed(lambda: "[" + ",".join(kpi_table(scope=everything, period=period)) + "]", repeat=3)
    rows = list(kpi_rows(scope=everything, period=period).values_list("unit_code", flat=True))
    raw_seconds, _raw = timed(lambda: compute_period(period, snapshot=take_snapshot()), repeat=1)
    results.add(
        Row(
            name=f"city-wide KPI table ({len(rows):,} units, {incidents:,} incidents, {period})",
            value=table_seconds * 1000,
            unit="ms",
            reference=raw_seconds * 1000,
            reference_name="computed from raw rows",
            target="< 500 ms",
            passed=table_seconds < 0.5,
            notes=f"refreshing the period's rollups took {refresh_seconds:.1f} s ({written:,} rows)",
        )
    )
    key = _token("bench-admin", "system_admin", rows[0][:4] + "00")
    port = free_port()
    process = start_gunicorn(port)
    try:
        path = f"/api/v1/kpi/units/?period={period}&level=grid&page_size=1000"
        hammer(port, [path], threads=1, seconds=1, headers={"Authorization": f"Token {key}"})
        latencies, errors, _elapsed = hammer(
            port, [path], threads=2, seconds=10, headers={"Authorization": f"Token {key}"}
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    results.add(
        Row(
            name="KPI table through HTTP, 1,000 grid cells a page, p50",
            value=percentile(latencies, 50),
            unit="ms",
            target="< 500 ms",
            passed=percentile(latencies, 50) < 500 and errors == 0,
            notes=f"p95 {percentile(latencies, 95):.0f} ms, {errors} errors, 2 clients",
        )
    )
