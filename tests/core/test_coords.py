"""core.coords: parsing of raw coordinate input, and the GCJ-02 / BD-09 conversions checked against eviltransform."""

import math
from decimal import Decimal

import eviltransform
import numpy as np
import pytest
from django.utils import translation
from django.utils.translation import trans_null
from hypothesis import given, settings
from hypothesis import strategies as st

from core.coords import (
    SUPPORTED_CRS,
    CoordinateError,
    bd09_to_gcj02,
    bd09_to_wgs84,
    bd09_to_wgs84_array,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    gcj02_to_wgs84_array,
    parse_lon_lat,
    to_wgs84,
    to_wgs84_array,
    wgs84_to_bd09,
    wgs84_to_bd09_array,
    wgs84_to_gcj02,
    wgs84_to_gcj02_array,
)

FAST = settings(max_examples=200, deadline=None)

# eviltransform scales the offset with the WGS-84 semi-major axis, the published algorithm (and core.coords)
# with Krasovsky's: the offsets in degrees are inversely proportional to it, so they differ by this factor.
KRASOVSKY_OVER_WGS84 = 6378137.0 / 6378245.0
# Offsets reach 0.0107 degrees, so unscaled results differ by up to 0.0107 * 1.7e-5 = 1.8e-7 degrees (2 cm).
ELLIPSOID_DIFFERENCE = 2e-7
# Rounding only: values near 100 degrees carry ~1.4e-14 of rounding; formulas are grouped differently.
SAME_FORMULA = 1e-12

# Inside the rough China box with a margin, so that neither library's box test is near: lat <= 53 also
# keeps offsets under 0.01 degrees, the bracket that gcj2wgs_exact searches.
china_lon = st.floats(73.0, 135.0)
china_lat = st.floats(18.0, 53.0)


def outside_china(point: tuple[float, float]) -> bool:
    lon, lat = point
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


world = st.tuples(st.floats(-180.0, 180.0), st.floats(-90.0, 90.0))
abroad = world.filter(outside_china)


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


def eviltransform_exact_inverse(lon: float, lat: float) -> tuple[tuple[float, float], float]:
    """eviltransform's GCJ-02 to WGS-84 bisection, and how far from the true inverse it may be."""
    evil_lat, evil_lon = eviltransform.gcj2wgs_exact(lat, lon)
    # It stops once its round trip is within 1e-6 degrees, or after 30 steps, when a few points are still
    # ~1.3e-6 off; the distance to the true inverse is at most ~1.01 times that round trip (the offset changes
    # by under 1% of a step), and the ellipsoid difference comes on top.
    back_lat, back_lon = eviltransform.wgs2gcj(evil_lat, evil_lon)
    achieved = max(abs(back_lon - lon), abs(back_lat - lat))
    return (evil_lon, evil_lat), 1.1 * achieved + ELLIPSOID_DIFFERENCE


def assert_close(actual: tuple[float, float], expected: tuple[float, float], tolerance: float) -> None:
    assert abs(actual[0] - expected[0]) <= tolerance, (actual, expected)
    assert abs(actual[1] - expected[1]) <= tolerance, (actual, expected)


@pytest.fixture
def untranslated(monkeypatch):
    """Render lazy messages as written, with or without configured Django settings."""
    monkeypatch.setattr(translation, "_trans", trans_null)


# Parsing


@pytest.mark.parametrize(
    ("lon", "lat", "field", "code"),
    [
        (None, "39.9", "lon", "required"),
        ("", "39.9", "lon", "required"),
        ("116.4", None, "lat", "required"),
        ("116.4", " \t\u3000", "lat", "required"),
        ("abc", "39.9", "lon", "not_a_number"),
        ("0x10", "39.9", "lon", "not_a_number"),
        ("1_16", "39.9", "lon", "not_a_number"),
        ("116.4.1", "39.9", "lon", "not_a_number"),
        ("116.4,39.9", "39.9", "lon", "not_a_number"),
        ("116,4", "39.9", "lon", "not_a_number"),
        ("116.4", "39,9", "lat", "not_a_number"),
        ("116. 4", "39.9", "lon", "not_a_number"),
        (True, "39.9", "lon", "not_a_number"),
        ([116.4], "39.9", "lon", "not_a_number"),
        ("nan", "39.9", "lon", "not_finite"),
        ("116.4", "-Infinity", "lat", "not_finite"),
        ("inf", "39.9", "lon", "not_finite"),
        ("1e400", "39.9", "lon", "not_finite"),
        ("116.4", "-1e400", "lat", "not_finite"),
        (math.nan, 39.9, "lon", "not_finite"),
        (116.4, math.inf, "lat", "not_finite"),
        (10**400, 39.9, "lon", "not_finite"),
        (Decimal("NaN"), 39.9, "lon", "not_finite"),
        ("180.000001", "0", "lon", "out_of_range"),
        ("-181", "0", "lon", "out_of_range"),
        ("200", "100", "lon", "out_of_range"),
        ("116.4", "95", "lat", "out_of_range"),
        ("45", "-200", "lat", "out_of_range"),
        ("39.9", "116.4", "coordinates", "swapped"),
        (-33.87, 151.21, "coordinates", "swapped"),
        ("90", "-180", "coordinates", "swapped"),
    ],
)
def test_bad_input_names_field_and_code(lon, lat, field, code):
    with pytest.raises(CoordinateError) as caught:
        parse_lon_lat(lon, lat)
    assert (caught.value.field, caught.value.code) == (field, code)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("crs", ["epsg:4326", "", "gcj-02", None, 4326])
