"""Self-contained, offline HTML maps of GeoJSON layers, drawn with folium and an inlined Leaflet."""

import functools
import html
import re
from pathlib import Path

import folium
from django.conf import settings
from folium.elements import Element, MacroElement
from folium.template import Template

# Shown when a collection has no geometry, so an empty export still opens on the city rather than at (0, 0).
DEFAULT_CENTER = (39.91, 116.40)  # (lat, lon)
DEFAULT_ZOOM = 12
FALLBACK_FILL = "#999999"
OUTLINE = "#333333"

_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
_URL = re.compile(r"https?://[^\s\"'<>\\)]+")
# Leaflet carries two URLs that are never fetched: the SVG namespace (an identifier for createElementNS) and
# its home page (banner comment and attribution prefix). Spelling "://" as ":\/\/" yields the very same JS
# string, and keeps the export free of literal URLs so the final check below can refuse any real one.
_LEAFLET_INERT_URLS = ("http://www.w3.org/2000/svg", "https://leafletjs.com")


def leaflet_dist_dir() -> Path:
    """Directory holding leaflet.js and leaflet.css: the copy `make assets` deploys, else the npm package."""
    base = Path(settings.BASE_DIR)
    for candidate in (base / "var" / "vendor" / "leaflet", base / "node_modules" / "leaflet" / "dist"):
        if (candidate / "leaflet.js").is_file() and (candidate / "leaflet.css").is_file():
            return candidate
    raise RuntimeError(
        "Leaflet is missing (looked in var/vendor/leaflet/ and node_modules/leaflet/dist/): run `make assets`."
    )


@functools.cache
def _leaflet_assets(directory: Path) -> tuple[str, str]:
    js = (directory / "leaflet.js").read_text(encoding="utf-8")
    for url in _LEAFLET_INERT_URLS:
        js = js.replace(url, url.replace("://", r":\/\/"))
    # The source map is not shipped alongside; a browser with devtools open would try to load it.
    js = re.sub(r"^//# sourceMappingURL=.*$", "", js, flags=re.M)
    # Only comments in leaflet.css hold URLs (bug-tracker links); its url() references are relative.
    css = re.sub(r"/\*.*?\*/", "", (directory / "leaflet.css").read_text(encoding="utf-8"), flags=re.S)
    # Inlined text must not close its own tag early.
    if "</script" in js.lower() or "</style" in css.lower():
        raise RuntimeError(f"Leaflet assets in {directory} cannot be inlined safely")
    return js, css


def _color(value, default: str = FALLBACK_FILL) -> str:
    # Colours go into CSS and into folium's style code unescaped, so only plain hex is let through.
    return value if isinstance(value, str) and _HEX_COLOR.fullmatch(value) else default


def _positions(coordinates):
    if coordinates and isinstance(coordinates[0], int | float):
        yield coordinates
    else:
        for part in coordinates or ():
            yield from _positions(part)


def _geometry_positions(geometry):
    if not geometry:
        return
    if geometry.get("type") == "GeometryCollection":
        for member in geometry.get("geometries") or ():
            yield from _geometry_positions(member)
    else:
        yield from _positions(geometry.get("coordinates"))


def _bounds(features) -> list[list[float]] | None:
    """[[south, west], [north, east]] of all coordinates, or None when there are none."""
    positions = [p for feature in features for p in _geometry_positions(feature.get("geometry"))]
    if not positions:
        return None
    lons = [p[0] for p in positions]
    lats = [p[1] for p in positions]
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def _tooltip_value(value):
    # GeoJsonTooltip writes values with innerHTML: text is escaped here, and null shows as an empty cell.
    if value is None or isinstance(value, bool | int | float):
        return value
    return html.escape(str(value))


def _features(collection: dict, fields: list[str]) -> list[dict]:
    """Copies of the features with a safe fill and escaped tooltip values, the caller's dict left untouched."""
    features = []
    for feature in collection.get("features") or ():
        properties = dict(feature.get("properties") or {})
        properties["fill"] = _color(properties.get("fill"))
        for field in fields:
            # Every feature needs every field: GeoJsonTooltip refuses fields missing from the first one.
            properties[field] = _tooltip_value(properties.get(field))
        features.append({**feature, "properties": properties})
    return features


def _style(feature: dict) -> dict:
    # Small markers need a denser fill than areas to stay legible.
    point = (feature.get("geometry") or {}).get("type") in ("Point", "MultiPoint")
    return {
        "fillColor": feature["properties"]["fill"],
        "fillOpacity": 0.9 if point else 0.7,
        "color": OUTLINE,
        "weight": 1,
    }


