"""Deterministic demo population of the demo city: an address gazetteer, households and their residents."""

from __future__ import annotations

import csv
import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import accumulate
from pathlib import Path
from typing import NamedTuple

import numpy as np
import shapely
from pyproj import CRS, Transformer

from boundaries.demo import DemoCity

REFERENCE_DATE = date(2024, 6, 1)  # ages are counted on this day; nobody is born after it
CENTER = (116.40, 39.91)  # where the demo city is built; density falls with distance from here
OUTSIDE_HOUSEHOLDS = 25

BUILDING_COLUMNS = ("ref", "address", "lon", "lat", "floors", "units")
# Canonical column name -> header in the households file, in file order.
COLUMNS = {
    "household_ref": "户号",
    "address": "地址",
    "building": "楼栋",
    "unit_no": "单元",
    "room": "房号",
    "lon": "经度",
    "lat": "纬度",
    "housing_type": "住房类型",
    "household_tags": "户标签",
    "source": "来源",
    "name": "姓名",
    "id_number": "身份证号",
    "phone": "联系电话",
    "gender": "性别",
    "birth_date": "出生日期",
    "relation": "与户主关系",
    "residence_status": "居住状态",
    "resident_tags": "人员标签",
}
HOUSEHOLD_HEADERS = tuple(COLUMNS.values())
HOUSEHOLD_TAGS = ("rented_out", "empty_nest")
RESIDENT_TAGS = ("elderly_alone", "disabled", "low_income", "left_behind_child", "veteran", "key_person")

RELATIONS = ("户主", "配偶", "子女", "父母", "孙子女", "兄弟姐妹", "其他")
_HEAD, _SPOUSE, _CHILD, _PARENT, _GRANDCHILD, _SIBLING, _OTHER = range(len(RELATIONS))
STATUSES = ("户籍", "流动", "外出")
_REGISTERED, _FLOATING, _AWAY = range(len(STATUSES))
HOUSING_TYPES = ("自有", "租赁", "集体")
_OWNED, _RENTED, _COLLECTIVE = range(len(HOUSING_TYPES))
SOURCES = ("公安", "网格采集", "民政", "房管", "计生", "党建")
_SOURCE_SHARES = (0.38, 0.34, 0.08, 0.10, 0.06, 0.04)

# Beijing's 2020 census counts 2.3 persons per household; these shares give about 2.45.
_HOUSEHOLD_SIZES = (1, 2, 3, 4, 5, 6)
_SIZE_SHARES = (0.22, 0.33, 0.29, 0.11, 0.035, 0.015)

_FLOATING_SHARE = 0.20  # of residents
_AWAY_SHARE = 0.05  # of residents, taken from registered adults of working age
_PHONE_MISSING_SHARE = 0.15
_CHILD_WITHOUT_PHONE = 12  # years
_GEOCODED_SHARE = 0.002  # of rows, left without coordinates to be placed by address

# Buildings, in metres of a local projection.
_EDGE_MARGIN = 8.0  # from any cell edge; a household's jitter keeps it more than 5 m inside
_RIVER_MARGIN = 45.0  # from the river's centre line
_JITTER = 3.0  # households of one building scatter this far around its point
_OCCUPANCY = 0.9  # dwellings occupied; the rest stand empty
_EMPTY_CELL_SHARE = 0.03  # schools, markets, offices: cells without homes
_OLD_COMMUNITY_SHARE = 0.25
_NAMED_COMMUNITY_SHARE = 0.4  # communities whose buildings are numbered by community name, not by road
_AVENUE_REACH = 250.0  # m either side of the avenue lined with towers
_MIN_USABLE_AREA = 2_000.0  # m2; a cell with less room than this has no homes
_TOWER, _WALK_UP, _COURTYARD = range(3)
_BUILDING_RADIUS = (20.0, 14.0, 8.0)  # m; two buildings stand at least the sum of their radii apart
_CANDIDATE_SITES = 400  # random sites tried per cell
_DOMINANT_KIND_SHARE = 0.8  # of the buildings of a cell, in the cell's prevailing style

_REGION_HERE = "110101"
_REGIONS_BEIJING = ("110102", "110105", "110106", "110107", "110108", "110111", "110112", "110114")
# Birthplace codes of people from other provinces, weighted roughly like Beijing's migrants.
_REGIONS_ELSEWHERE = {
    "130102": 4, "130104": 3, "130203": 3, "130302": 2, "130602": 3, "130705": 2, "130802": 2, "130902": 2,
    "131002": 3, "131102": 2, "410102": 2, "410105": 2, "410302": 1, "411302": 2, "411402": 2, "411602": 2,
    "370102": 2, "370202": 1, "370702": 2, "371302": 2, "371402": 2, "340102": 2, "341202": 2, "341302": 2,
    "230102": 2, "230202": 1, "230602": 2, "140105": 2, "140202": 2, "420102": 2, "420106": 1, "420902": 1,
    "510104": 2, "510107": 1, "511302": 1, "150102": 2, "150202": 1, "220102": 2, "220202": 1, "210102": 2,
    "210202": 1, "120101": 2, "120104": 1, "320102": 1, "320303": 1, "430102": 1, "430602": 1, "360102": 1,
    "360702": 1, "610102": 1, "620102": 1, "500103": 1, "330102": 1, "350102": 1, "440104": 1,
}  # fmt: skip
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = "10X98765432"
_PHONE_PREFIXES = (
    tuple(range(130, 140)) + (150, 151, 152, 153, 155, 156, 157, 158, 159, 170, 171, 173, 175, 176, 177, 178)
    + tuple(range(180, 190)) + (191, 193, 195, 196, 197, 198, 199)
)  # fmt: skip

