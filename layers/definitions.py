"""The map layers of the platform. Each is declared once here; tiles, TileJSON, legends and exports read it."""

from __future__ import annotations

import datetime as dt
import re

from django.contrib.gis.db.models.functions import Transform
from django.core.exceptions import EmptyResultSet
from django.db.models import F, FloatField, OuterRef, Q, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from assessment.indicators import HIGHER, INDICATORS
from assessment.models import KpiValue
from assessment.periods import Period, parse_period, period_containing
from boundaries.models import Generation, GridUnit, Level
from core.cache import cached
from incidents.models import OPEN_STATUSES, Category, Incident, Status
from incidents.selectors import incident_scope_q
from layers import classify
from layers.hexagons import EDGE_METRES, parent_sql, resolution_for_zoom
from layers.registry import Layer, Param, Part, Window, register
from residents.models import Household, HousingType
from tiles.cache import version
from tiles.functions import TileBounds, pixel_metres, tile_bounds_sql

# --- parameters ------------------------------------------------------------------------------------


def parse_level(text: str) -> int:
    try:
        return int(Level.from_name(text))
    except ValueError:
        raise ValueError(_("A level is city, district, street, community or grid (or 1 to 5).")) from None


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise ValueError(_("A date is written 2026-10-31.")) from None


def parse_statuses(text: str) -> tuple[str, ...]:
    """`open`, `closed`, or statuses separated by commas."""
    text = text.strip().lower()
    if text == "open":
        return tuple(sorted(OPEN_STATUSES))
    if text == "closed":
        return tuple(sorted(set(Status.values) - set(OPEN_STATUSES)))
    statuses = tuple(sorted({s.strip() for s in text.split(",") if s.strip()}))
    unknown = [s for s in statuses if s not in Status.values]
    if unknown or not statuses:
        raise ValueError(_("Unknown status: %(statuses)s.") % {"statuses": ", ".join(unknown) or text})
    return statuses


def parse_code(text: str) -> str:
    text = text.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", text):
        raise ValueError(_("Not a valid code."))
    return text


def parse_metric(text: str) -> str:
    text = text.strip()
    if text in INDICATORS and "unit" in INDICATORS[text].subjects:
        return text
    if re.fullmatch(r"tag_[a-z0-9_-]{1,40}", text):
        return text
    raise ValueError(_("Not an indicator of units: use one listed at /api/v1/assessment/indicators/ or tag_<code>."))


def parse_period_param(text: str) -> Period:
    return parse_period(text)


def parse_classes(text: str) -> int:
    value = int(text)
    if not classify.MIN_CLASSES <= value <= classify.MAX_CLASSES:
        raise ValueError(_("Between %(low)s and %(high)s classes.") % {"low": 2, "high": 9})
    return value


def _thirty_days_ago() -> dt.date:
    return timezone.localdate() - dt.timedelta(days=30)


def _this_month() -> Period:
    return period_containing("month", timezone.localdate())


# The level of units drawn by default at each zoom: about as many units as fit a screen.
def level_for_zoom(z: int) -> int:
    if z <= 9:
        return Level.DISTRICT
    if z <= 11:
        return Level.STREET
    if z <= 13:
        return Level.COMMUNITY
    return Level.GRID


# Below these zooms a level's names are left out of the outlines (its labels carry them instead).
LABEL_ZOOM = {Level.CITY: 5, Level.DISTRICT: 8, Level.STREET: 10, Level.COMMUNITY: 12, Level.GRID: 14}

LEVEL = Param(
    parse_level,
    help=gettext_lazy("Level of the units: city, district, street, community or grid. Default: chosen by zoom."),
)
WINDOW_PARAMS = {
    "since": Param(
        parse_date, _thirty_days_ago, help=gettext_lazy("Reported on or after this day. Default: 30 days ago.")
    ),
    "until": Param(parse_date, help=gettext_lazy("Reported before the end of this day.")),
    "category": Param(parse_code, help=gettext_lazy("Code of a major or minor class.")),
    "status": Param(parse_statuses, help=gettext_lazy("open, closed, or statuses separated by commas.")),
}
CLASSIFICATION_PARAMS = {
    "classification": Param(str, "quantiles", tuple(classify.METHODS), gettext_lazy("How values are classed.")),
    "classes": Param(parse_classes, 5, help=gettext_lazy("Number of classes, 2 to 9.")),
    "palette": Param(str, None, tuple(classify.PALETTES), gettext_lazy("Colour scheme. Default: by indicator.")),
}

