"""The demo population: buildings, households and residents, their consistency and the files written."""

import csv
import re
from collections import Counter, defaultdict
from datetime import date

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from boundaries.demo import build_demo_city
from residents.demo import build_demo_population, write_demo_population

HOUSEHOLDS = 2_000
CENTER = (116.40, 39.91)
REFERENCE = date(2024, 6, 1)
HEADERS = [
    "户号", "地址", "楼栋", "单元", "房号", "经度", "纬度", "住房类型", "户标签", "来源",
    "姓名", "身份证号", "联系电话", "性别", "出生日期", "与户主关系", "居住状态", "人员标签",
]  # fmt: skip
MAPPING = """\
# Column mapping of the demo households file: canonical name -> header in the file.
columns:
  household_ref: 户号
  address: 地址
  building: 楼栋
  unit_no: 单元
  room: 房号
  lon: 经度
  lat: 纬度
  housing_type: 住房类型
  household_tags: 户标签
  source: 来源
  name: 姓名
  id_number: 身份证号
  phone: 联系电话
  gender: 性别
  birth_date: 出生日期
  relation: 与户主关系
  residence_status: 居住状态
  resident_tags: 人员标签
crs: wgs84
encoding: utf-8-sig
"""
# UTM zone 50N covers 114-120° E: a metric frame around the default centre.
TO_METRES = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)


def in_metres(geometries):
    return shapely.transform(
        np.asarray(geometries, dtype=object), lambda xy: np.column_stack(TO_METRES.transform(xy[:, 0], xy[:, 1]))
    )


@pytest.fixture(scope="module")
def city():
    return build_demo_city()


@pytest.fixture(scope="module")
def population(city):
    return build_demo_population(city, households=HOUSEHOLDS)


@pytest.fixture(scope="module")
def residents(population):
    return [dict(zip(HEADERS, row, strict=True)) for row in population.rows]


@pytest.fixture(scope="module")
def households(residents):
    members = defaultdict(list)
    for resident in residents:
        members[resident["户号"]].append(resident)
    return members


@pytest.fixture(scope="module")
def cells(city):
    return {unit.code: unit.geometry for unit in city.grid}


@pytest.fixture(scope="module")
def buildings(population):
    return {building.ref: building for building in population.buildings}


def age(resident) -> int:
    born = date.fromisoformat(resident["出生日期"])
    return REFERENCE.year - born.year - ((REFERENCE.month, REFERENCE.day) < (born.month, born.day))


def tags(field: str) -> set[str]:
    return set(field.split(";")) - {""}


def check_character(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(digit) * weight for digit, weight in zip(first17, weights, strict=True)) % 11]


def test_counts(population, households, residents):
    counts = population.counts()
    assert counts["households"] == len(households) == HOUSEHOLDS
    assert counts["residents"] == len(residents)
    assert 2.2 * HOUSEHOLDS <= len(residents) <= 2.7 * HOUSEHOLDS
    assert counts["buildings"] == len(population.buildings) > 0
    sizes = Counter(len(members) for members in households.values())
    assert set(sizes) <= {1, 2, 3, 4, 5, 6}
    # Rows of a household are contiguous, so a reader can group them as they come.
    refs = [resident["户号"] for resident in residents]
    assert sum(1 for i in range(1, len(refs)) if refs[i] != refs[i - 1]) == HOUSEHOLDS - 1
    assert all(re.fullmatch(r"H\d{7}", ref) for ref in households)


def test_shares_of_statuses_housing_and_sources(households, residents):
    statuses = Counter(resident["居住状态"] for resident in residents)
    assert set(statuses) == {"户籍", "流动", "外出"}
    assert 0.68 <= statuses["户籍"] / len(residents) <= 0.82
    assert 0.14 <= statuses["流动"] / len(residents) <= 0.26
    assert 0.02 <= statuses["外出"] / len(residents) <= 0.08
    heads = [members[0] for members in households.values()]
    housing = Counter(head["住房类型"] for head in heads)
    assert 0.55 <= housing["自有"] / len(heads) <= 0.75
    assert 0.22 <= housing["租赁"] / len(heads) <= 0.38
    assert 0.01 <= housing["集体"] / len(heads) <= 0.09
    floating = [head for head in heads if head["居住状态"] == "流动"]
    assert Counter(head["住房类型"] for head in floating)["租赁"] / len(floating) > housing["租赁"] / len(heads)
    sources = Counter(head["来源"] for head in heads)
    assert set(sources) <= {"公安", "民政", "房管", "计生", "党建", "网格采集"}
    assert [source for source, _ in sources.most_common(2)] == ["公安", "网格采集"]