# Surnames with their share in per mille, most common first.
_SURNAMES = {
    "王": 71, "李": 70, "张": 67, "刘": 54, "陈": 45, "杨": 31, "赵": 23, "黄": 22, "周": 21, "吴": 20,
    "徐": 17, "孙": 15, "胡": 13, "朱": 13, "高": 12, "林": 12, "何": 12, "郭": 12, "马": 11, "罗": 9,
    "梁": 8, "宋": 8, "郑": 8, "谢": 7, "韩": 7, "唐": 6, "冯": 6, "于": 6, "董": 6, "萧": 6,
    "程": 6, "曹": 6, "袁": 5, "邓": 5, "许": 5, "傅": 5, "沈": 5, "曾": 5, "彭": 5, "吕": 5,
    "苏": 5, "卢": 5, "蒋": 5, "蔡": 4, "贾": 4, "丁": 4, "魏": 4, "薛": 4, "叶": 4, "阎": 4,
    "余": 4, "潘": 4, "杜": 4, "戴": 3, "夏": 3, "钟": 3, "汪": 3, "田": 3, "任": 3, "姜": 3,
    "范": 3, "方": 3, "石": 3, "姚": 3, "谭": 3, "廖": 3, "邹": 3, "熊": 3, "金": 3, "陆": 3,
    "郝": 3, "孔": 3, "白": 3, "崔": 3, "康": 3, "毛": 3, "邱": 3, "秦": 3, "江": 3, "史": 3,
    "顾": 2, "侯": 2, "邵": 2, "孟": 2, "龙": 2, "万": 2, "段": 2, "雷": 2, "钱": 2, "汤": 2,
    "尹": 2, "黎": 2, "易": 2, "常": 2, "武": 2, "乔": 2, "贺": 2, "赖": 2, "龚": 2, "文": 2,
    "庞": 1, "樊": 1, "兰": 1, "殷": 1, "施": 1, "陶": 1, "洪": 1, "翟": 1, "安": 1, "颜": 1,
    "倪": 1, "严": 1, "牛": 1, "温": 1, "芦": 1, "季": 1, "俞": 1, "章": 1, "鲁": 1, "葛": 1,
    "伍": 1, "韦": 1, "申": 1, "尤": 1, "毕": 1, "聂": 1, "丛": 1, "焦": 1, "向": 1, "柳": 1,
    "邢": 1, "路": 1, "岳": 1, "齐": 1, "沿": 1, "梅": 1, "莫": 1, "庄": 1, "辛": 1, "管": 1,
    "祝": 1, "左": 1, "涂": 1, "谷": 1, "祁": 1, "时": 1, "舒": 1, "耿": 1, "牟": 1, "卜": 1,
    "詹": 1, "关": 1, "苗": 1, "凌": 1, "费": 1, "纪": 1, "靳": 1, "盛": 1, "童": 1, "欧阳": 1,
}  # fmt: skip
# Characters of given names by gender and by the era of birth: names follow fashions.
_GIVEN_NAME_ERAS = (1970, 2000)  # born before 1970, 1970-1999, from 2000
_GIVEN_NAMES = {
    (True, 0): "建国军华明伟平强刚勇志永海春德福庆文宝成生林忠山祥荣民和立新胜利杰学清振兴贵富树占广长友",
    (True, 1): "伟磊勇涛斌超鹏杰浩亮军强辉波宁健峰刚飞俊帅凯鑫龙阳明东宇晨博旭晓海志立建振永文斌晖",
    (True, 2): "浩宇子轩俊博文一梓睿思泽天嘉逸辰皓宸晨航铭煜霖昊然诚锦瑞奕哲楷言翊安乐阳峻涵宁",
    (False, 0): "秀英淑桂玉凤兰芳珍华萍红梅霞琴云丽荣翠敏素静慧娟玲彩莲菊芬洁金香爱月春美荷",
    (False, 1): "丽娜静敏燕艳娟霞婷雪晶琳颖倩莉佳慧璐洁蕾莹丹欣蓉薇宁楠琪晓瑶菲芳媛雯妍",
    (False, 2): "欣梓诗雨思佳子一可紫语悦涵怡琪萱彤婷晴璐雪若依沫瑶馨妍嘉安乐心宁然菲",
}
_SINGLE_CHARACTER_SHARE = (0.15, 0.3, 0.12)  # of given names, by era

# Made-up road and hutong names: a road is <word><word>路, a hutong <direction><word>胡同.
_ROAD_FIRST = "春安和永康泰嘉祥瑞兴丰福德光明华宁清新文惠育望广"
_ROAD_SECOND = "华平乐顺宁丰和源昌盛兴苑泉林德惠通达远成"
_ROAD_VARIANTS = ("", "北", "南", "东", "西", "中")
_HUTONG_PREFIXES = ("", "东", "西", "南", "北", "前", "后", "大", "小", "上", "下", "新", "老")
_HUTONG_WORDS = (
    "椿树", "槐树", "柳树", "帽儿", "砖塔", "菊儿", "灯草", "炭儿", "棉花", "铁匠", "银锭", "钱粮", "鼓楼", "石碑",
    "井儿", "菜园", "羊毛", "骡马", "豆芽", "烟袋", "箭杆", "雨儿", "蓑衣", "板厂", "香饵", "花枝", "绒线", "茶儿",
    "瓦窑", "油坊", "酱坊", "米粮", "灯市", "琉璃", "砂锅", "扁担", "笤帚", "草厂", "西瓜", "枣林", "石雀", "麻线",
    "马神", "牛街", "药王", "铃铛", "帘子", "笔管",
)  # fmt: skip
_HUTONG_VARIANTS = ("", "头条", "二条", "三条", "四条", "五条")


@dataclass(frozen=True)
class DemoBuilding:
    ref: str
    address: str
    lon: float
    lat: float
    floors: int
    units: int  # stairwell units; 1 for a courtyard house
    kind: str  # "tower", "walk_up" or "courtyard"
    grid_code: str


@dataclass(frozen=True)
class DemoPopulation:
    seed: int
    buildings: list[DemoBuilding]
    rows: list[tuple[str, ...]]  # the households file: one row per resident, in HOUSEHOLD_HEADERS order
    outside: tuple[str, ...]  # household numbers placed beyond the city outline
    ungeocoded: tuple[str, ...]  # household numbers without coordinates, to be placed by their address
    empty_cells: tuple[str, ...]  # grid cells without homes, besides the parks

    def counts(self) -> dict[str, int]:
        """Buildings, households, residents, residents per residence status and rows per tag."""
        column = {header: index for index, header in enumerate(HOUSEHOLD_HEADERS)}
        counts = {
            "buildings": len(self.buildings),
            "households": len({row[0] for row in self.rows}),
            "residents": len(self.rows),
        }
        for status in STATUSES:
            counts[status] = sum(row[column["居住状态"]] == status for row in self.rows)
        households = {row[0]: row[column["户标签"]] for row in self.rows}
        for tag in HOUSEHOLD_TAGS:
            counts[tag] = sum(tag in tags.split(";") for tags in households.values())
        for tag in RESIDENT_TAGS:
            counts[tag] = sum(tag in row[column["人员标签"]].split(";") for row in self.rows)
        return counts