CLUSTER_UNITS = 128  # households and incidents are counted in squares of 128 of the tile's 4096 units
HEAT_UNITS = 16  # the heatmap's points are merged within 16 units


# --- shared queries --------------------------------------------------------------------------------


def units_queryset(scope, *, level: int, window: Window, generation: int | None = None):
    units = GridUnit.objects.filter(level=level).filter(scope.q("code"))
    if generation:
        units = units.filter(generation_low__lte=generation).filter(
            Q(generation_high__isnull=True) | Q(generation_high__gte=generation)
        )
    else:
        # The active generation as a subquery: the tile stays one statement.
        active = Subquery(Generation.objects.filter(active=True).values("pk")[:1])
        units = units.filter(generation_low__lte=active).filter(
            Q(generation_high__isnull=True) | Q(generation_high__gte=active)
        )
    if window.bounds is not None:
        units = units.filter(geom__bboverlaps=window.bounds)
    if window.under:
        units = units.filter(code__startswith=window.under)
    return units.order_by()


def clusters(name: str, queryset, *, window: Window, cell_units: int, limit: int, sums: dict | None = None) -> Part:
    """
    Points counted in squares of `cell_units` of the tile's grid, each square drawn at the mean of its
    points. The squares are aligned on the tile grid and only points inside the tile itself are
    counted, so a square never appears half-counted in two tiles.
    """
    sums = sums or {}
    inner, params = (
        queryset.order_by().annotate(g=Transform("location", 3857)).values("g", *sums.values()).query.sql_with_params()
    )
    size = pixel_metres(window.z) * cell_units
    extra = "".join(f', sum(s."{column}")::int AS "{alias}"' for alias, column in sums.items())
    # The tile's exact bounds (no buffer) from PostGIS, so the statement holds x and y only as parameters.
    sql = (
        f"SELECT count(*)::int AS count{extra}, ST_Centroid(ST_Collect(s.g)) AS tile_geom "
        f"FROM ({inner}) s, (SELECT ST_TileEnvelope(%s, %s, %s) AS box) t "
        "WHERE ST_X(s.g) >= ST_XMin(t.box) AND ST_X(s.g) < ST_XMax(t.box) "
        "AND ST_Y(s.g) > ST_YMin(t.box) AND ST_Y(s.g) <= ST_YMax(t.box) "
        f"GROUP BY ST_SnapToGrid(s.g, {size:.6f}) ORDER BY count(*) DESC"
    )
    return Part(name, ["count", *sums], limit, sql=sql, params=[*params, window.z, *window.tile], srid=3857)


# --- layers ----------------------------------------------------------------------------------------


@register
class UnitsLayer(Layer):
    name = "units"
    title = gettext_lazy("Grid units")
    description = gettext_lazy("Outlines, codes and names of the units of one level, and a label point for each.")
    geometry = "polygon"
    sources = ("boundaries",)
    min_zoom, max_zoom = 5, 18
    tile_layers = {
        "units": {"code": "String", "name": "String", "level": "Number", "parent_code": "String"},
        "unit_labels": {"code": "String", "name": "String", "level": "Number"},
    }
    params = {
        "level": LEVEL,
        "generation": Param(int, help=gettext_lazy("A generation's id. Default: the active one.")),
    }
    tooltip = (("code", gettext_lazy("code")), ("name", gettext_lazy("name")))

    def parts(self, window: Window) -> list[Part]:
        level = self.params["level"] or level_for_zoom(window.z)
        units = units_queryset(self.scope, level=level, window=window, generation=self.params["generation"])
        named = window.z >= LABEL_ZOOM[level] - 2 or not window.is_tile
        fields = ["code", "level", "parent_code"] + (["name"] if named else [])
        parts = [Part("units", fields, 20_000, queryset=units.annotate(tile_geom=F("geom")), simplify=True)]
        if window.is_tile and window.z >= LABEL_ZOOM[level]:
            labels = units.annotate(tile_geom=F("label_point"))
            parts.append(Part("unit_labels", ["code", "name", "level"], 5_000, queryset=labels, export=False))
        return parts