class _Legend(MacroElement):
    """Plain HTML+CSS legend: branca's colormap legend links d3 from a CDN, which breaks offline use."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
            .leaflet-container { background: #f4f3ef; }
            .geogrid-legend {
                position: fixed; bottom: 24px; right: 10px; z-index: 1000; max-width: 40%;
                background: rgba(255, 255, 255, 0.92); border: 1px solid #999; border-radius: 4px;
                padding: 6px 10px; font: 13px/1.4 sans-serif; color: #222;
            }
            .geogrid-legend h4 { margin: 0 0 4px; font-size: 14px; }
            .geogrid-legend p { margin: 4px 0 0; color: #555; font-size: 12px; }
            .geogrid-legend ul { list-style: none; margin: 0; padding: 0; }
            .geogrid-legend i {
                display: inline-block; width: 14px; height: 14px; margin-right: 6px;
                vertical-align: -2px; border: 1px solid #333; opacity: 0.85;
            }
        </style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        <div class="geogrid-legend">{{ this.body }}</div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
            {# Leaflet's default prefix links to its web site; a plain word keeps the page free of outbound links. #}
            if ({{ this._parent.get_name() }}.attributionControl) {
                {{ this._parent.get_name() }}.attributionControl.setPrefix("Leaflet");
            }
        {% endmacro %}
        """
    )

    def __init__(self, title: str, legend: list[dict], note: str):
        super().__init__()
        self._name = "Legend"
        rows = "".join(
            f'<li><i style="background:{_color(item.get("color"))}"></i>{html.escape(str(item.get("label", "")))}</li>'
            for item in legend
        )
        self.body = (
            f"<h4>{html.escape(title)}</h4>"
            + (f"<ul>{rows}</ul>" if rows else "")
            + (f"<p>{html.escape(note)}</p>" if note else "")
        )


def layer_html(
    *,
    title: str,
    collection: dict,
    legend: list[dict],
    tooltip_fields: list[tuple[str, str]],
    basemap_url: str = "",
    basemap_attribution: str = "",
    note: str = "",
) -> str:
    """
    One HTML page showing `collection` (GeoJSON in WGS-84) that opens without any network access.

    Features are filled with their `fill` property; `legend` items are {"label", "color"}; `tooltip_fields`
    are (property, label) pairs shown on hover. The only external URLs in the result are `basemap_url` and
    those inside `basemap_attribution`; without a basemap the page draws on a plain background.
    """
    if basemap_url and not basemap_attribution:
        raise ValueError("a basemap needs its attribution (basemap_attribution)")
    leaflet_js, leaflet_css = _leaflet_assets(leaflet_dist_dir())

    fields = [field for field, _ in tooltip_fields]
    features = _features(collection, fields)
    bounds = _bounds(features)
    center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2] if bounds else DEFAULT_CENTER

    fmap = folium.Map(location=center, zoom_start=DEFAULT_ZOOM, tiles=None)
    # folium's defaults are CDN links to Leaflet, jQuery, Bootstrap, Awesome Markers and Font Awesome;
    # nothing drawn here needs more than Leaflet, which is inlined below instead.
    fmap.default_js = []
    fmap.default_css = []
    figure = fmap.get_root()
    # Replacing folium's http-equiv meta in place keeps the charset first in <head>; the title is set
    # here, escaped, because the figure template would insert it raw and before the charset.
    figure.header.add_child(Element('<meta charset="utf-8">'), name="meta_http")
    figure.header.add_child(Element(f"<title>{html.escape(title)}</title>"), name="title")
    figure.header.add_child(Element(f"<style>{leaflet_css}</style>"), name="leaflet_css")
    figure.header.add_child(Element(f"<script>{leaflet_js}</script>"), name="leaflet")

    if basemap_url:
        folium.TileLayer(tiles=basemap_url, attr=basemap_attribution, name="basemap", max_zoom=19).add_to(fmap)
    if features:
        folium.GeoJson(
            {"type": "FeatureCollection", "features": features},
            name=title,
            style_function=_style,
            marker=folium.CircleMarker(radius=6, fill=True),
            tooltip=folium.GeoJsonTooltip(fields=fields, aliases=[html.escape(label) for _, label in tooltip_fields])
            if fields
            else None,
        ).add_to(fmap)
    if bounds:
        # A single point has zero-size bounds; without a cap Leaflet would zoom in without limit.
        fmap.fit_bounds(bounds, padding=(20, 20), max_zoom=17)
    _Legend(title, legend, note).add_to(fmap)

    page = figure.render()
    allowed = f"{basemap_url} {basemap_attribution}"
    external = sorted({url for url in _URL.findall(page) if url not in allowed})
    if external or re.search(r"<(?:script|link)\b[^>]*\b(?:src|href)=", page, flags=re.I):
        # Guards the offline promise against a folium upgrade that adds another default asset.
        raise RuntimeError(f"map export would reference external resources: {external or 'a linked asset'}")
    return page