def test_unknown_crs(crs):
    with pytest.raises(CoordinateError) as caught:
        parse_lon_lat("116.4", "39.9", crs=crs)
    assert (caught.value.field, caught.value.code) == ("crs", "unknown_crs")


@pytest.mark.usefixtures("untranslated")
@pytest.mark.parametrize(
    ("lon", "lat", "crs", "expected"),
    [
        ("39.9", "116.4", "wgs84", ["look swapped", "longitude first"]),
        ("116,4", "39.9", "wgs84", ["Longitude", "dot", "116.4", "116,4"]),
        ("116.4", "", "wgs84", ["Latitude is required."]),
        ("181", "0", "wgs84", ["Longitude must be between -180 and 180 degrees, got 181.0."]),
        ("116.4", "39.9", "utm", ["“utm”", "wgs84, gcj02, bd09"]),
    ],
)
def test_messages_render(lon, lat, crs, expected):
    with pytest.raises(CoordinateError) as caught:
        parse_lon_lat(lon, lat, crs=crs)
    message = str(caught.value.message)
    assert str(caught.value) == message
    for part in expected:
        assert part in message


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        (" 116.397 ", "\t39.908\n", (116.397, 39.908)),
        ("\u3000116.397", "39.908\u3000", (116.397, 39.908)),
        ("+116.4", "-.5", (116.4, -0.5)),
        ("1.164e2", "3.99E1", (116.4, 39.9)),
        ("180", "-90", (180.0, -90.0)),
        ("-180.0", "90.", (-180.0, 90.0)),
        (116.397, 39.908, (116.397, 39.908)),
        (-122, 37, (-122.0, 37.0)),
        (Decimal("116.397"), np.float32(39.5), (116.397, 39.5)),
        (np.float64(116.397), np.int64(39), (116.397, 39.0)),
    ],
)
def test_good_input(lon, lat, expected):
    assert parse_lon_lat(lon, lat) == expected


@FAST
@given(st.floats(-180.0, 180.0), st.floats(-90.0, 90.0))
def test_parses_every_valid_float_as_text_and_as_number(lon, lat):
    assert parse_lon_lat(repr(lon), repr(lat)) == (lon, lat)
    assert parse_lon_lat(f" {lon} ", f"{lat}\n") == (lon, lat)
    assert parse_lon_lat(lon, lat) == (lon, lat)


def test_parse_converts_from_the_given_crs():
    for crs in SUPPORTED_CRS:
        assert parse_lon_lat("116.404", "39.915", crs=crs) == to_wgs84(116.404, 39.915, crs)
    assert parse_lon_lat("116.404", "39.915", crs=" GCJ02 ") == gcj02_to_wgs84(116.404, 39.915)
    assert parse_lon_lat("116.404", "39.915", crs="bd09") == bd09_to_wgs84(116.404, 39.915)
    assert parse_lon_lat("116.404", "39.915", crs="bd09") != (116.404, 39.915)


# Conversions against eviltransform, whose functions take and return (lat, lng).


@FAST
@given(china_lon, china_lat)
def test_wgs84_to_gcj02_matches_eviltransform(lon, lat):
    ours = wgs84_to_gcj02(lon, lat)
    evil_lat, evil_lon = eviltransform.wgs2gcj(lat, lon)
    assert_close(ours, (evil_lon, evil_lat), ELLIPSOID_DIFFERENCE)
    # The same offset once the ellipsoid is accounted for: this pins every coefficient of the formula.
    scaled = (lon + (evil_lon - lon) * KRASOVSKY_OVER_WGS84, lat + (evil_lat - lat) * KRASOVSKY_OVER_WGS84)
    assert_close(ours, scaled, SAME_FORMULA)


@FAST
@given(china_lon, china_lat)
def test_gcj02_to_wgs84_matches_eviltransform_exact(lon, lat):
    assert_close(gcj02_to_wgs84(lon, lat), *eviltransform_exact_inverse(lon, lat))


@FAST
@given(china_lon, china_lat)
def test_bd09_formulas_match_eviltransform(lon, lat):
    evil_lat, evil_lon = eviltransform.gcj2bd(lat, lon)
    assert_close(gcj02_to_bd09(lon, lat), (evil_lon, evil_lat), SAME_FORMULA)
    evil_lat, evil_lon = eviltransform.bd2gcj(lat, lon)
    assert_close(bd09_to_gcj02(lon, lat), (evil_lon, evil_lat), SAME_FORMULA)
    evil_lat, evil_lon = eviltransform.wgs2bd(lat, lon)
    assert_close(wgs84_to_bd09(lon, lat), (evil_lon, evil_lat), ELLIPSOID_DIFFERENCE)
    # eviltransform.bd2wgs uses the one-step GCJ-02 inverse (metres off), so compose its exact one instead.
    assert_close(bd09_to_wgs84(lon, lat), *eviltransform_exact_inverse(*bd09_to_gcj02(lon, lat)))