def build_demo_population(city: DemoCity, *, seed: int = 20240601, households: int = 50_000) -> DemoPopulation:
    """
    Buildings in the residential cells of `city` and about 2.45 residents per household in them, the same
    for the same city and seed. Denser and taller near the centre and along the avenue; nobody lives in a
    park or by the river.
    """
    if households < 1:
        raise ValueError(f"households must be at least 1, got {households}")
    rng = np.random.default_rng(seed)
    frame = _Frame(city)
    stock = _build_stock(rng, city, frame, households)
    dwelling_of = _occupy(rng, stock, households)
    people = _compose_households(rng, households)
    return _assemble(rng, seed, city, frame, stock, dwelling_of, people)


def write_demo_population(population: DemoPopulation, directory: Path) -> dict[str, Path]:
    """buildings.csv (UTF-8), households.csv (UTF-8 with BOM, Chinese headers) and mapping.yml."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "buildings": directory / "buildings.csv",
        "households": directory / "households.csv",
        "mapping": directory / "mapping.yml",
    }
    with paths["buildings"].open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(BUILDING_COLUMNS)
        writer.writerows(
            (b.ref, b.address, f"{b.lon:.7f}", f"{b.lat:.7f}", b.floors, b.units) for b in population.buildings
        )
    with paths["households"].open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(HOUSEHOLD_HEADERS)
        writer.writerows(population.rows)
    paths["mapping"].write_text(mapping_yaml(), encoding="utf-8")
    return paths


def mapping_yaml() -> str:
    lines = ["# Column mapping of the demo households file: canonical name -> header in the file.", "columns:"]
    lines += [f"  {canonical}: {header}" for canonical, header in COLUMNS.items()]
    lines += ["crs: wgs84", "encoding: utf-8-sig"]
    return "\n".join(lines) + "\n"


class _Frame:
    """The city in metres of an azimuthal projection around its centre, where buildings are laid out."""

    def __init__(self, city: DemoCity):
        outline = city.city[0].geometry
        center = CENTER if shapely.contains_xy(outline, *CENTER) else tuple(outline.centroid.coords[0])
        local = CRS.from_proj4(
            f"+proj=aeqd +lat_0={center[1]} +lon_0={center[0]} +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
        )
        self._to_metres = Transformer.from_crs("EPSG:4326", local, always_xy=True)
        self._to_lonlat = Transformer.from_crs(local, "EPSG:4326", always_xy=True)
        self.outline = self.metres(outline)
        self.river = None if city.river is None else self.metres(city.river)
        self.avenue = None if city.avenue is None else self.metres(city.avenue)

    def metres(self, geometry: shapely.Geometry | np.ndarray) -> shapely.Geometry | np.ndarray:
        return shapely.transform(geometry, lambda xy: np.column_stack(self._to_metres.transform(xy[:, 0], xy[:, 1])))

    def lonlat(self, xy: np.ndarray) -> np.ndarray:
        return np.column_stack(self._to_lonlat.transform(xy[:, 0], xy[:, 1]))


class _Site(NamedTuple):
    """A building laid out in a cell, before it has an address."""

    x: float
    y: float
    kind: int
    floors: int
    units: int
    dwellings: int


@dataclass
class _Stock:
    """Buildings and their dwellings: parallel arrays, buildings in the order of their refs."""

    xy: np.ndarray  # building points, metres
    kind: np.ndarray
    floors: np.ndarray
    units: np.ndarray
    address: list[str]
    cell: np.ndarray  # index into city.grid
    quota: np.ndarray  # households wanted per cell
    empty_cells: list[int]
    dwelling_building: np.ndarray
    dwelling_unit: np.ndarray  # 0 for a courtyard house
    dwelling_room: np.ndarray  # floor * 100 + door; 0 for a courtyard house


def _build_stock(rng: np.random.Generator, city: DemoCity, frame: _Frame, households: int) -> _Stock:
    cells = frame.metres(np.array([unit.geometry for unit in city.grid], dtype=object))
    usable = shapely.buffer(cells, -_EDGE_MARGIN)
    if frame.river is not None:
        usable = shapely.difference(usable, shapely.buffer(frame.river, _RIVER_MARGIN))
    usable_area = shapely.area(usable)

    parks = set(city.parks)
    is_park = np.array([unit.code in parks for unit in city.grid])
    candidates = np.flatnonzero(~is_park & (usable_area >= _MIN_USABLE_AREA))
    n_empty = round(_EMPTY_CELL_SHARE * len(candidates)) if len(candidates) > 1 else 0
    empty = np.sort(rng.choice(candidates, n_empty, replace=False)) if n_empty else np.array([], dtype=np.int64)
    residential = np.setdiff1d(candidates, empty)
    if residential.size == 0:
        raise ValueError("the city has no cell with room for homes")

    community_index = {unit.code: index for index, unit in enumerate(city.community)}
    community_of = np.array([community_index[unit.parent_code] for unit in city.grid])
    is_old = rng.random(len(city.community)) < _OLD_COMMUNITY_SHARE
    is_named = rng.random(len(city.community)) < _NAMED_COMMUNITY_SHARE

    centroids = shapely.get_coordinates(shapely.centroid(cells))
    distance = np.hypot(*centroids.T)
    relative = distance / distance[residential].max()
    if frame.avenue is not None:
        by_avenue = shapely.distance(shapely.points(centroids), frame.avenue) < _AVENUE_REACH
    else:
        by_avenue = np.zeros(len(cells), dtype=bool)
    old = is_old[community_of]

    density = 0.3 + 1.7 * np.exp(-((relative / 0.5) ** 2))
    density *= np.where(by_avenue, 1.5, 1.0) * np.where(old, 0.8, 1.0)
    quota = np.zeros(len(cells), dtype=np.int64)
    quota[residential] = _largest_remainder(usable_area[residential] * density[residential], households)

    tower = np.clip(1.0 - 1.3 * relative, 0.03, 0.85)
    tower = np.where(by_avenue, np.maximum(tower, 0.7), tower)
    tower = np.where(old, 0.15 * tower, tower)
    courtyard = np.clip(1.2 * relative - 0.2, 0.05, 0.8)
    courtyard = np.where(old, np.maximum(courtyard, 0.5), courtyard)
    kind_shares = np.column_stack([tower, (1 - tower) * (1 - courtyard), (1 - tower) * courtyard])

    names = _StreetNames(rng, city)
    sites: list[_Site] = []
    address: list[str] = []
    cell_of: list[int] = []
    for cell in residential.tolist():
        laid_out = _lay_out(rng, usable[cell], kind_shares[cell], math.ceil(quota[cell] / _OCCUPANCY))
        # Numbered north to south, then west to east, as someone walking the block would count them.
        laid_out.sort(key=lambda site: (-round(site.y / 30.0), site.x))
        if laid_out:
            community = int(community_of[cell])
            address += names.addresses(rng, laid_out, community, bool(is_named[community]))
            sites += laid_out
            cell_of += [cell] * len(laid_out)

    building_of_dwelling, unit_of_dwelling, room_of_dwelling = [], [], []
    for building, site in enumerate(sites):
        if site.kind == _COURTYARD:
            building_of_dwelling += [building] * site.dwellings
            unit_of_dwelling += [0] * site.dwellings
            room_of_dwelling += [0] * site.dwellings
            continue
        doors = site.dwellings // (site.floors * site.units)
        for unit in range(1, site.units + 1):
            for floor in range(1, site.floors + 1):
                building_of_dwelling += [building] * doors
                unit_of_dwelling += [unit] * doors
                room_of_dwelling += [floor * 100 + door for door in range(1, doors + 1)]
    return _Stock(
        xy=np.array([(site.x, site.y) for site in sites], dtype=float).reshape(-1, 2),
        kind=np.array([site.kind for site in sites], dtype=np.int64),
        floors=np.array([site.floors for site in sites], dtype=np.int64),
        units=np.array([site.units for site in sites], dtype=np.int64),
        address=address,
        cell=np.array(cell_of, dtype=np.int64),
        quota=quota,
        empty_cells=empty.tolist(),
        dwelling_building=np.array(building_of_dwelling, dtype=np.int64),
        dwelling_unit=np.array(unit_of_dwelling, dtype=np.int64),
        dwelling_room=np.array(room_of_dwelling, dtype=np.int64),
    )


def _largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to weights that add up to total."""
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:short]] += 1
    return counts


