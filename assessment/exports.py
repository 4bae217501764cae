"""Assessment exports: an XLSX workbook with a chart per indicator, and a one-page PDF report per unit."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt  # noqa: E402
from django.utils.translation import gettext as _  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from openpyxl import Workbook  # noqa: E402
from openpyxl.drawing.image import Image as SheetImage  # noqa: E402

from assessment.indicators import INDICATORS  # noqa: E402

# Chinese names need a CJK font: Noto Sans CJK (Debian's fonts-noto-cjk) when present.
_CJK = [f.name for f in font_manager.fontManager.ttflist if "CJK" in f.name]
plt.rcParams["font.family"] = [*_CJK[:1], "DejaVu Sans"]
plt.rcParams["axes.unicode_minus"] = False


def _format(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "share":
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _chart(labels: list[str], values: list[float], title: str) -> bytes:
    figure, axes = plt.subplots(figsize=(8, 3.2), dpi=100)
    axes.bar(range(len(values)), values, color="#1f6feb")
    axes.set_title(title)
    axes.set_xticks(range(len(labels)))
    axes.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def kpi_workbook(rows, names: dict[str, str], period) -> bytes:
    """One sheet of values (a row per unit, a column per indicator) and one sheet per indicator with its chart."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _("indicators")
    keys = [key for key, indicator in INDICATORS.items() if "unit" in indicator.subjects]
    sheet.append([_("code"), _("name"), _("period")] + [str(INDICATORS[k].name) for k in keys])
    for row in rows:
        sheet.append([row.subject, names.get(row.subject, ""), str(period)] + [row.values.get(k) for k in keys])
    shown = rows[:40]  # a chart of more bars is unreadable
    for key in keys:
        values = [row.values.get(key) for row in shown]
        if all(v is None for v in values):
            continue
        chart_sheet = workbook.create_sheet(title=key[:31])
        chart_sheet.append([str(INDICATORS[key].name), str(INDICATORS[key].formula)])
        labels = [names.get(row.subject, row.subject) for row in shown]
        image = SheetImage(io.BytesIO(_chart(labels, [v or 0 for v in values], str(INDICATORS[key].name))))
        chart_sheet.add_image(image, "A3")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def unit_report_pdf(report, history) -> bytes:
    """A4, one page: the unit, its figures against the previous period and its rank, and four trend charts."""
    figure = plt.figure(figsize=(8.27, 11.69))
    figure.text(0.06, 0.96, f"{report.name}（{report.code}）", fontsize=16, weight="bold")
    figure.text(0.06, 0.935, _("Assessment report, %(period)s") % {"period": report.period}, fontsize=10, color="#555")
    lines = []
    for key, indicator in INDICATORS.items():
        if key not in report.values:
            continue
        value, before, rank = report.values.get(key), report.previous.get(key), report.ranks.get(key)
        change = ""
        if isinstance(value, int | float) and isinstance(before, int | float):
            change = f"{value - before:+.2f}" if indicator.unit != "share" else f"{(value - before) * 100:+.1f}pp"
        lines.append(
            (
                str(indicator.name),
                _format(value, indicator.unit),
                _format(before, indicator.unit),
                change,
                f"{rank}/{report.peers}" if rank else "—",
            )
        )
    table = figure.add_axes([0.06, 0.42, 0.88, 0.5])
    table.axis("off")
    grid = table.table(
        cellText=lines,
        colLabels=[_("indicator"), _("value"), _("previous"), _("change"), _("rank")],
        loc="upper left",
        cellLoc="left",
        colLoc="left",
        colWidths=[0.46, 0.14, 0.14, 0.13, 0.13],
    )
    grid.auto_set_font_size(False)
    grid.set_fontsize(7.5)
    grid.scale(1, 1.15)
    labels = [row.period_start.strftime("%Y-%m-%d") for row in history]
    for position, key in enumerate(("incidents_reported", "resolve_on_time", "satisfied_share", "visits")):
        axes = figure.add_axes([0.08 + (position % 2) * 0.46, 0.06 + (1 - position // 2) * 0.17, 0.38, 0.12])
        axes.plot(range(len(history)), [row.values.get(key) or 0 for row in history], marker="o", color="#1f6feb")
        axes.set_title(str(INDICATORS[key].name), fontsize=9)
        axes.set_xticks(range(len(labels)))
        axes.set_xticklabels(labels, rotation=45, ha="right", fontsize=6)
        axes.tick_params(axis="y", labelsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="pdf")
    plt.close(figure)
    return buffer.getvalue()
