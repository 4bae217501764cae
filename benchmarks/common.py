"""Shared parts of the benchmarks: the result table, timing, and the benchmark database's data."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Row:
    """One line of the table: a measurement, its reference in the same run, and the target."""

    name: str
    value: float
    unit: str
    reference: float | None = None
    reference_name: str = ""
    target: str = ""
    passed: bool | None = None
    notes: str = ""

    @property
    def ratio(self) -> float | None:
        if self.reference in (None, 0):
            return None
        return self.value / self.reference


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(
            f"  {row.name}: {fmt(row.value)} {row.unit}" + (f" (ratio {row.ratio:.2f})" if row.ratio else ""),
            flush=True,
        )
        return row

    def table(self) -> str:
        header = ["benchmark", "measured", "reference", "ratio", "target", "ok", "notes"]
        lines = [header]
        for r in self.rows:
            lines.append(
                [
                    r.name,
                    f"{fmt(r.value)} {r.unit}",
                    f"{fmt(r.reference)} ({r.reference_name})" if r.reference is not None else "",
                    f"{r.ratio:.2f}x" if r.ratio is not None else "",
                    r.target,
                    {True: "yes", False: "NO", None: ""}[r.passed],
                    r.notes,
                ]
            )
        widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
        out = []
        for index, line in enumerate(lines):
            out.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) + " |")
            if index == 0:
                out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(out)


def fmt(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def timed(function: Callable, repeat: int = 1):
    """(best seconds, last result) over `repeat` runs."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


def ensure_bench_city(n_grids: int = 10_000, seed: int = 7) -> dict[str, int]:
    """The benchmark database holds a city of about `n_grids` cells, imported with the real importer."""
    from boundaries.demo import build_demo_city, write_demo_shapefiles
    from boundaries.models import GridUnit, Level
    from boundaries.services import boundary_import

    if GridUnit.objects.filter(level=Level.GRID).count() >= n_grids * 0.9:
        return {"grid": GridUnit.objects.filter(level=Level.GRID).count()}
    if GridUnit.objects.exists():
        raise SystemExit("The benchmark database holds another grid; drop it (make bench-reset) and run again.")
    print(f"Building a {n_grids:,}-cell city for the benchmarks...", flush=True)
    city = build_demo_city(n_grids=n_grids, seed=seed)
    with tempfile.TemporaryDirectory() as directory:
        write_demo_shapefiles(city, Path(directory))
        for level in Level:
            report = boundary_import(
                path=Path(directory) / f"{level.slug}.shp",
                level=level,
                code_field="CODE",
                name_field="NAME",
                parent_field=None if level == Level.CITY else "PARENT",
                commit=True,
            )
            if not report.ok:
                raise SystemExit(report.as_text())
    return {"grid": GridUnit.objects.filter(level=Level.GRID).count()}