def _lay_out(rng: np.random.Generator, area, kind_shares: np.ndarray, dwellings_wanted: int) -> list[_Site]:
    """Buildings at random sites of one cell, kept apart, until they hold the dwellings wanted or the cell is full."""
    if dwellings_wanted <= 0:
        return []
    x0, y0, x1, y1 = shapely.bounds(area)
    candidates = rng.uniform((x0, y0), (x1, y1), (_CANDIDATE_SITES, 2))
    candidates = candidates[shapely.contains_xy(area, candidates[:, 0], candidates[:, 1])]
    # Blocks are built in one style mostly: a hutong quarter, an estate of walk-ups, a compound of towers.
    shares = kind_shares / kind_shares.sum()
    dominant = rng.choice(3, p=shares)
    kinds = np.where(
        rng.random(len(candidates)) < _DOMINANT_KIND_SHARE, dominant, rng.choice(3, size=len(candidates), p=shares)
    ).tolist()
    shape = rng.random((len(candidates), 3)).tolist()

    sites: list[_Site] = []
    held = 0
    for x, y in candidates.tolist():
        if held >= dwellings_wanted:
            break
        kind = kinds[len(sites)]
        radius = _BUILDING_RADIUS[kind]
        if any((x - o.x) ** 2 + (y - o.y) ** 2 < (radius + _BUILDING_RADIUS[o.kind]) ** 2 for o in sites):
            continue
        a, b, c = shape[len(sites)]
        if kind == _TOWER:
            floors, units, doors = 10 + int(a * 21), 2 + int(b * 5), 2
            dwellings = floors * units * doors
        elif kind == _WALK_UP:
            floors, units, doors = 5 + int(a * 2), 2 + int(b * 5), 2
            dwellings = floors * units * doors
        else:
            # A courtyard shared by a few families, as most are now.
            floors, units, dwellings = 1, 1, 2 + int(c * 5)
        sites.append(_Site(x, y, kind, floors, units, dwellings))
        held += dwellings
    return sites


class _StreetNames:
    """Addresses: compounds on made-up roads or named after their community, and hutongs of courtyards."""

    def __init__(self, rng: np.random.Generator, city: DemoCity):
        roads = [a + b for a in _ROAD_FIRST for b in _ROAD_SECOND if a != b]
        self._roads = _Names(rng, roads, _ROAD_VARIANTS)
        hutongs = [prefix + word for prefix in _HUTONG_PREFIXES for word in _HUTONG_WORDS]
        self._hutongs = _Names(rng, hutongs, _HUTONG_VARIANTS)
        self._community_names = [unit.name.removesuffix("社区") for unit in city.community]
        self._community_roads: dict[int, list[str]] = {}
        self._next_number: dict[str, int] = {}
        self._buildings_in_community: dict[int, int] = {}

    def addresses(self, rng: np.random.Generator, sites: list[_Site], community: int, named: bool) -> list[str]:
        """One address per site of one cell, numbered in the order given."""
        apartments = [index for index, site in enumerate(sites) if site.kind != _COURTYARD]
        courtyards = [index for index, site in enumerate(sites) if site.kind == _COURTYARD]
        address = [""] * len(sites)
        if apartments:
            if named:
                first = self._buildings_in_community.get(community, 0)
                prefix = self._community_names[community]
                for offset, index in enumerate(apartments, start=1):
                    address[index] = f"{prefix}{first + offset}号楼"
                self._buildings_in_community[community] = first + len(apartments)
            else:
                if community not in self._community_roads:
                    self._community_roads[community] = [self._roads.take() for _ in range(3)]
                road = self._community_roads[community][int(rng.integers(3))]
                number = self._number(rng, road)
                for position, index in enumerate(apartments, start=1):
                    address[index] = f"{road}路{number}号院{position}号楼"
        # A long row of courtyards lines two hutongs.
        for start in range(0, len(courtyards), 24):
            hutong = self._hutongs.take()
            for index in courtyards[start : start + 24]:
                address[index] = f"{hutong}胡同{self._number(rng, hutong)}号"
        return address

    def _number(self, rng: np.random.Generator, street: str) -> int:
        number = self._next_number.get(street, 0) + int(rng.integers(1, 4))
        self._next_number[street] = number
        return number


class _Names:
    """Names drawn without repetition from a shuffled pool; past its end, the pool again with a variant."""

    def __init__(self, rng: np.random.Generator, pool: list[str], variants: Sequence[str]):
        self._pool = [pool[index] for index in rng.permutation(len(pool))]
        self._variants = variants
        self._taken = 0

    def take(self) -> str:
        round_, index = divmod(self._taken, len(self._pool))
        self._taken += 1
        variant = self._variants[round_] if round_ < len(self._variants) else f"{round_}"
        return self._pool[index] + variant


