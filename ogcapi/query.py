"""Parsing the query parameters of OGC API - Features: bbox, datetime, limit, offset, f."""

from __future__ import annotations

import datetime as dt
import math

from django.contrib.gis.geos import Polygon
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from core.errors import ApiError
from ogcapi.selectors import ItemsQuery

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
FORMATS = {"json": "json", "geojson": "json", "html": "html"}


def _invalid(field: str, message) -> ApiError:
    return ApiError(message, code="invalid", fields={field: [str(message)]})


def parse_bbox(raw: str | None) -> Polygon | None:
    """Four numbers, min_lon,min_lat,max_lon,max_lat in CRS84."""
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) != 4:
        raise _invalid("bbox", _("bbox takes four numbers: min_lon,min_lat,max_lon,max_lat."))
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise _invalid("bbox", _("bbox takes four numbers: min_lon,min_lat,max_lon,max_lat.")) from None
    min_lon, min_lat, max_lon, max_lat = numbers
    if not all(math.isfinite(n) for n in numbers):
        raise _invalid("bbox", _("bbox takes four numbers: min_lon,min_lat,max_lon,max_lat."))
    if not (-180 <= min_lon <= 180 and -180 <= max_lon <= 180 and -90 <= min_lat <= 90 and -90 <= max_lat <= 90):
        raise _invalid("bbox", _("bbox is outside the range of longitude (-180..180) and latitude (-90..90)."))
    if min_lon > max_lon or min_lat > max_lat:
        raise _invalid("bbox", _("In bbox the minimum must not be larger than the maximum on either axis."))
    return Polygon.from_bbox((min_lon, min_lat, max_lon, max_lat))


def parse_bbox_crs(raw: str | None) -> None:
    if raw is not None and raw != CRS84:
        raise _invalid("bbox-crs", _("Only %(crs)s is supported.") % {"crs": CRS84})


def _int(raw: str | None, field: str, default: int, minimum: int, maximum: int | None = None) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(field, _("%(field)s must be a whole number.") % {"field": field}) from None
    if value < minimum or (maximum is not None and value > maximum):
        if maximum is None:
            message = _("%(field)s must be at least %(min)s.") % {"field": field, "min": minimum}
        else:
            message = _("%(field)s must be between %(min)s and %(max)s.") % {
                "field": field,
                "min": minimum,
                "max": maximum,
            }
        raise _invalid(field, message)
    return value


def _bound(raw: str, *, end: bool) -> dt.datetime | None:
    """One end of an interval; a date stands for its whole day (UTC). The end is returned exclusive."""
    if raw in ("", ".."):
        return None
    try:
        # A bare date would parse as its midnight: it is taken as the whole day below.
        moment = parse_datetime(raw) if len(raw) > 10 else None
    except ValueError:
        moment = None
    if moment is not None:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment + dt.timedelta(microseconds=1) if end else moment
    try:
        day = parse_date(raw)
    except ValueError:
        day = None
    if day is None:
        raise _invalid(
            "datetime",
            _("datetime takes an RFC 3339 date-time or date, or an interval start/end where either end may be '..'."),
        )
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start + dt.timedelta(days=1) if end else start


def parse_datetime_param(raw: str | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(start inclusive, end exclusive) of an instant or interval; (None, None) when absent."""
    if raw is None:
        return None, None
    if "/" in raw:
        start_text, _sep, end_text = raw.partition("/")
        if start_text in ("", "..") and end_text in ("", ".."):
            raise _invalid("datetime", _("A datetime interval needs at least one end."))
        start, end = _bound(start_text, end=False), _bound(end_text, end=True)
        if start is not None and end is not None and start >= end:
            raise _invalid("datetime", _("The start of the datetime interval is after its end."))
        return start, end
    if raw in ("", ".."):
        raise _invalid("datetime", _("datetime is empty."))
    return _bound(raw, end=False), _bound(raw, end=True)


def parse_items_query(params) -> ItemsQuery:
    parse_bbox_crs(params.get("bbox-crs"))
    after, before = parse_datetime_param(params.get("datetime"))
    return ItemsQuery(
        bbox=parse_bbox(params.get("bbox")),
        reported_after=after,
        reported_before=before,
        limit=_int(params.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_int(params.get("offset"), "offset", 0, 0),
    )


def output_format(params, accept: str) -> str:
    """'json' or 'html': the `f` parameter, else the first of them the Accept header prefers."""
    raw = params.get("f")
    if raw is not None:
        if raw not in FORMATS:
            raise _invalid("f", _("f must be one of: json, geojson, html."))
        return FORMATS[raw]
    ranked = []
    for position, item in enumerate(accept.split(",")):
        media, *options = (piece.strip() for piece in item.split(";"))
        quality = 1.0
        for option in options:
            if option.startswith("q="):
                try:
                    quality = float(option[2:])
                except ValueError:
                    quality = 0.0
        ranked.append((-quality, position, media.lower()))
    for _quality, _position, media in sorted(ranked):
        if media in ("text/html", "application/xhtml+xml"):
            return "html"
        if "json" in media or media in ("*/*", "application/*"):
            return "json"
    return "json"
