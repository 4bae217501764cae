"""Classification of a layer's values into coloured classes (mapclassify), and the legend that says how."""

from __future__ import annotations

import math
import warnings

import mapclassify
import numpy as np
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

METHODS = {
    "quantiles": gettext_lazy("quantiles"),
    "equal_interval": gettext_lazy("equal interval"),
    "natural_breaks": gettext_lazy("natural breaks"),
}
MIN_CLASSES, MAX_CLASSES = 2, 9
NO_DATA_COLOR = "#d9d9d9"
# Exact Fisher-Jenks is quadratic in the number of values; above this a seeded k-means is used.
EXACT_NATURAL_BREAKS_LIMIT = 500
NATURAL_BREAKS_SAMPLE = 20000

# ColorBrewer sequential schemes, nine classes, light to dark (colorbrewer2.org, Apache-2.0).
PALETTES = {
    "YlOrRd": ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026"],
    "YlGn": ["#ffffe5", "#f7fcb9", "#d9f0a3", "#addd8e", "#78c679", "#41ab5d", "#238443", "#006837", "#004529"],
    "Blues": ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"],
    "Purples": ["#fcfbfd", "#efedf5", "#dadaeb", "#bcbddc", "#9e9ac8", "#807dba", "#6a51a3", "#54278f", "#3f007d"],
    "OrRd": ["#fff7ec", "#fee8c8", "#fdd49e", "#fdbb84", "#fc8d59", "#ef6548", "#d7301f", "#b30000", "#7f0000"],
    "Greys": ["#ffffff", "#f0f0f0", "#d9d9d9", "#bdbdbd", "#969696", "#737373", "#525252", "#252525", "#000000"],
}


def colors(palette: str, k: int) -> list[str]:
    """`k` colours spread over the palette, light to dark (the lightest skipped: it vanishes on a map)."""
    scheme = PALETTES[palette][1:]
    if k == 1:
        return [scheme[len(scheme) // 2]]
    return [scheme[round(i * (len(scheme) - 1) / (k - 1))] for i in range(k)]


def breaks(values, method: str, k: int) -> list[float]:
    """The upper bound of each class (the last is the maximum); fewer classes when values repeat."""
    data = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if data.size == 0:
        return []
    distinct = np.unique(data)
    if distinct.size <= k:
        return [float(v) for v in distinct]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mapclassify warns when it merges classes of repeated values
        if method == "quantiles":
            result = mapclassify.Quantiles(data, k=k)
        elif method == "equal_interval":
            result = mapclassify.EqualInterval(data, k=k)
        elif data.size <= EXACT_NATURAL_BREAKS_LIMIT:
            result = mapclassify.FisherJenks(data, k=k)
        else:
            state = np.random.get_state()
            np.random.seed(0)  # the same data gives the same legend
            try:
                if data.size > NATURAL_BREAKS_SAMPLE:
                    sample = np.random.choice(data, NATURAL_BREAKS_SAMPLE, replace=False)
                    data = np.concatenate([sample, [data.min(), data.max()]])
                result = mapclassify.NaturalBreaks(data, k=k, initial=5)
            finally:
                np.random.set_state(state)
    bins = sorted({float(f"{float(b):.10g}") for b in result.bins})
    return bins


def class_of(value, bins: list[float]) -> int | None:
    """The class of a value: the first whose upper bound it does not pass."""
    if value is None or not bins:
        return None
    for index, upper in enumerate(bins):
        if value <= upper:
            return index
    return len(bins) - 1


def _label(lower: float | None, upper: float, unit: str) -> str:
    def fmt(v):
        if unit == "share":
            return f"{v * 100:.0f}%"
        return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:,.2f}"

    if lower is None:
        return f"≤ {fmt(upper)}"
    return f"{fmt(lower)} – {fmt(upper)}"


def legend(
    values, *, method: str, k: int, palette: str, title: str, unit: str = "count", property_name: str = "value"
) -> dict:
    """
    The legend of classified values: its classes (bounds, colour, how many features), the breaks,
    and a MapLibre expression colouring features by `property_name` exactly as the classes say.
    """
    data = [float(v) for v in values if v is not None]
    bins = breaks(data, method, k)
    palette_colors = colors(palette, len(bins)) if bins else []
    counts = [0] * len(bins)
    for value in data:
        counts[class_of(value, bins)] += 1
    classes = []
    lower = min(data) if data else None
    for index, (upper, color) in enumerate(zip(bins, palette_colors, strict=True)):
        classes.append(
            {
                "min": lower if index == 0 else bins[index - 1],
                "max": upper,
                "color": color,
                "count": counts[index],
                "label": _label(lower if index == 0 else bins[index - 1], upper, unit),
            }
        )
    expression: list = ["case", ["!", ["has", property_name]], NO_DATA_COLOR]
    for upper, color in zip(bins[:-1], palette_colors[:-1], strict=True):
        expression += [["<=", ["to-number", ["get", property_name]], upper], color]
    expression.append(palette_colors[-1] if palette_colors else NO_DATA_COLOR)
    return {
        "title": title,
        "property": property_name,
        "classification": method,
        "classification_name": str(METHODS[method]),
        "palette": palette,
        "breaks": bins,
        "classes": classes,
        "no_data": {"color": NO_DATA_COLOR, "label": _("no data")},
        "features": len(data),
        "maplibre_color": expression,
    }