def test_household_fields_are_the_same_on_every_row(households):
    household_columns = HEADERS[:10]
    for members in households.values():
        assert len({tuple(member[column] for column in household_columns) for member in members}) == 1


def test_one_head_per_household_and_relations_fit_ages(households):
    for members in households.values():
        relations = [member["与户主关系"] for member in members]
        assert relations[0] == "户主"
        assert relations.count("户主") == 1
        assert set(relations) <= {"户主", "配偶", "子女", "父母", "孙子女", "兄弟姐妹", "其他"}
        head = members[0]
        for member in members[1:]:
            gap = age(head) - age(member)
            if member["与户主关系"] == "配偶":
                assert member["性别"] != head["性别"]
                assert abs(gap) <= 10
            elif member["与户主关系"] == "子女":
                assert 20 <= gap <= 40
            elif member["与户主关系"] == "父母":
                assert -40 <= gap <= -20


def test_ages_and_birth_dates(residents):
    ages = np.array([age(resident) for resident in residents])
    assert ages.min() >= 0 and ages.max() <= 100
    assert all(date.fromisoformat(resident["出生日期"]) <= REFERENCE for resident in residents)
    # A Beijing-like pyramid: few children, most of working age, a fifth over 60.
    assert 0.08 <= np.mean(ages < 15) <= 0.18
    assert 0.55 <= np.mean((ages >= 15) & (ages < 60)) <= 0.75
    assert 0.14 <= np.mean(ages >= 60) <= 0.28


def test_names_are_chinese(residents):
    names = [resident["姓名"] for resident in residents]
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,4}", name) for name in names)
    surnames = Counter(name[0] for name in names)
    assert {surname for surname, _ in surnames.most_common(6)} & {"王", "李", "张", "刘"} == {"王", "李", "张", "刘"}


def test_id_numbers_are_valid_unique_and_consistent(residents):
    numbers = [resident["身份证号"] for resident in residents]
    assert len(set(numbers)) == len(numbers)
    for resident, number in zip(residents, numbers, strict=True):
        assert re.fullmatch(r"\d{17}[\dX]", number), number
        assert number[17] == check_character(number[:17]), number
        assert number[6:14] == resident["出生日期"].replace("-", "")
        assert resident["性别"] == ("男" if int(number[16]) % 2 else "女")
    registered = [number for resident, number in zip(residents, numbers, strict=True) if resident["居住状态"] == "户籍"]
    floating = [number for resident, number in zip(residents, numbers, strict=True) if resident["居住状态"] == "流动"]
    assert np.mean([number.startswith("110101") for number in registered]) > 0.75
    assert np.mean([not number.startswith("11") for number in floating]) > 0.95


def test_phones_are_unique_mobile_numbers_missing_for_children(residents):
    phones = [resident["联系电话"] for resident in residents if resident["联系电话"]]
    assert len(set(phones)) == len(phones)
    assert all(re.fullmatch(r"1(3\d|5\d|7\d|8\d|9\d)\d{8}", phone) for phone in phones)
    assert all(not resident["联系电话"] for resident in residents if age(resident) < 12)
    assert 0.1 <= 1 - len(phones) / len(residents) <= 0.2


