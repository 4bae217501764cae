"""Parse and validate coordinates, and convert the Chinese GCJ-02 and BD-09 map offsets to WGS-84."""

import functools
import math
import numbers
import re
from decimal import Decimal

import numpy as np
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

SUPPORTED_CRS = ("wgs84", "gcj02", "bd09")

# Krasovsky 1940 ellipsoid, as in the published GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0

# Four or five steps reach the tolerance; the cap only matters at the edge of the China box, where the
# forward transform is discontinuous and the iteration may oscillate.
_INVERSE_TOLERANCE = 1e-9
_INVERSE_MAX_ITERATIONS = 30
_CHUNK = 1 << 16

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_LABELS = {"lon": _("Longitude"), "lat": _("Latitude")}
_LIMITS = {"lon": 180.0, "lat": 90.0}


class CoordinateError(ValueError):
    """Invalid coordinate input; `field` and `code` are machine-readable, `message` is lazily translated."""

    def __init__(self, field: str, code: str, message):
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message


def _error(field: str, code: str, template, /, **values) -> CoordinateError:
    return CoordinateError(field, code, format_lazy(template, **values))


def parse_lon_lat(lon, lat, *, crs: str = "wgs84") -> tuple[float, float]:
    """Validate raw (lon, lat) input given in `crs` and return it as a WGS-84 (lon, lat) pair."""
    crs = _check_crs(crs)
    lon, lat = _parse_number(lon, "lon"), _parse_number(lat, "lat")
    if abs(lat) > 90.0 and abs(lon) <= 90.0 and abs(lat) <= 180.0:
        raise _error(
            "coordinates",
            "swapped",
            _(
                "Latitude {lat} is out of range but would be a valid longitude: longitude and latitude look "
                "swapped. Give the longitude first, then the latitude."
            ),
            lat=lat,
        )
    for field, value in (("lon", lon), ("lat", lat)):
        if abs(value) > _LIMITS[field]:
            raise _error(
                field,
                "out_of_range",
                _("{name} must be between -{limit:g} and {limit:g} degrees, got {value}."),
                name=_LABELS[field],
                limit=_LIMITS[field],
                value=value,
            )
    return to_wgs84(lon, lat, crs)


def _check_crs(crs) -> str:
    name = crs.strip().lower() if isinstance(crs, str) else crs
    if name not in SUPPORTED_CRS:
        raise _error(
            "crs",
            "unknown_crs",
            _("Unknown coordinate system “{crs}”. Supported: {supported}."),
            crs=crs,
            supported=", ".join(SUPPORTED_CRS),
        )
    return name


def _parse_number(value, field: str) -> float:
    name = _LABELS[field]
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _error(field, "required", _("{name} is required."), name=name)
    if isinstance(value, str):
        text = value.strip()
        if _DECIMAL.fullmatch(text):
            number = float(text)
        elif text.lower().lstrip("+-") in {"nan", "inf", "infinity"}:
            number = math.nan
        elif "." not in text and _DECIMAL.fullmatch(text.replace(",", ".", 1)):
            raise _error(
                field,
                "not_a_number",
                _("{name} must use a dot as the decimal separator: {fixed}, not {text}."),
                name=name,
                fixed=text.replace(",", "."),
                text=text,
            )
        else:
            raise _error(field, "not_a_number", _("{name} must be a decimal number."), name=name)
    elif isinstance(value, numbers.Real | Decimal) and not isinstance(value, bool):
        try:
            number = float(value)
        except (OverflowError, ValueError):  # huge ints, Decimal("sNaN")
            number = math.nan
    else:
        raise _error(field, "not_a_number", _("{name} must be a decimal number."), name=name)
    if not math.isfinite(number):  # also "1e400", which float() overflows to inf
        raise _error(field, "not_finite", _("{name} must be a finite number."), name=name)
    return number


# Conversions. Each formula exists once, for numpy arrays; the scalar functions run it on 0-d arrays.