@register
class HouseholdsLayer(Layer):
    name = "households"
    title = gettext_lazy("Households")
    description = gettext_lazy(
        "Households counted in clusters below zoom 15, single households from zoom 15; no personal data."
    )
    geometry = "point"
    sources = ("households",)
    permission = "residents.view_household"
    min_zoom, max_zoom = 8, 18
    points_from = 15
    tile_layers = {
        "household_clusters": {"count": "Number", "members": "Number"},
        "households": {"id": "Number", "size": "Number", "housing_type": "String", "grid_code": "String"},
    }
    params = {
        "tag": Param(parse_code, help=gettext_lazy("Only households with this attention tag.")),
        "housing_type": Param(str, None, tuple(HousingType.values), gettext_lazy("Only this housing type.")),
    }
    tooltip = (
        ("id", gettext_lazy("household")),
        ("size", gettext_lazy("members")),
        ("housing_type", gettext_lazy("housing type")),
        ("grid_code", gettext_lazy("grid cell")),
    )

    def parts(self, window: Window) -> list[Part]:
        households = Household.objects.filter(self.scope.q("unit_code"))
        if window.bounds is not None:
            households = households.filter(location__bboverlaps=window.bounds)
        if window.under:
            households = households.filter(unit_code__startswith=window.under)
        if self.params["tag"]:
            households = households.filter(tags__code=self.params["tag"])
        if self.params["housing_type"]:
            households = households.filter(housing_type=self.params["housing_type"])
        if window.is_tile and window.z < self.points_from:
            return [
                clusters(
                    "household_clusters",
                    households,
                    window=window,
                    cell_units=CLUSTER_UNITS,
                    limit=4_096,
                    sums={"members": "size"},
                )
            ]
        points = households.order_by().annotate(tile_geom=F("location"))
        return [Part("households", ["id", "size", "housing_type", "grid_code"], 40_000, queryset=points)]


class IncidentWindowMixin:
    """Incidents in the viewer's scope reported in a time window, of a category and statuses."""

    @classmethod
    def check_params(cls, values: dict) -> None:
        from core.errors import ApiError

        if values.get("until") and values.get("since") and values["until"] < values["since"]:
            message = _("The window ends before it starts.")
            raise ApiError(message, fields={"until": [message]})

    def incidents(self, window: Window, *, bounds: TileBounds | None = None):
        incidents = Incident.objects.filter(incident_scope_q(self.scope))
        bounds = bounds if bounds is not None else window.bounds
        if bounds is not None:
            incidents = incidents.filter(location__bboverlaps=bounds)
        if window.under:
            incidents = incidents.filter(unit_code__startswith=window.under)
        tz = timezone.get_current_timezone()
        if self.params["since"]:
            incidents = incidents.filter(reported_at__gte=dt.datetime.combine(self.params["since"], dt.time(), tz))
        if self.params["until"]:
            end = dt.datetime.combine(self.params["until"] + dt.timedelta(days=1), dt.time(), tz)
            incidents = incidents.filter(reported_at__lt=end)
        if self.params["category"]:
            code = self.params["category"]
            incidents = incidents.filter(
                category__in=Category.objects.filter(Q(code=code) | Q(parent__code=code)).values("pk")
            )
        if self.params["status"]:
            incidents = incidents.filter(status__in=self.params["status"])
        return incidents.order_by()