def test_buildings_lie_inside_their_cell_away_from_edges_parks_and_river(city, population, cells):
    assert city.parks and city.river is not None
    parks = in_metres([cells[code] for code in city.parks])
    river = in_metres([city.river])[0]
    addresses = [building.address for building in population.buildings]
    assert len(set(addresses)) == len(addresses)
    refs = [building.ref for building in population.buildings]
    assert len(set(refs)) == len(refs)
    points = in_metres(shapely.points([(b.lon, b.lat) for b in population.buildings]))
    own_cells = in_metres([cells[building.grid_code] for building in population.buildings])
    assert shapely.contains(own_cells, points).all()
    assert shapely.distance(shapely.boundary(own_cells), points).min() >= 5.0
    assert not shapely.contains(parks[:, None], points[None, :]).any()
    assert shapely.distance(river, points).min() >= 40.0
    assert not set(city.parks) & {building.grid_code for building in population.buildings}
    assert not set(population.empty_cells) & {building.grid_code for building in population.buildings}
    assert population.empty_cells


def test_buildings_look_real(population):
    kinds = Counter(building.kind for building in population.buildings)
    assert set(kinds) == {"tower", "walk_up", "courtyard"}
    for building in population.buildings:
        if building.kind == "tower":
            assert 10 <= building.floors <= 30 and 2 <= building.units <= 6
            assert re.fullmatch(r"[\u4e00-\u9fff]+(路\d+号院\d+号楼|\d+号楼)", building.address), building.address
        elif building.kind == "walk_up":
            assert 5 <= building.floors <= 6
            assert re.fullmatch(r"[\u4e00-\u9fff]+(路\d+号院\d+号楼|\d+号楼)", building.address), building.address
        else:
            assert building.floors == 1
            assert re.fullmatch(r"[\u4e00-\u9fff]+胡同\d+号", building.address), building.address


def test_households_sit_in_their_buildings_cell_except_the_outside_ones(city, population, households, buildings, cells):
    outside, placed = set(), 0
    for ref, members in households.items():
        first = members[0]
        building = buildings[first["楼栋"]]
        if not first["经度"]:
            assert ref in population.ungeocoded
            assert first["地址"] == building.address
            continue
        placed += 1
        lon, lat = float(first["经度"]), float(first["纬度"])
        assert re.fullmatch(r"\d+\.\d{7}", first["经度"]) and re.fullmatch(r"\d+\.\d{7}", first["纬度"])
        if not shapely.contains_xy(cells[building.grid_code], lon, lat):
            outside.add(ref)
            continue
        near = in_metres(shapely.points([(lon, lat), (building.lon, building.lat)]))
        assert shapely.distance(near[0], near[1]) <= 3.0 + 0.05
        if first["单元"]:
            assert first["地址"] == f"{building.address}{first['单元']}单元{first['房号']}"
        else:
            assert first["地址"] == building.address
    assert outside == set(population.outside)
    assert len(outside) == 25
    outline = in_metres([city.city[0].geometry])[0]
    for ref in outside:
        point = in_metres([shapely.Point(float(households[ref][0]["经度"]), float(households[ref][0]["纬度"]))])[0]
        assert 100.0 <= shapely.distance(outline, point) <= 1_000.0
    ungeocoded_rows = sum(len(households[ref]) for ref in population.ungeocoded)
    assert population.ungeocoded and ungeocoded_rows <= 0.005 * len(population.rows) + 6
    assert placed == HOUSEHOLDS - len(population.ungeocoded)


def test_density_falls_away_from_the_centre(city, population, households, buildings):
    homes = [unit for unit in city.grid if unit.code not in city.parks]
    areas = shapely.area(in_metres([unit.geometry for unit in homes])) / 1e6
    centre = in_metres([shapely.Point(CENTER)])[0]
    distances = shapely.distance(centre, in_metres([shapely.centroid(unit.geometry) for unit in homes]))
    inner = distances <= np.median(distances)
    per_cell = Counter(buildings[members[0]["楼栋"]].grid_code for members in households.values())
    counts = np.array([per_cell[unit.code] for unit in homes])
    inner_density = counts[inner].sum() / areas[inner].sum()
    outer_density = counts[~inner].sum() / areas[~inner].sum()
    assert inner_density > 1.5 * outer_density
    towers = [b for b in population.buildings if b.kind == "tower"]
    courtyards = [b for b in population.buildings if b.kind == "courtyard"]

    def mean_distance(group):
        return shapely.distance(centre, in_metres(shapely.points([(b.lon, b.lat) for b in group]))).mean()

    assert mean_distance(towers) < mean_distance(courtyards)


