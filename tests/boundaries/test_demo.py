"""The demo city: hierarchy, codes, names, geometry, determinism and the shapefiles written from it."""

import re
from collections import Counter, defaultdict

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from boundaries.coding import reading_order
from boundaries.demo import LEVELS, build_demo_city, write_demo_shapefiles

CENTER = (116.40, 39.91)
# Streets 001-099 under the district, then 001-999 for communities and for grid cells.
CODE_FORMATS = {
    "city": r"110100",
    "district": r"110101",
    "street": r"1101010(?!00)\d\d",
    "community": r"1101010\d\d(?!000)\d{3}",
    "grid": r"1101010\d\d\d{3}(?!000)\d{3}",
}
PARENT_LEVEL = {"district": "city", "street": "district", "community": "street", "grid": "community"}
# UTM zone 50N covers 114-120° E: a metric frame for areas around the default centre.
TO_METRES = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)


def in_metres(geometries):
    return shapely.transform(
        np.asarray(geometries, dtype=object), lambda xy: np.column_stack(TO_METRES.transform(xy[:, 0], xy[:, 1]))
    )


@pytest.fixture(scope="module")
def city():
    return build_demo_city()


@pytest.fixture(scope="module")
def shapefile_dir(city, tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo")
    write_demo_shapefiles(city, directory)
    return directory


def children_of(city, level):
    children = defaultdict(list)
    for unit in city.units(level):
        children[unit.parent_code].append(unit)
    return children


def test_counts_follow_the_requested_size(city):
    counts = city.counts()
    assert counts["city"] == counts["district"] == 1
    assert 405 <= counts["grid"] <= 495
    assert 25 <= counts["community"] <= 35
    assert 4 <= counts["street"] <= 6


def test_counts_scale_with_n_grids():
    small = build_demo_city(n_grids=120, seed=7)
    assert 108 <= len(small.grid) <= 132
    assert 6 <= len(small.community) <= 10
    assert len(small.street) == 1


def test_every_geometry_is_a_valid_non_empty_polygon(city):
    for level in LEVELS:
        geometries = [unit.geometry for unit in city.units(level)]
        assert all(shapely.is_valid(geometries)), level
        assert not any(shapely.is_empty(geometries)), level
        assert {geometry.geom_type for geometry in geometries} <= {"Polygon", "MultiPolygon"}, level


def test_codes_follow_the_administrative_format(city):
    for level, pattern in CODE_FORMATS.items():
        for unit in city.units(level):
            assert re.fullmatch(pattern, unit.code), (level, unit.code)
    all_codes = [unit.code for level in LEVELS for unit in city.units(level)]
    assert len(all_codes) == len(set(all_codes))


def test_child_codes_extend_their_parent_code(city):
    assert city.city[0].parent_code is None
    for level, parent_level in PARENT_LEVEL.items():
        parents = {unit.code for unit in city.units(parent_level)}
        for unit in city.units(level):
            assert unit.parent_code in parents
            if level == "district":
                assert unit.code[:4] == unit.parent_code[:4]
            else:
                assert unit.code[:-3] == unit.parent_code


def test_sequences_run_from_001_without_gaps(city):
    for level in ("street", "community", "grid"):
        for siblings in children_of(city, level).values():
            assert sorted(int(unit.code[-3:]) for unit in siblings) == list(range(1, len(siblings) + 1))


def test_siblings_are_numbered_in_reading_order(city):
    for level in ("street", "community", "grid"):
        for siblings in children_of(city, level).values():
            siblings = sorted(siblings, key=lambda unit: unit.code)
            labels = shapely.get_coordinates(shapely.point_on_surface([unit.geometry for unit in siblings]))
            assert reading_order([(x, y) for x, y in labels.tolist()]) == list(range(len(siblings)))


def test_names_are_chinese_and_unique(city):
    assert city.city[0].name.endswith("市")
    assert city.district[0].name.endswith("区")
    street_names = [unit.name for unit in city.street]
    community_names = [unit.name for unit in city.community]
    assert all(name.endswith("街道") for name in street_names)
    assert all(name.endswith("社区") for name in community_names)
    assert len(set(street_names)) == len(street_names)
    assert len(set(community_names)) == len(community_names)
    for unit in city.street + city.community:
        assert re.fullmatch(r"[\u4e00-\u9fff]+", unit.name), unit.name


def test_grid_names_carry_community_name_and_sequence(city):
    community_names = {unit.code: unit.name for unit in city.community}
    for unit in city.grid:
        assert unit.name == f"{community_names[unit.parent_code]}第{int(unit.code[-3:])}网格"


def test_siblings_do_not_overlap(city):
    for level in ("street", "community", "grid"):
        geometries = in_metres([unit.geometry for unit in city.units(level)])
        left, right = shapely.STRtree(geometries).query(geometries, predicate="intersects")
        pairs = left < right
        overlap = shapely.area(shapely.intersection(geometries[left[pairs]], geometries[right[pairs]]))
        assert overlap.sum() < 1.0, level  # m2, over the whole city


def test_children_exactly_cover_their_parent(city):
    parents = {unit.code: unit for level in LEVELS for unit in city.units(level)}
    for level in PARENT_LEVEL:
        for parent_code, children in children_of(city, level).items():
            parent, union = in_metres(
                [parents[parent_code].geometry, shapely.union_all([c.geometry for c in children])]
            )
            assert shapely.area(shapely.difference(parent, union)) < 1.0, parent_code
            assert shapely.area(shapely.difference(union, parent)) < 1.0, parent_code


def test_district_covers_the_whole_city(city):
    assert city.district[0].geometry.equals(city.city[0].geometry)


def test_cells_are_mostly_one_to_five_hectares(city):
    hectares = shapely.area(in_metres([unit.geometry for unit in city.grid])) / 10_000
    assert np.mean((hectares >= 1) & (hectares <= 5)) >= 0.85
    assert 2 <= np.median(hectares) <= 3
    assert hectares.min() > 0.5


def test_center_is_strictly_inside_exactly_one_cell(city):
    cells = np.array([unit.geometry for unit in city.grid], dtype=object)
    center = shapely.Point(CENTER)
    assert shapely.contains(cells, center).sum() == 1
    assert shapely.intersects(cells, center).sum() == 1  # not on an edge shared with a neighbour
    containing = cells[shapely.contains(cells, center)][0]
    assert containing.boundary.distance(center) > 1e-4  # about 10 m


def test_the_center_can_be_moved():
    shanghai = build_demo_city(n_grids=60, center=(121.47, 31.23), city_code="310100", district_code="310115")
    cells = [unit.geometry for unit in shanghai.grid]
    assert shapely.contains_xy(cells, 121.47, 31.23).sum() == 1
    assert all(unit.code.startswith("310115") for unit in shanghai.street)


@pytest.mark.parametrize(
    ("city_code", "district_code"), [("1101", "110101"), ("110100", "120101"), ("110101", "110102")]
)
def test_inconsistent_codes_are_rejected(city_code, district_code):
    with pytest.raises(ValueError):
        build_demo_city(n_grids=20, city_code=city_code, district_code=district_code)


def test_same_seed_builds_the_same_city(city):
    again = build_demo_city()
    for level in LEVELS:
        first, second = city.units(level), again.units(level)
        assert [(u.code, u.name, u.parent_code) for u in first] == [(u.code, u.name, u.parent_code) for u in second]
        assert [u.geometry.wkb for u in first] == [u.geometry.wkb for u in second]


def test_another_seed_builds_another_city(city):
    other = build_demo_city(seed=1)
    assert [u.geometry.wkb for u in other.grid] != [u.geometry.wkb for u in city.grid]
    assert shapely.contains_xy([u.geometry for u in other.grid], *CENTER).sum() == 1


def test_shapefiles_have_one_file_set_per_level(city, shapefile_dir):
    for level in LEVELS:
        for extension in ("shp", "shx", "dbf", "prj", "cpg"):
            assert (shapefile_dir / f"{level}.{extension}").is_file(), (level, extension)
        assert (shapefile_dir / f"{level}.cpg").read_text().strip().upper() in {"UTF-8", "UTF8"}


def test_shapefiles_read_back_with_codes_names_and_crs(city, shapefile_dir):
    for level in LEVELS:
        path = shapefile_dir / f"{level}.shp"
        assert pyogrio.read_info(path)["crs"] == "EPSG:4490"
        frame = pyogrio.read_dataframe(path)
        units = city.units(level)
        assert frame["CODE"].tolist() == [unit.code for unit in units]
        assert frame["NAME"].tolist() == [unit.name for unit in units]
        assert [parent or None for parent in frame["PARENT"]] == [unit.parent_code for unit in units]
        for unit, geometry in zip(units, frame.geometry, strict=True):
            assert shapely.equals(geometry, unit.geometry), unit.code
    assert pyogrio.read_dataframe(shapefile_dir / "grid.shp")["NAME"][0].endswith("第1网格")


def test_shapefiles_are_byte_identical_across_writes(city, shapefile_dir, tmp_path):
    paths = write_demo_shapefiles(city, tmp_path)
    assert [path.name for path in paths] == [f"{level}.shp" for level in LEVELS]
    written = Counter()
    for path in sorted(tmp_path.iterdir()):
        assert path.read_bytes() == (shapefile_dir / path.name).read_bytes(), path.name
        written[path.suffix] += 1
    assert written == Counter({".shp": 5, ".shx": 5, ".dbf": 5, ".prj": 5, ".cpg": 5})


def test_parks_are_large_grid_cells_of_the_city(city):
    grid = {unit.code: unit for unit in city.grid}
    assert city.parks
    assert len(set(city.parks)) == len(city.parks)
    assert set(city.parks) <= set(grid)
    # A park takes 2x2 blocks of the street network.
    areas = shapely.area(in_metres([unit.geometry for unit in city.grid]))
    park_areas = shapely.area(in_metres([grid[code].geometry for code in city.parks]))
    assert park_areas.min() > 2 * np.median(areas)


def test_river_and_avenue_cross_the_city(city):
    outline = city.city[0].geometry
    for line in (city.river, city.avenue):
        assert line is not None and line.geom_type == "LineString"
        assert shapely.covers(shapely.buffer(outline, 1e-7), line)
        for end in shapely.points(line.coords[0]), shapely.points(line.coords[-1]):
            assert shapely.distance(outline.boundary, end) < 1e-7  # about 1 cm
        assert shapely.length(in_metres([line])[0]) > 2_000.0
        # Crossing, it leaves land on both of its sides.
        banks = shapely.get_parts(shapely.difference(outline, shapely.buffer(line, 1e-6)))
        assert (shapely.area(in_metres(banks)) > 100_000).sum() >= 2


def test_a_city_too_small_for_a_park_has_none():
    small = build_demo_city(n_grids=120, seed=7)
    assert small.parks == ()
    assert small.river is not None