@register
class IncidentsLayer(IncidentWindowMixin, Layer):
    name = "incidents"
    title = gettext_lazy("Incidents")
    description = gettext_lazy("Incidents with category, status and age in hours; counted in clusters below zoom 13.")
    geometry = "point"
    sources = ("incidents",)
    permission = "incidents.view_incident"
    min_zoom, max_zoom = 8, 18
    points_from = 13
    tile_layers = {
        "incident_clusters": {"count": "Number"},
        "incidents": {
            "id": "Number",
            "number": "String",
            "category_code": "String",
            "category_name": "String",
            "status": "String",
            "priority": "String",
            "age_hours": "Number",
            "overdue": "Boolean",
        },
    }
    params = WINDOW_PARAMS
    tooltip = (
        ("number", gettext_lazy("case number")),
        ("category_name", gettext_lazy("category")),
        ("status", gettext_lazy("status")),
        ("age_hours", gettext_lazy("age (hours)")),
    )

    def parts(self, window: Window) -> list[Part]:
        incidents = self.incidents(window)
        if window.is_tile and window.z < self.points_from:
            return [clusters("incident_clusters", incidents, window=window, cell_units=CLUSTER_UNITS, limit=4_096)]
        points = incidents.annotate(
            tile_geom=F("location"),
            category_code=F("category__code"),
            category_name=F("category__name"),
            age_hours=RawSQL("floor(extract(epoch FROM now() - incidents_incident.reported_at) / 3600)::int", []),
            overdue=RawSQL(
                "(incidents_incident.due_at < now() AND incidents_incident.status = ANY(%s))", [sorted(OPEN_STATUSES)]
            ),
        ).order_by("-reported_at")
        fields = ["id", "number", "category_code", "category_name", "status", "priority", "age_hours", "overdue"]
        part = Part("incidents", fields, 20_000, queryset=points)
        return [part]


@register
class IncidentHeatLayer(IncidentWindowMixin, Layer):
    name = "incident_heat"
    title = gettext_lazy("Incident heat")
    description = gettext_lazy(
        "Incident points for a heatmap drawn by the map itself; nearby points merge, `count` says how many."
    )
    geometry = "point"
    sources = ("incidents",)
    permission = "incidents.view_incident"
    min_zoom, max_zoom = 8, 18
    tile_layers = {"incident_heat": {"count": "Number"}}
    params = WINDOW_PARAMS
    tooltip = (("count", gettext_lazy("incidents")),)

    def parts(self, window: Window) -> list[Part]:
        incidents = self.incidents(window)
        if window.is_tile:
            return [clusters("incident_heat", incidents, window=window, cell_units=HEAT_UNITS, limit=30_000)]
        points = incidents.annotate(tile_geom=F("location"), count=RawSQL("1", []))
        return [Part("incident_heat", ["count"], 200_000, queryset=points)]


@register
class IncidentHexagonsLayer(IncidentWindowMixin, Layer):
    name = "incident_hexagons"
    title = gettext_lazy("Incident density (H3 hexagons)")
    description = gettext_lazy(
        "Incidents counted per H3 hexagon; resolution 7 up to zoom 11, 8 at 12, 9 at 13-14, 10 from 15."
    )
    geometry = "polygon"
    sources = ("incidents",)
    permission = "incidents.view_incident"
    min_zoom, max_zoom = 8, 18
    classified = True
    tile_layers = {"incident_hexagons": {"h3": "String", "count": "Number", "resolution": "Number"}}
    params = {
        **WINDOW_PARAMS,
        "resolution": Param(int, None, (7, 8, 9, 10), gettext_lazy("H3 resolution. Default: chosen by zoom.")),
        **CLASSIFICATION_PARAMS,
    }
    tooltip = (("h3", gettext_lazy("hexagon")), ("count", gettext_lazy("incidents")))

    def resolution(self, z: int) -> int:
        return self.params["resolution"] or resolution_for_zoom(z)

    def counts_sql(self, window: Window, resolution: int) -> tuple[str, list]:
        bounds = TileBounds(window.z, *window.tile, metres=2 * EDGE_METRES[resolution]) if window.is_tile else None
        inner, params = (
            self.incidents(window, bounds=bounds).filter(h3__isnull=False).values("h3").query.sql_with_params()
        )
        return (
            f"SELECT {parent_sql('s.h3', resolution)} AS cell, count(*)::int AS count FROM ({inner}) s GROUP BY 1",
            list(params),
        )

    def parts(self, window: Window) -> list[Part]:
        resolution = self.resolution(window.z)
        counts, params = self.counts_sql(window, resolution)
        sql = (
            f"SELECT lpad(to_hex(c.cell), 15, '0') AS h3, c.count, {resolution} AS resolution, hx.geom AS tile_geom "
            f"FROM ({counts}) c JOIN layers_hexagon hx ON hx.cell = c.cell"
        )
        if window.is_tile:
            bounds, bounds_params = tile_bounds_sql(window.z, *window.tile)
            sql += f" WHERE hx.geom && {bounds}"
            params += bounds_params
        return [Part("incident_hexagons", ["h3", "count", "resolution"], 20_000, sql=sql, params=params)]

    def legend(self, *, z: int | None = None) -> dict:
        resolution = self.resolution(z if z is not None else 12)
        try:
            counts, params = self.counts_sql(Window(z=z or 12), resolution)
        except EmptyResultSet:
            counts, params = "SELECT 0 AS count WHERE false", []
        key = ["legend", self.name, sorted(self.params.items()), resolution, self.scope.cache_key, version("incidents")]

        def compute():
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute(f"SELECT count FROM ({counts}) t", params)
                values = [row[0] for row in cursor.fetchall()]
            return classify.legend(
                values,
                method=self.params["classification"],
                k=self.params["classes"],
                palette=self.params["palette"] or "OrRd",
                title=_("Incidents per hexagon (resolution %(r)s)") % {"r": resolution},
                property_name="count",
            )

        return cached(key, compute)