def test_household_tags_follow_their_rules(households):
    for members in households.values():
        household_tags = tags(members[0]["户标签"])
        assert household_tags <= {"rented_out", "empty_nest"}
        assert ("rented_out" in household_tags) == (members[0]["住房类型"] == "租赁")
        elderly_only = all(age(member) >= 60 for member in members)
        no_children = not any(member["与户主关系"] in ("子女", "孙子女") for member in members)
        assert ("empty_nest" in household_tags) == (elderly_only and no_children)


def test_resident_tags_follow_their_rules(residents, households):
    counted = Counter()
    for members in households.values():
        low_income = {"low_income" in tags(member["人员标签"]) for member in members}
        assert len(low_income) == 1, "low income applies to whole households"
        for member in members:
            member_tags = tags(member["人员标签"])
            counted.update(member_tags)
            assert member_tags <= {
                "elderly_alone", "disabled", "low_income", "left_behind_child", "veteran", "key_person",
            }  # fmt: skip
            assert ("elderly_alone" in member_tags) == (len(members) == 1 and age(member) >= 70)
            if "veteran" in member_tags:
                assert member["性别"] == "男" and age(member) > 35
            if "key_person" in member_tags:
                assert age(member) >= 18
            parents = {"子女": ("户主", "配偶"), "孙子女": ("子女", "其他")}.get(member["与户主关系"])
            left_behind = (
                parents is not None
                and age(member) < 16
                and all(other["居住状态"] == "外出" for other in members if other["与户主关系"] in parents)
            )
            assert ("left_behind_child" in member_tags) == left_behind
    n = len(residents)
    assert 0.01 <= counted["disabled"] / n <= 0.03
    assert 0.015 <= counted["low_income"] / n <= 0.04
    assert counted["elderly_alone"] and counted["left_behind_child"] and counted["veteran"] and counted["key_person"]


def test_same_seed_same_population_other_seed_another(city, population):
    again = build_demo_population(city, households=HOUSEHOLDS)
    assert again.rows == population.rows
    assert again.buildings == population.buildings
    other = build_demo_population(city, households=HOUSEHOLDS, seed=7)
    assert other.rows != population.rows
    assert [b.address for b in other.buildings] != [b.address for b in population.buildings]


def test_files_are_written_with_the_exact_headers(population, tmp_path):
    paths = write_demo_population(population, tmp_path)
    assert set(paths) == {"buildings", "households", "mapping"}
    raw = paths["households"].read_bytes()
    assert raw.startswith("\ufeff".encode())
    assert raw.decode("utf-8-sig").split("\n", 1)[0] == ",".join(HEADERS)
    with paths["households"].open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == HEADERS
    assert [tuple(row) for row in rows[1:]] == population.rows

    text = paths["buildings"].read_text(encoding="utf-8")
    assert not text.startswith("\ufeff")
    assert text.split("\n", 1)[0] == "ref,address,lon,lat,floors,units"
    with paths["buildings"].open(encoding="utf-8", newline="") as file:
        buildings = list(csv.DictReader(file))
    assert [row["ref"] for row in buildings] == [building.ref for building in population.buildings]
    assert all(re.fullmatch(r"\d+\.\d{7}", row["lon"]) for row in buildings)

    assert paths["mapping"].read_text(encoding="utf-8") == MAPPING

    again = write_demo_population(population, tmp_path / "again")
    for key, path in paths.items():
        assert again[key].read_bytes() == path.read_bytes(), key


def test_mapping_reads_as_yaml(population, tmp_path):
    yaml = pytest.importorskip("yaml")
    mapping = yaml.safe_load(write_demo_population(population, tmp_path)["mapping"].read_text(encoding="utf-8"))
    assert list(mapping["columns"].values()) == HEADERS
    assert mapping["crs"] == "wgs84" and mapping["encoding"] == "utf-8-sig"