def _occupy(rng: np.random.Generator, stock: _Stock, households: int) -> np.ndarray:
    """
    The dwelling of every household, in dwelling order: each cell fills its quota from its own dwellings
    first, and any household a full cell cannot take moves into a free dwelling elsewhere.
    """
    if len(stock.dwelling_building) < households:
        raise ValueError(f"the city has room for {len(stock.dwelling_building)} households, not {households}")
    cell_of_dwelling = stock.cell[stock.dwelling_building]
    priority = rng.random(len(cell_of_dwelling))
    order = np.lexsort((priority, cell_of_dwelling))
    cells, first, per_cell = np.unique(cell_of_dwelling[order], return_index=True, return_counts=True)
    rank = np.arange(len(order)) - np.repeat(first, per_cell)
    wanted = np.minimum(stock.quota[cells], per_cell)
    taken = np.zeros(len(order), dtype=bool)
    taken[order[rank < np.repeat(wanted, per_cell)]] = True
    left = households - int(taken.sum())
    if left:
        free = np.flatnonzero(~taken)
        taken[free[np.argsort(priority[free], kind="stable")[:left]]] = True
    return np.flatnonzero(taken)


@dataclass
class _People:
    """Residents as parallel arrays, grouped by household in order; the head comes first."""

    household: np.ndarray
    relation: np.ndarray
    male: np.ndarray
    age: np.ndarray
    surname: np.ndarray  # index into _SURNAMES
    size: np.ndarray  # per household


# Age bands (first age, last age, weight) from which the head of each kind of household is drawn.
_SINGLE_AGES = ((20, 29, 22), (30, 39, 20), (40, 49, 9), (50, 59, 9), (60, 69, 13), (70, 79, 14), (80, 96, 13))
_COUPLE_AGES = ((22, 29, 7), (30, 39, 12), (40, 49, 11), (50, 59, 20), (60, 69, 26), (70, 79, 16), (80, 93, 8))
_PARENT_OF_ADULT_AGES = ((45, 59, 3), (60, 74, 4), (75, 88, 3))
_YOUNG_FAMILY_AGES = ((26, 34, 30), (35, 44, 40), (45, 58, 30))
_WITH_PARENTS_AGES = ((26, 39, 45), (40, 52, 40), (53, 62, 15))
_GRANDPARENT_AGES = ((55, 64, 55), (65, 76, 45))
_THREE_GENERATION_AGES = ((50, 59, 35), (60, 69, 45), (70, 78, 20))


def _compose_households(rng: np.random.Generator, households: int) -> _People:
    """Sizes, then for each household a composition of that size with ages that fit together."""
    sizes = rng.choice(np.array(_HOUSEHOLD_SIZES), households, p=np.array(_SIZE_SHARES))
    draws = rng.random((households, 32)).tolist()
    surname_weights = np.array(list(_SURNAMES.values()), dtype=float)
    surnames = rng.choice(len(_SURNAMES), (households, 6), p=surname_weights / surname_weights.sum()).tolist()

    household, relation, male, age, surname = [], [], [], [], []
    for index, (size, row, family_names) in enumerate(zip(sizes.tolist(), draws, surnames, strict=True)):
        members = _Household(row, family_names)
        members.compose(size)
        household += [index] * len(members.relation)
        relation += members.relation
        male += members.male
        age += members.age
        surname += members.surname
    return _People(
        household=np.array(household, dtype=np.int64),
        relation=np.array(relation, dtype=np.int64),
        male=np.array(male, dtype=bool),
        age=np.array(age, dtype=np.int64),
        surname=np.array(surname, dtype=np.int64),
        size=sizes.astype(np.int64),
    )