def _elementwise(formula):
    """Give a (lon, lat) formula float64, broadcast input, and run it on large input in cache-sized chunks."""

    # A formula makes dozens of temporaries: per chunk they stay in the CPU cache, whereas million-element
    # ones each cost an allocation and a trip through memory (chunking is ~1.7 times faster).
    @functools.wraps(formula)
    def run(lon, lat) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
        if lon.size == 1:  # numpy scalar arithmetic is several times cheaper than 1-element arrays'
            out_lon, out_lat = formula(lon.reshape(()), lat.reshape(()))
            return np.reshape(out_lon, lon.shape), np.reshape(out_lat, lon.shape)
        if lon.size <= _CHUNK:
            return formula(lon, lat)
        flat_lon, flat_lat = lon.ravel(), lat.ravel()
        out_lon, out_lat = np.empty(lon.size), np.empty(lon.size)
        for start in range(0, lon.size, _CHUNK):
            part = slice(start, start + _CHUNK)
            out_lon[part], out_lat[part] = formula(flat_lon[part], flat_lat[part])
        return out_lon.reshape(lon.shape), out_lat.reshape(lon.shape)

    return run


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The usual rough box for mainland China; outside it the three systems coincide."""
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _harmonics(t: np.ndarray) -> tuple[np.ndarray, ...]:
    """sin(k * pi * t) for k = 1/30, 1/12, 1/3, 1, 2 and 6."""
    # sin/cos dominate the run time, so one sin/cos pair of a small angle yields all six through the double,
    # triple and quintuple angle formulas; their rounding error (< 1e-11, i.e. < 1e-15 degrees) is negligible.
    s, c = np.sin(t * (np.pi / 60.0)), np.cos(t * (np.pi / 60.0))
    ss, cc = s * s, c * c
    s5, c5 = s * ((16.0 * ss - 20.0) * ss + 5.0), c * ((16.0 * cc - 20.0) * cc + 5.0)
    s10, c10 = 2.0 * s5 * c5, 1.0 - 2.0 * s5 * s5
    s20, c20 = 2.0 * s10 * c10, 1.0 - 2.0 * s10 * s10
    s60, c60 = s20 * (3.0 - 4.0 * s20 * s20), c20 * (4.0 * c20 * c20 - 3.0)
    s120 = 2.0 * s60 * c60
    return 2.0 * s * c, s5, s20, s60, s120, s120 * (3.0 - 4.0 * s120 * s120)


@_elementwise
def wgs84_to_gcj02_array(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    x30, x12, x3, x1, x2, x6 = _harmonics(x)
    y30, y12, y3, y1 = _harmonics(y)[:4]
    common = 0.1 * x * y + 2.0 / 3.0 * (20.0 * x6 + 20.0 * x2)
    root = np.sqrt(np.abs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.2 * root + common
    dlat += 2.0 / 3.0 * (20.0 * y1 + 40.0 * y3 + 160.0 * y12 + 320.0 * y30)
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * root + common
    dlon += 2.0 / 3.0 * (20.0 * x1 + 40.0 * x3 + 150.0 * x12 + 300.0 * x30)
    rad = lat * (np.pi / 180.0)
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / (_A * (1.0 - _EE) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(rad) * np.pi)
    inside = _in_china(lon, lat)
    return lon + np.where(inside, dlon, 0.0), lat + np.where(inside, dlat, 0.0)


def gcj02_to_wgs84_array(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    # GCJ-02 has no closed-form inverse, and the usual one step "subtract the offset at the GCJ-02 point" is
    # off by up to ~5e-5 degrees (about 5 m). Iterating w <- w - (gcj(w) - target) gains a factor ~200 per step.
    # Each point stops on its own once its round trip is within tolerance, after taking that last (tiny)
    # correction: its result does not depend on the rest of the batch, and edge points that never settle
    # do not keep the others iterating.
    target_lon, target_lat = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    shape, target_lon, target_lat = target_lon.shape, target_lon.ravel(), target_lat.ravel()
    wlon, wlat = target_lon.copy(), target_lat.copy()
    todo = np.arange(wlon.size)
    for _step in range(_INVERSE_MAX_ITERATIONS):
        glon, glat = wgs84_to_gcj02_array(wlon[todo], wlat[todo])
        rlon, rlat = glon - target_lon[todo], glat - target_lat[todo]
        wlon[todo] -= rlon
        wlat[todo] -= rlat
        todo = todo[(np.abs(rlon) > _INVERSE_TOLERANCE) | (np.abs(rlat) > _INVERSE_TOLERANCE)]
        if not todo.size:
            break
    return wlon.reshape(shape), wlat.reshape(shape)


# bd09_to_gcj02 is the published approximate inverse of gcj02_to_bd09 (round trip within ~2e-6 degrees,
# 0.2 m), kept as published so that results match other BD-09 tools.


@_elementwise
def gcj02_to_bd09_array(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    inside = _in_china(lon, lat)
    return np.where(inside, z * np.cos(theta) + 0.0065, lon), np.where(inside, z * np.sin(theta) + 0.006, lat)


@_elementwise
def bd09_to_gcj02_array(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 0.0065, lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    inside = _in_china(lon, lat)
    return np.where(inside, z * np.cos(theta), lon), np.where(inside, z * np.sin(theta), lat)


def wgs84_to_bd09_array(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    return gcj02_to_bd09_array(*wgs84_to_gcj02_array(lon, lat))


def bd09_to_wgs84_array(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    return gcj02_to_wgs84_array(*bd09_to_gcj02_array(lon, lat))


def _wgs84_array(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    return np.array(lon, dtype=np.float64), np.array(lat, dtype=np.float64)


_TO_WGS84 = {"wgs84": _wgs84_array, "gcj02": gcj02_to_wgs84_array, "bd09": bd09_to_wgs84_array}


def to_wgs84_array(lon: np.ndarray, lat: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert arrays of (lon, lat) in `crs` to WGS-84; values are not range-checked, NaN stays NaN."""
    return _TO_WGS84[_check_crs(crs)](lon, lat)


def _floats(pair: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    return float(pair[0]), float(pair[1])


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    return _floats(wgs84_to_gcj02_array(lon, lat))


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    return _floats(gcj02_to_wgs84_array(lon, lat))


def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    return _floats(gcj02_to_bd09_array(lon, lat))


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    return _floats(bd09_to_gcj02_array(lon, lat))


def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    return _floats(wgs84_to_bd09_array(lon, lat))


def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    return _floats(bd09_to_wgs84_array(lon, lat))


def to_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    return _floats(to_wgs84_array(lon, lat, crs))