@FAST
@given(china_lon, china_lat)
def test_round_trips(lon, lat):
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert_close(gcj02_to_wgs84(glon, glat), (lon, lat), 1e-7)
    # The inverse iterates until its own round trip is within 1e-9 degrees.
    assert_close(wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat)), (lon, lat), 1e-9)
    # Baidu's published inverse is itself approximate, to about 2e-6 degrees.
    assert_close(bd09_to_wgs84(*wgs84_to_bd09(lon, lat)), (lon, lat), 3e-6)


@FAST
@given(st.floats(115.42, 117.5), st.floats(39.44, 41.05))
def test_offsets_in_beijing_are_hundreds_of_metres(lon, lat):
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert 100.0 < metres(lon, lat, glon, glat) < 700.0
    wlon, wlat = gcj02_to_wgs84(lon, lat)
    assert 100.0 < metres(lon, lat, wlon, wlat) < 700.0


@FAST
@given(abroad)
def test_identity_outside_china(point):
    lon, lat = point
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)
    assert wgs84_to_bd09(lon, lat) == (lon, lat)
    for crs in SUPPORTED_CRS:
        assert to_wgs84(lon, lat, crs) == (lon, lat)
        assert parse_lon_lat(str(lon), str(lat), crs=crs) == (lon, lat)


@pytest.mark.parametrize(("lon", "lat"), [(-0.1276, 51.5072), (-74.006, 40.7128), (151.21, -33.87), (139.69, 35.69)])
def test_identity_in_cities_abroad(lon, lat):
    assert to_wgs84(lon, lat, "gcj02") == to_wgs84(lon, lat, "bd09") == (lon, lat)


# Arrays


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.tuples(china_lon, china_lat), world), min_size=1, max_size=8))
def test_arrays_agree_with_scalars(points):
    lon, lat = np.array(points).T
    for crs in SUPPORTED_CRS:
        alon, alat = to_wgs84_array(lon, lat, crs)
        assert alon.shape == alat.shape == lon.shape
        for i, point in enumerate(points):
            # Each point iterates on its own, so this holds far more tightly than 1e-9.
            assert_close((alon[i], alat[i]), to_wgs84(*point, crs), 1e-12)
    for array_form, scalar_form in [(wgs84_to_gcj02_array, wgs84_to_gcj02), (wgs84_to_bd09_array, wgs84_to_bd09)]:
        alon, alat = array_form(lon, lat)
        for i, point in enumerate(points):
            assert_close((alon[i], alat[i]), scalar_form(*point), 1e-12)


def test_large_and_shaped_arrays():
    rng = np.random.default_rng(20240601)
    lon, lat = rng.uniform(73.0, 135.0, (200, 400)), rng.uniform(18.0, 53.0, (200, 400))  # two chunks
    for crs in SUPPORTED_CRS:
        alon, alat = to_wgs84_array(lon, lat, crs)
        assert alon.shape == alat.shape == (200, 400)
        for i, j in zip(rng.integers(0, 200, 30), rng.integers(0, 400, 30), strict=True):
            assert_close((alon[i, j], alat[i, j]), to_wgs84(lon[i, j], lat[i, j], crs), 1e-12)
    glon, glat = wgs84_to_gcj02_array(lon, lat)
    wlon, wlat = gcj02_to_wgs84_array(glon, glat)
    assert np.abs(wlon - lon).max() < 1e-7
    assert np.abs(wlat - lat).max() < 1e-7
    blon, blat = bd09_to_wgs84_array(*wgs84_to_bd09_array(lon, lat))
    assert np.abs(blon - lon).max() < 3e-6
    assert np.abs(blat - lat).max() < 3e-6


def test_arrays_broadcast_keep_nan_and_check_crs():
    lon, lat = to_wgs84_array(np.array([116.4, np.nan, 116.4]), 39.9, " BD09 ")
    assert np.isnan(lon[1]) and lat[1] == 39.9  # a point with a NaN is not in China
    assert (lon[0], lat[0]) == (lon[2], lat[2]) == bd09_to_wgs84(116.4, 39.9)
    lon, lat = to_wgs84_array(np.array([[116.4], [np.nan]]), np.array([[np.nan, 39.9]]), "gcj02")
    assert np.isnan(lon[1]).all() and np.isnan(lat[:, 0]).all() and lon[0, 1] < 116.4 and lat[0, 1] < 39.9
    source = np.array([116.4, 10.0])
    lon, _lat = to_wgs84_array(source, np.array([39.9, 50.0]), "wgs84")
    assert lon is not source and lon.tolist() == [116.4, 10.0]
    with pytest.raises(CoordinateError) as caught:
        to_wgs84_array(source, source, "mercator")
    assert caught.value.code == "unknown_crs"