@register
class ChoroplethLayer(Layer):
    name = "choropleth"
    title = gettext_lazy("Units coloured by an indicator")
    description = gettext_lazy(
        "Units of one level coloured by an indicator of the assessment registry for a period: density, "
        "households, attention groups (tag_<code>), incidents per 1,000 residents, workload, resolution "
        "time, satisfaction, visit coverage and every other KPI."
    )
    geometry = "polygon"
    sources = ("boundaries", "kpi")
    permission = "assessment.view_kpivalue"
    min_zoom, max_zoom = 5, 18
    classified = True
    tile_layers = {"choropleth": {"code": "String", "name": "String", "value": "Number"}}
    params = {
        "metric": Param(parse_metric, "residents_per_km2", help=gettext_lazy("An indicator key, or tag_<code>.")),
        "level": LEVEL,
        "period": Param(
            parse_period_param,
            _this_month,
            help=gettext_lazy("month:2026-10, week:2026-W43, quarter:2026-Q4 or year:2026. Default: this month."),
        ),
        **CLASSIFICATION_PARAMS,
    }
    tooltip = (("code", gettext_lazy("code")), ("name", gettext_lazy("name")), ("value", gettext_lazy("value")))

    def level(self, z: int | None) -> int:
        return self.params["level"] or level_for_zoom(z if z is not None else 12)

    def parts(self, window: Window) -> list[Part]:
        level = self.level(window.z)
        period: Period = self.params["period"]
        value = (
            KpiValue.objects.filter(
                period_kind=period.kind, period_start=period.start, subject_kind="unit", subject=OuterRef("code")
            )
            .annotate(v=Cast(KT(f"values__{self.params['metric']}"), FloatField()))
            .values("v")[:1]
        )
        units = units_queryset(self.scope, level=level, window=window).annotate(
            value=Subquery(value), tile_geom=F("geom")
        )
        return [Part("choropleth", ["code", "name", "value"], 20_000, queryset=units, simplify=True)]

    def metric_title(self) -> tuple[str, str, str]:
        """The metric's name, unit and default palette."""
        metric = self.params["metric"]
        if metric in INDICATORS:
            indicator = INDICATORS[metric]
            return str(indicator.name), indicator.unit, "YlGn" if indicator.direction == HIGHER else "YlOrRd"
        from residents.models import AttentionTag

        tag = AttentionTag.objects.filter(code=metric[4:]).values_list("name", flat=True).first()
        return _("households or residents tagged %(tag)s") % {"tag": tag or metric[4:]}, "count", "Purples"

    def legend(self, *, z: int | None = None) -> dict:
        level = self.level(z)
        period: Period = self.params["period"]
        key = [
            "legend",
            self.name,
            sorted(self.params.items()),
            level,
            self.scope.cache_key,
            version("kpi"),
            version("boundaries"),
        ]

        def compute():
            title, unit, palette = self.metric_title()
            values = (
                KpiValue.objects.filter(
                    period_kind=period.kind, period_start=period.start, subject_kind="unit", level=level
                )
                .filter(self.scope.q("unit_code"))
                .annotate(v=Cast(KT(f"values__{self.params['metric']}"), FloatField()))
                .values_list("v", flat=True)
            )
            result = classify.legend(
                list(values),
                method=self.params["classification"],
                k=self.params["classes"],
                palette=self.params["palette"] or palette,
                title=f"{title} · {Level(level).label} · {period.label}",
                unit=unit,
            )
            return result

        return cached(key, compute)