class _Household:
    """
    One household's members, drawn from a row of uniform numbers. The family name passes down the male
    line: children carry their father's, a woman keeps her own.
    """

    def __init__(self, draws: list[float], family_names: list[int]):
        self._draw: Callable[[], float] = iter(draws).__next__
        self._family = family_names[0]
        self._own_names = iter(family_names[1:]).__next__
        self.relation: list[int] = []
        self.male: list[bool] = []
        self.age: list[int] = []
        self.surname: list[int] = []

    def compose(self, size: int) -> None:
        kind = self._draw()
        if size == 1:
            head = self._band(_SINGLE_AGES)
            self._head(head, self._draw() < (0.5 if head < 60 else 0.38))
        elif size == 2:
            if kind < 0.62:
                self._couple(self._band(_COUPLE_AGES))
            elif kind < 0.82:
                head = self._band(_PARENT_OF_ADULT_AGES)
                self._head(head, self._draw() < 0.4)
                self._child(head, oldest_gap=min(38, head - 18))
            elif kind < 0.88:
                head = self._between(28, 50)
                self._head(head, self._draw() < 0.3)
                self._child(head)
            elif kind < 0.94:
                head = self._between(25, 60)
                self._head(head, self._draw() < 0.5)
                self._parent(head, male=self._draw() < 0.4)
            elif kind < 0.97:
                head = self._between(20, 70)
                self._head(head, self._draw() < 0.5)
                self._member(_SIBLING, self._draw() < 0.5, max(16, head + self._between(-12, 12)), self.surname[0])
            else:
                self._head(self._between(20, 40), self._draw() < 0.5)
                self._member(_OTHER, self._draw() < 0.5, self._between(20, 40), self._own_names())
        elif size == 3:
            if kind < 0.74:
                head = self._band(_YOUNG_FAMILY_AGES)
                self._couple(head)
                self._child(head)
            elif kind < 0.84:
                head = self._band(_WITH_PARENTS_AGES)
                self._couple(head)
                self._parent(head, male=self._draw() < 0.4)
            elif kind < 0.90:
                head = self._between(28, 50)
                self._head(head, self._draw() < 0.3)
                self._child(head)
                self._parent(head, male=self._draw() < 0.4)
            elif kind < 0.96:
                self._couple(self._band(_GRANDPARENT_AGES))
                self._grandchild(self._family)
            else:
                head = self._between(25, 50)
                self._couple(head)
                self._member(_SIBLING, self._draw() < 0.5, max(18, head + self._between(-10, 10)), self.surname[0])
        elif size == 4:
            if kind < 0.52:
                head = self._band(_YOUNG_FAMILY_AGES)
                self._couple(head)
                self._child(head)
                self._child(head)
            elif kind < 0.85:
                head = self._band(_WITH_PARENTS_AGES)
                self._couple(head)
                self._child(head)
                self._parent(head, male=self._draw() < 0.4)
            elif kind < 0.90:
                self._couple(self._band(_GRANDPARENT_AGES))
                self._grandchild(self._family)
                self._grandchild(self._family)
            else:
                head = self._band(_YOUNG_FAMILY_AGES)
                self._couple(head)
                self._child(head)
                # A live-in relative or carer.
                self._member(_OTHER, self._draw() < 0.2, self._between(30, 65), self._own_names())
        else:
            if kind < (0.45 if size == 5 else 0.5):
                head = self._band(_WITH_PARENTS_AGES)
                self._couple(head)
                for _ in range(size - 4):
                    self._child(head)
                self._parents(head)
            elif size == 5 and kind < 0.55:
                head = self._between(32, 55)
                self._couple(head)
                for _ in range(3):
                    self._child(head)
            else:
                self._three_generations(self._band(_THREE_GENERATION_AGES), grandchildren=size - 4)

    def _between(self, low: int, high: int) -> int:
        return low + int(self._draw() * (high - low + 1))

    def _band(self, bands: tuple[tuple[int, int, int], ...]) -> int:
        cumulative = list(accumulate(weight for _, _, weight in bands))
        low, high, _ = bands[bisect_right(cumulative, self._draw() * cumulative[-1])]
        return self._between(low, high)

    def _member(self, relation: int, male: bool, age: int, surname: int) -> None:
        self.relation.append(relation)
        self.male.append(male)
        self.age.append(min(100, max(0, age)))
        self.surname.append(surname)

    def _head(self, age: int, male: bool) -> None:
        self._member(_HEAD, male, age, self._family if male else self._own_names())

    def _couple(self, head: int) -> None:
        male = self._draw() < 0.85
        self._head(head, male)
        # Husbands are about two years older than their wives.
        gap = self._between(-2, 6) * (1 if male else -1)
        spouse = min(100, max(20, head - gap))
        self._member(_SPOUSE, not male, spouse, self._own_names() if male else self._family)

    def _child(self, parent: int, oldest_gap: int = 38) -> int:
        age = parent - self._between(22, max(22, min(oldest_gap, parent)))
        self._member(_CHILD, self._draw() < 0.515, age, self._family)
        return age

    def _parent(self, head: int, male: bool) -> None:
        age = head + self._between(22, min(38, 100 - head))
        self._member(_PARENT, male, age, self.surname[0] if male else self._own_names())

    def _parents(self, head: int) -> None:
        father = head + self._between(22, min(38, 100 - head))
        mother = min(head + 38, max(head + 21, father - self._between(-1, 5)))
        self._member(_PARENT, True, father, self.surname[0])
        self._member(_PARENT, False, mother, self._own_names())

    def _grandchild(self, surname: int) -> None:
        self._member(_GRANDCHILD, self._draw() < 0.515, self._between(0, 14), surname)

    def _three_generations(self, head: int, grandchildren: int) -> None:
        """An older couple, a grown child with their spouse (其他), and grandchildren."""
        self._couple(head)
        child_male = self._draw() < 0.6
        child = head - self._between(22, min(38, head - 22))
        self._member(_CHILD, child_male, child, self._family)
        in_law_surname = self._own_names()
        in_law = max(20, child + self._between(-2, 6) * (1 if not child_male else -1))
        self._member(_OTHER, not child_male, in_law, in_law_surname)
        younger_parent = min(child, in_law)
        surname = self._family if child_male else in_law_surname
        for _ in range(grandchildren):
            age = younger_parent - self._between(22, max(22, min(36, younger_parent)))
            self._member(_GRANDCHILD, self._draw() < 0.515, age, surname)


def _assemble(
    rng: np.random.Generator,
    seed: int,
    city: DemoCity,
    frame: _Frame,
    stock: _Stock,
    dwelling_of: np.ndarray,
    people: _People,
) -> DemoPopulation:
    """Statuses, tags, names, ID and phone numbers, points; then the rows of the files."""
    n_households, n_residents = len(people.size), len(people.age)
    household = people.household
    head_of = np.searchsorted(household, np.arange(n_households))  # the head is each household's first member
    head_age = people.age[head_of]

    # Floating households are mostly young; the weights are scaled so they hold the wanted share of residents.
    weight = np.select([head_age < 40, head_age < 60], [2.0, 1.0], 0.3)
    chance = weight * _FLOATING_SHARE * n_residents / (weight * people.size).sum()
    floating_household = rng.random(n_households) < chance
    status = np.where(floating_household[household], _FLOATING, _REGISTERED)
    working_age = (status == _REGISTERED) & (people.age >= 18) & (people.age <= 59)
    away_chance = min(0.5, _AWAY_SHARE * n_residents / max(1, working_age.sum()))
    status[working_age & (rng.random(n_residents) < away_chance)] = _AWAY

    housing = _housing_types(rng, floating_household, people.size)
    source = rng.choice(len(SOURCES), n_households, p=np.array(_SOURCE_SHARES))

    household_tags = _household_tags(people, housing)
    resident_tags = _resident_tags(rng, people, status, floating_household)

    birth = _birth_dates(rng, people.age)
    id_numbers = _id_numbers(rng, people, birth, floating_household)
    phones = _phones(rng, people.age)
    names = _names(rng, people, birth)

    # Households live in dwelling order, so their numbers rise through each building.
    gap = max(1, min(99, 8_999_999 // n_households))
    numbers = 1_000_000 + np.cumsum(rng.integers(1, gap + 1, n_households))
    household_refs = [f"H{number:07d}" for number in numbers.tolist()]

    building = stock.dwelling_building[dwelling_of]
    unit = stock.dwelling_unit[dwelling_of]
    room = stock.dwelling_room[dwelling_of]
    angle = rng.uniform(0.0, 2 * math.pi, n_households)
    radius = _JITTER * np.sqrt(rng.random(n_households)) * 0.999
    points = stock.xy[building] + radius[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])

    rows_per_household = people.size
    ungeocoded = _pick_ungeocoded(rng, stock.kind[building], rows_per_household)
    outside_candidates = np.setdiff1d(np.arange(n_households), ungeocoded)
    n_outside = min(OUTSIDE_HOUSEHOLDS, len(outside_candidates))
    outside = np.sort(rng.choice(outside_candidates, n_outside, replace=False))
    points[outside] = _points_outside(rng, frame, n_outside)
    lonlat = np.round(frame.lonlat(points), 7)
    building_lonlat = np.round(frame.lonlat(stock.xy), 7)
    refs = [f"B{index + 1:05d}" for index in range(len(stock.xy))]

    missing_point = np.zeros(n_households, dtype=bool)
    missing_point[ungeocoded] = True
    household_fields = []
    for index in range(n_households):
        b, u, r = int(building[index]), int(unit[index]), int(room[index])
        apartment = stock.kind[b] != _COURTYARD
        if missing_point[index]:
            # Only the building's address, as a clerk may have written it: geocoding places it there.
            address, lon, lat = stock.address[b], "", ""
        else:
            address = f"{stock.address[b]}{u}单元{r}" if apartment else stock.address[b]
            lon, lat = f"{lonlat[index, 0]:.7f}", f"{lonlat[index, 1]:.7f}"
        household_fields.append(
            (
                household_refs[index],
                address,
                refs[b],
                str(u) if apartment else "",
                str(r) if apartment else "",
                lon,
                lat,
                HOUSING_TYPES[housing[index]],
                household_tags[index],
                SOURCES[source[index]],
            )
        )
    genders = np.where(people.male, "男", "女")
    birth_text = np.datetime_as_string(birth, unit="D").tolist()
    rows = [
        household_fields[h] + (name, id_number, phone, gender, born, RELATIONS[rel], STATUSES[st], tags)
        for h, name, id_number, phone, gender, born, rel, st, tags in zip(
            household.tolist(),
            names,
            id_numbers,
            phones,
            genders.tolist(),
            birth_text,
            people.relation.tolist(),
            status.tolist(),
            resident_tags,
            strict=True,
        )
    ]
    buildings = [
        DemoBuilding(
            ref=refs[index],
            address=stock.address[index],
            lon=float(building_lonlat[index, 0]),
            lat=float(building_lonlat[index, 1]),
            floors=int(stock.floors[index]),
            units=int(stock.units[index]),
            kind=("tower", "walk_up", "courtyard")[int(stock.kind[index])],
            grid_code=city.grid[int(stock.cell[index])].code,
        )
        for index in range(len(stock.xy))
    ]
    return DemoPopulation(
        seed=seed,
        buildings=buildings,
        rows=rows,
        outside=tuple(household_refs[index] for index in outside.tolist()),
        ungeocoded=tuple(household_refs[index] for index in np.sort(ungeocoded).tolist()),
        empty_cells=tuple(city.grid[index].code for index in stock.empty_cells),
    )


def _housing_types(rng: np.random.Generator, floating: np.ndarray, size: np.ndarray) -> np.ndarray:
    """
    About 65% owned, 30% rented, 5% collective (dormitories, so only people living alone or in twos);
    floating households rent far more often than registered ones.
    """
    n = len(floating)
    small = size <= 2
    collective_floating = 0.2
    collective_registered = max(0.0, 0.05 * n - collective_floating * (small & floating).sum())
    collective_registered /= max(1, (small & ~floating).sum())
    collective = np.where(small, np.where(floating, collective_floating, collective_registered), 0.0)
    rented_floating = 0.82 * (1 - collective)
    rented_left = 0.30 * n - (floating * rented_floating).sum()
    rented_registered = rented_left / max(1e-9, ((1 - collective) * ~floating).sum())
    rented = np.where(floating, rented_floating, np.clip(rented_registered, 0.0, 1.0) * (1 - collective))
    draw = rng.random(n)
    return np.select([draw < collective, draw < collective + rented], [_COLLECTIVE, _RENTED], _OWNED)


def _household_tags(people: _People, housing: np.ndarray) -> list[str]:
    household = people.household
    n = len(people.size)
    younger = np.bincount(household, weights=people.age < 60, minlength=n)
    descendants = np.bincount(household, weights=np.isin(people.relation, (_CHILD, _GRANDCHILD)), minlength=n)
    empty_nest = (younger == 0) & (descendants == 0)
    rented_out = housing == _RENTED
    return [
        ";".join(tag for tag, applies in zip(HOUSEHOLD_TAGS, flags, strict=True) if applies)
        for flags in zip(rented_out.tolist(), empty_nest.tolist(), strict=True)
    ]


def _resident_tags(rng: np.random.Generator, people: _People, status: np.ndarray, floating: np.ndarray) -> list[str]:
    household, age, relation = people.household, people.age, people.relation
    n, n_households = len(age), len(people.size)
    tags = {}
    tags["elderly_alone"] = (people.size[household] == 1) & (age >= 70)

    # Disability grows with age.
    tags["disabled"] = _choose(rng, round(0.02 * n), 1.0 + age / 25.0)

    # The minimum living allowance goes to registered households, whole households at a time.
    low_income = np.zeros(n_households, dtype=bool)
    eligible = np.flatnonzero(~floating)
    order = eligible[rng.permutation(len(eligible))]
    taken = np.cumsum(people.size[order]) <= round(0.03 * n)
    low_income[order[taken]] = True
    tags["low_income"] = low_income[household]

    # A child is left behind when every parent living in the household is away, or none lives there.
    present = status != _AWAY
    parents_here = np.bincount(household, weights=np.isin(relation, (_HEAD, _SPOUSE)) & present, minlength=n_households)
    middle_here = np.bincount(household, weights=np.isin(relation, (_CHILD, _OTHER)) & present, minlength=n_households)
    young = age < 16
    tags["left_behind_child"] = young & (
        ((relation == _CHILD) & (parents_here[household] == 0))
        | ((relation == _GRANDCHILD) & (middle_here[household] == 0))
    )

    men_over_35 = people.male & (age > 35)
    tags["veteran"] = _choose(rng, round(0.015 * men_over_35.sum()), men_over_35.astype(float))
    adults = age >= 18
    tags["key_person"] = _choose(rng, round(0.005 * n), adults.astype(float))
    columns = [tags[tag].tolist() for tag in RESIDENT_TAGS]
    return [
        ";".join(tag for tag, applies in zip(RESIDENT_TAGS, flags, strict=True) if applies)
        for flags in zip(*columns, strict=True)
    ]


def _choose(rng: np.random.Generator, count: int, weights: np.ndarray) -> np.ndarray:
    chosen = np.zeros(len(weights), dtype=bool)
    count = min(count, int((weights > 0).sum()))
    if count:
        chosen[rng.choice(len(weights), count, replace=False, p=weights / weights.sum())] = True
    return chosen


def _birth_dates(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    """A day after the birthday one year before each person's last one, so the age on REFERENCE_DATE is exact."""
    first_year = REFERENCE_DATE.year - int(age.max()) - 1
    anniversaries = np.array(
        [REFERENCE_DATE.replace(year=year).isoformat() for year in range(first_year, REFERENCE_DATE.year + 1)],
        dtype="datetime64[D]",
    )
    last = anniversaries[REFERENCE_DATE.year - age - first_year]
    span = (last - anniversaries[REFERENCE_DATE.year - age - 1 - first_year]).astype(np.int64)
    return last - (rng.random(len(age)) * span).astype(np.int64)


def _id_numbers(rng: np.random.Generator, people: _People, birth: np.ndarray, floating: np.ndarray) -> list[str]:
    """GB 11643 numbers: birthplace, birth date, a sequence odd for men and even for women, check character."""
    n = len(birth)
    elsewhere = list(_REGIONS_ELSEWHERE)
    elsewhere_weights = np.array(list(_REGIONS_ELSEWHERE.values()), dtype=float)
    elsewhere_weights /= elsewhere_weights.sum()
    # A floating household mostly comes from one place.
    home_of_household = rng.choice(len(elsewhere), len(people.size), p=elsewhere_weights)
    own_home = rng.choice(len(elsewhere), n, p=elsewhere_weights)
    draw = rng.random(n)
    beijing = rng.integers(len(_REGIONS_BEIJING), size=n)
    regions = np.array([int(_REGION_HERE)] + [int(code) for code in _REGIONS_BEIJING] + [int(c) for c in elsewhere])
    from_here = 0
    from_beijing = 1 + beijing
    from_elsewhere_household = 1 + len(_REGIONS_BEIJING) + home_of_household[people.household]
    from_elsewhere_own = 1 + len(_REGIONS_BEIJING) + own_home
    region = np.where(
        floating[people.household],
        np.where(draw < 0.85, from_elsewhere_household, from_elsewhere_own),
        np.select([draw < 0.85, draw < 0.95], [from_here, from_beijing], from_elsewhere_own),
    )
    born = np.char.replace(np.datetime_as_string(birth, unit="D"), "-", "").astype(np.int64)
    base = regions[region] * 10**11 + born * 1_000
    male = people.male.astype(np.int64)

    keys = np.zeros(n, dtype=np.int64)
    pending = np.arange(n)
    while pending.size:
        # Two digits for the police station, then one odd for a man and even for a woman.
        sequence = rng.integers(100, size=pending.size) * 10 + 2 * rng.integers(5, size=pending.size) + male[pending]
        keys[pending] = base[pending] + sequence
        pending = _duplicates(keys)
    digits = (keys[:, None] // 10 ** np.arange(16, -1, -1)) % 10
    check = (digits @ _ID_WEIGHTS) % 11
    return [f"{key:017d}{_ID_CHECK[c]}" for key, c in zip(keys.tolist(), check.tolist(), strict=True)]


def _duplicates(keys: np.ndarray) -> np.ndarray:
    """Indices of every key equal to an earlier one, to draw again."""
    order = np.argsort(keys, kind="stable")
    repeated = np.zeros(len(keys), dtype=bool)
    repeated[order[1:]] = keys[order[1:]] == keys[order[:-1]]
    return np.flatnonzero(repeated)


def _phones(rng: np.random.Generator, age: np.ndarray) -> list[str]:
    """Unique mobile numbers; none for young children and for a share of the others."""
    n = len(age)
    prefixes = np.array(_PHONE_PREFIXES, dtype=np.int64)
    numbers = np.zeros(n, dtype=np.int64)
    pending = np.arange(n)
    while pending.size:
        numbers[pending] = prefixes[rng.integers(len(prefixes), size=pending.size)] * 10**8 + rng.integers(
            10**8, size=pending.size
        )
        pending = _duplicates(numbers)
    child = age < _CHILD_WITHOUT_PHONE
    others_missing = max(0.0, (_PHONE_MISSING_SHARE * n - child.sum()) / max(1, (~child).sum()))
    missing = child | (rng.random(n) < others_missing)
    return ["" if gone else str(number) for number, gone in zip(numbers.tolist(), missing.tolist(), strict=True)]


def _names(rng: np.random.Generator, people: _People, birth: np.ndarray) -> list[str]:
    n = len(birth)
    year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    era = np.searchsorted(np.array(_GIVEN_NAME_ERAS), year, side="right")
    single = rng.random(n) < np.array(_SINGLE_CHARACTER_SHARE)[era]
    first, second = rng.random(n), rng.random(n)
    surnames = list(_SURNAMES)
    names = []
    for surname, male, person_era, one, a, b in zip(
        people.surname.tolist(),
        people.male.tolist(),
        era.tolist(),
        single.tolist(),
        first.tolist(),
        second.tolist(),
        strict=True,
    ):
        pool = _GIVEN_NAMES[(male, person_era)]
        given = pool[int(a * len(pool))]
        if not one:
            given += pool[int(b * len(pool))]
        names.append(surnames[surname] + given)
    return names


def _pick_ungeocoded(rng: np.random.Generator, kind: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """
    Households left without coordinates, about _GEOCODED_SHARE of the rows: in courtyard houses, whose
    address is the building's own, unless there are too few of those.
    """
    wanted = max(1, round(_GEOCODED_SHARE * rows.sum()))
    courtyard = np.flatnonzero(kind == _COURTYARD)
    apartment = np.flatnonzero(kind != _COURTYARD)
    order = np.concatenate([courtyard[rng.permutation(len(courtyard))], apartment[rng.permutation(len(apartment))]])
    enough = int(np.searchsorted(np.cumsum(rows[order]), wanted)) + 1
    return np.sort(order[:enough])


def _points_outside(rng: np.random.Generator, frame: _Frame, count: int) -> np.ndarray:
    """Points a few hundred metres beyond the city outline, off its centre's side of each point on it."""
    boundary = frame.outline.boundary
    found: list[tuple[float, float]] = []
    while len(found) < count:
        on_outline = shapely.line_interpolate_point(boundary, rng.random(count) * boundary.length)
        xy = shapely.get_coordinates(on_outline)
        outward = xy / np.hypot(*xy.T)[:, None]
        candidates = xy + outward * rng.uniform(200.0, 500.0, count)[:, None]
        far = shapely.distance(shapely.points(candidates), frame.outline) >= 150.0
        found += [tuple(point) for point in candidates[far].tolist()]
    return np.array(found[:count]).reshape(-1, 2)
