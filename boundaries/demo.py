"""Deterministic demo city: a five-level grid hierarchy cut from a synthetic street network."""

from __future__ import annotations

import dataclasses
import heapq
import math
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import LineString, MultiPolygon, Polygon

from boundaries.coding import reading_order

LEVELS = ("city", "district", "street", "community", "grid")

GRIDS_PER_COMMUNITY = 15
COMMUNITIES_PER_STREET = 6
MAX_STREETS = 99

# The synthetic street network, in metres.
_BLOCK_SPACING = (135.0, 175.0)  # mean lattice spacing, drawn per axis: one cell is a 2-3 ha city block
_SPACING_SPREAD = 0.25  # each row and column of blocks is up to this much wider or narrower than the mean
_NODE_JITTER = 0.12  # share of the mean spacing; with the spread above, neighbouring roads never cross
_EDGE_WOBBLE = 2.5  # sd in metres of the vertices between two crossings, so shared edges are not straight
_MERGED_BLOCK_SHARE = 0.2  # blocks joined with a neighbour by dropping the road between them
_PARK_EVERY = 300  # grid cells per 2x2-block park
_MIN_CELL_AREA = 9_000.0  # m2; fragments cut off by the river or the avenue below this join a neighbour
_SHARED_EDGE = 1.0  # m of common boundary for two units to count as neighbours (a shared corner does not)
_PENINSULA = 0.3  # a border block sharing less of its perimeter with the city is left out ...
_BAY = 0.6  # ... and an outside block sharing more is taken in, to smooth the outline
_SMOOTHED_FROM = 100  # grid cells; in a smaller city nearly every block is a border block

# Clustering runs on (x, y, bank * this): the offset dwarfs any distance inside a city, so no community
# or street spans the river, while distances on one bank are left as they are.
_RIVER_BANK_SEPARATION = 1e5

# Shapefile headers carry a "last update" date; a fixed one keeps files from the same city byte-identical.
_DBF_DATE = "2024-06-01"
_SHAPEFILE_CRS = "EPSG:4490"  # CGCS2000, numerically the same as WGS 84 at this precision
_DECIMALS = 7  # about 1 cm

_CITY_NAMES = ("京州市", "江州市", "临州市", "云州市", "海州市", "宁州市", "青州市", "安州市")
_DISTRICT_NAMES = ("东华区", "西城区", "南湖区", "北辰区", "中山区", "新华区", "和平区", "长安区")
_PLACE_WORDS = (
    "和平", "安定", "建国", "朝阳", "东直", "永安", "光明", "新华", "德胜", "长春",
    "龙潭", "天桥", "景山", "东华", "交道", "北新", "崇文", "广安", "白纸", "月坛",
    "展览", "紫竹", "万寿", "双榆", "牡丹", "青龙", "永定", "太平", "东风", "团结",
)  # fmt: skip
_STREET_SUFFIXES = ("里", "门", "桥", "路", "街", "口", "湖", "园", "坊", "寺")
_COMMUNITY_FIRST = "青翠金银锦华春秋玉紫兴康和安宁瑞祥福丰嘉明清景泰永长新松柏梅兰竹菊桃杏枫荷苇芳绿"
_COMMUNITY_SECOND = "苑园里坊庭湾城府居村巷湖山林桥门街院台塘"
_COMMUNITY_QUARTERS = ("东里", "西里", "南里", "北里", "新村", "家园", "东街", "西街")
_ORDINALS = "二三四五六七八九"


@dataclass(frozen=True)
class DemoUnit:
    code: str
    name: str
    parent_code: str | None
    geometry: Polygon | MultiPolygon  # lon/lat, EPSG:4326 (= EPSG:4490 numerically)


@dataclass(frozen=True)
class DemoCity:
    seed: int
    city: list[DemoUnit]
    district: list[DemoUnit]
    street: list[DemoUnit]
    community: list[DemoUnit]
    grid: list[DemoUnit]
    parks: tuple[str, ...] = ()  # codes of the grid cells that are parks: no one lives there
    river: LineString | None = None  # centre line in lon/lat, clipped to the city
    avenue: LineString | None = None  # the main road across the city, likewise

    def units(self, level: str) -> list[DemoUnit]:
        """The units of one level ("city" ... "grid"), ordered by code."""
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
        return getattr(self, level)

    def counts(self) -> dict[str, int]:
        return {level: len(self.units(level)) for level in LEVELS}


@dataclass(frozen=True)
class _Course:
    """A smooth line across the whole city (the river, the avenue): sine waves along a rotated axis."""

    angle: float
    offset: float
    waves: np.ndarray  # rows of (wavelength, amplitude, phase)

    def line(self, reach: float) -> shapely.LineString:
        along = np.arange(-reach, reach, 20.0)
        return shapely.linestrings(_rotate(np.column_stack([along, self._across(along)]), self.angle))

    def side(self, xy: np.ndarray) -> np.ndarray:
        """0 or 1 for the side of the line each point lies on; exact, since the line is a graph over its axis."""
        along, across = _rotate(xy, -self.angle).T
        return (across > self._across(along)).astype(np.int64)

    def _across(self, along: np.ndarray) -> np.ndarray:
        wavelength, amplitude, phase = self.waves.T
        return self.offset + (amplitude * np.sin(2 * math.pi * along[:, None] / wavelength + phase)).sum(axis=1)


@dataclass(frozen=True)
class _Layout:
    """The random choices that shape one city, drawn up front in a fixed order."""

    spacing: tuple[float, float]
    lattice_angle: float
    semi_axes: tuple[float, float]  # of the city outline before its radial noise
    outline_angle: float
    outline_harmonics: np.ndarray  # rows of (order, amplitude, phase)
    warp: np.ndarray  # rows of (wave x, wave y, amplitude x, amplitude y, phase)
    parks: int
    river: _Course
    avenue: _Course

    @property
    def outline_noise(self) -> float:
        return float(self.outline_harmonics[:, 1].sum())

    @property
    def warp_reach(self) -> float:
        return float(np.hypot(self.warp[:, 2], self.warp[:, 3]).sum())


def build_demo_city(
    *,
    seed: int = 20240601,
    n_grids: int = 450,
    center: tuple[float, float] = (116.40, 39.91),
    city_code: str = "110100",
    district_code: str = "110101",
) -> DemoCity:
    """
    A believable city of about `n_grids` grid cells around `center` (lon, lat), the same for the same seed.

    Grid cells are the blocks of a curving street network cut by a river; communities and streets group
    neighbouring blocks, and every parent is the union of its children, so siblings tile their parent.
    """
    _check_codes(city_code, district_code)
    if n_grids < 1:
        raise ValueError(f"n_grids must be at least 1, got {n_grids}")
    rng = np.random.default_rng(seed)
    layout = _draw_layout(rng, n_grids)

    roads, courses, park_sites = _street_network(rng, layout)
    blocks = shapely.get_parts(shapely.polygonize(roads))
    bank = layout.river.side(shapely.get_coordinates(shapely.point_on_surface(blocks)))
    adjacency = _adjacency(blocks)
    blocks, bank, adjacency = _absorb_fragments(blocks, bank, adjacency)
    blocks, shift = _center_on_origin(blocks)
    park_sites, courses = park_sites - shift, shapely.transform(courses, lambda xy: xy - shift)

    in_city = _city_blocks(blocks, adjacency, layout, n_grids)
    blocks, bank, adjacency = blocks[in_city], bank[in_city], _subgraph(adjacency, in_city, len(blocks))
    # A park may have been cut by the river or left outside the city; the block under its centre stands for it.
    park_blocks = np.unique(
        [block for x, y in park_sites.tolist() for block in np.flatnonzero(shapely.contains_xy(blocks, x, y))]
    ).astype(np.int64)

    areas = shapely.area(blocks)
    block_points = shapely.get_coordinates(shapely.point_on_surface(blocks))
    n_communities = max(1, min(round(len(blocks) / GRIDS_PER_COMMUNITY), len(blocks)))
    community_of = _cluster(rng, block_points, bank, n_communities)
    community_of = _make_contiguous(community_of, adjacency, areas)

    community_points, community_bank = _group_points(community_of, block_points, bank, areas)
    community_adjacency = _quotient(adjacency, community_of)
    n_streets = max(1, min(round(len(community_points) / COMMUNITIES_PER_STREET), MAX_STREETS))
    street_of_community = _cluster(rng, community_points, community_bank, n_streets)
    community_areas = np.bincount(community_of, weights=areas)
    street_of_community = _make_contiguous(street_of_community, community_adjacency, community_areas)

    to_lonlat = Transformer.from_crs(_local_crs(center), "EPSG:4326", always_xy=True)

    def lonlat(geometries: np.ndarray) -> np.ndarray:
        return _round(
            shapely.transform(geometries, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1])))
        )

    city, grid_blocks = _assemble(
        rng, seed, lonlat(blocks), community_of, street_of_community, city_code, district_code
    )
    code_of_block = {block: unit.code for unit, block in zip(city.grid, grid_blocks, strict=True)}
    river, avenue = (_clip_course(course, city.city[0].geometry) for course in lonlat(courses))
    return dataclasses.replace(
        city, parks=tuple(sorted(code_of_block[block] for block in park_blocks.tolist())), river=river, avenue=avenue
    )


def write_demo_shapefiles(city: DemoCity, directory: Path) -> list[Path]:
    """One UTF-8 ESRI Shapefile per level (city.shp ... grid.shp) with CODE, NAME and PARENT, in EPSG:4490."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for level in LEVELS:
        units = city.units(level)
        frame = gpd.GeoDataFrame(
            {
                "CODE": [unit.code for unit in units],
                "NAME": [unit.name for unit in units],
                "PARENT": [unit.parent_code for unit in units],
            },
            geometry=_round(np.array([unit.geometry for unit in units], dtype=object)),
            crs=_SHAPEFILE_CRS,
        )
        path = directory / f"{level}.shp"
        pyogrio.write_dataframe(
            frame,
            path,
            driver="ESRI Shapefile",
            encoding="UTF-8",
            layer_options={"DBF_DATE_LAST_UPDATE": _DBF_DATE},
        )
        written.append(path)
    return written


def _check_codes(city_code: str, district_code: str) -> None:
    for label, code in (("city", city_code), ("district", district_code)):
        if len(code) != 6 or not code.isdigit():
            raise ValueError(f"{label} code must be 6 digits, got {code!r}")
    if not city_code.endswith("00") or district_code.endswith("00"):
        raise ValueError(f"a city code ends in 00 and a district code does not: {city_code!r}, {district_code!r}")
    if district_code[:4] != city_code[:4]:
        raise ValueError(f"district {district_code} does not share the 4-digit prefix of city {city_code}")


def _draw_layout(rng: np.random.Generator, n_grids: int) -> _Layout:
    spacing = rng.uniform(*_BLOCK_SPACING, size=2)
    lattice_angle = rng.uniform(-0.12, 0.12)

    # Blocks average a bit more than one lattice cell because of merged blocks and parks; the outline is
    # sized from that, but the exact count is reached by ranking blocks, so the estimate need not be exact.
    mean_block = 1.15 * spacing[0] * spacing[1]
    aspect = rng.uniform(1.1, 1.45)
    minor = math.sqrt(n_grids * mean_block / (math.pi * aspect))
    outline_angle = rng.uniform(0.0, math.pi)
    orders = np.arange(2, 7)
    outline_harmonics = np.column_stack(
        [orders, rng.uniform(0.0, 0.05, orders.size), rng.uniform(0.0, 2 * math.pi, orders.size)]
    )

    # Smooth displacement waves bend the roads. Each wave's slope (2 pi amplitude / wavelength) is at most
    # 0.2, so the displacement of the three changes by less than 0.6 m per metre: the warped lattice can
    # bend but never fold over itself.
    wavelengths = rng.uniform(700.0, 2500.0, 3)
    slopes = rng.uniform(0.1, 0.2, 3)
    wave_direction = rng.uniform(0.0, 2 * math.pi, 3)
    push_direction = rng.uniform(0.0, 2 * math.pi, 3)
    amplitude = slopes * wavelengths / (2 * math.pi)
    warp = np.column_stack(
        [
            2 * math.pi / wavelengths * np.cos(wave_direction),
            2 * math.pi / wavelengths * np.sin(wave_direction),
            amplitude * np.cos(push_direction),
            amplitude * np.sin(push_direction),
            rng.uniform(0.0, 2 * math.pi, 3),
        ]
    )

    # The river meanders through the city off its centre; the avenue passes nearer the centre, almost straight.
    river_waves = rng.uniform(2500.0, 6000.0, 2) * np.array([1.0, 0.45])
    river = _Course(
        angle=float(rng.uniform(0.0, math.pi)),
        offset=float(rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.6) * minor),
        waves=np.column_stack([river_waves, river_waves * rng.uniform(0.05, 0.1, 2), rng.uniform(0.0, 2 * math.pi, 2)]),
    )
    avenue_waves = rng.uniform(5000.0, 9000.0, 1)
    avenue = _Course(
        angle=float(rng.uniform(0.0, math.pi)),
        offset=float(rng.uniform(-0.3, 0.3) * minor),
        waves=np.column_stack(
            [avenue_waves, avenue_waves * rng.uniform(0.02, 0.05, 1), rng.uniform(0.0, 2 * math.pi, 1)]
        ),
    )
    return _Layout(
        spacing=(float(spacing[0]), float(spacing[1])),
        lattice_angle=float(lattice_angle),
        semi_axes=(aspect * minor, minor),
        outline_angle=float(outline_angle),
        outline_harmonics=outline_harmonics,
        warp=warp,
        parks=round(n_grids / _PARK_EVERY),
        river=river,
        avenue=avenue,
    )


def _street_network(rng: np.random.Generator, layout: _Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Road centre lines, the river and the avenue, noded so they can be polygonized into blocks; then the
    river and the avenue on their own, and the centre of every park.
    """
    sx, sy = layout.spacing
    margin = 3 * max(sx, sy) + layout.warp_reach
    semi_major = layout.semi_axes[0] * (1 + layout.outline_noise) * 1.15 + margin
    semi_minor = layout.semi_axes[1] * (1 + layout.outline_noise) * 1.15 + margin
    nx = math.ceil(2 * semi_major / sx) + 2
    ny = math.ceil(2 * semi_major / sy) + 2

    # Lattice frame, before rotation and warp: rows and columns of blocks of uneven width, as in a real
    # city where some blocks are long and narrow; then every crossing is nudged on its own.
    column_x = np.concatenate([[0.0], np.cumsum(rng.uniform(1 - _SPACING_SPREAD, 1 + _SPACING_SPREAD, nx - 1))]) * sx
    row_y = np.concatenate([[0.0], np.cumsum(rng.uniform(1 - _SPACING_SPREAD, 1 + _SPACING_SPREAD, ny - 1))]) * sy
    column_x += rng.uniform(-0.5, 0.5) * sx - column_x.mean()
    row_y += rng.uniform(-0.5, 0.5) * sy - row_y.mean()
    lattice = np.stack(np.meshgrid(column_x, row_y), axis=-1)
    lattice += rng.uniform(-_NODE_JITTER, _NODE_JITTER, lattice.shape) * np.array([sx, sy])
    nodes = _rotate(lattice.reshape(-1, 2), layout.lattice_angle).reshape(ny, nx, 2)
    u, v = _rotate(nodes.reshape(-1, 2), -layout.outline_angle).T
    node_kept = ((u / semi_major) ** 2 + (v / semi_minor) ** 2 <= 1.0).reshape(ny, nx)

    # Edges: horizontal ones first (row j, from column i to i + 1), then vertical ones (column i, j to j + 1).
    node_id = np.arange(ny * nx).reshape(ny, nx)
    start = np.concatenate([node_id[:, :-1].ravel(), node_id[:-1, :].ravel()])
    end = np.concatenate([node_id[:, 1:].ravel(), node_id[1:, :].ravel()])
    edge_kept = node_kept.ravel()[start] & node_kept.ravel()[end]
    dropped, park_nodes = _dropped_edges(rng, layout, nodes, node_kept)
    edge_kept &= ~dropped

    start_xy = nodes.reshape(-1, 2)[start]
    end_xy = nodes.reshape(-1, 2)[end]
    along = np.concatenate(
        [
            np.zeros((len(start), 1)),
            np.array([0.25, 0.5, 0.75]) + rng.uniform(-0.06, 0.06, (len(start), 3)),
            np.ones((len(start), 1)),
        ],
        axis=1,
    )
    direction = end_xy - start_xy
    normal = np.column_stack([-direction[:, 1], direction[:, 0]]) / np.hypot(*direction.T)[:, None]
    wobble = np.clip(rng.normal(0.0, _EDGE_WOBBLE, along.shape), -6.0, 6.0)
    wobble[:, [0, -1]] = 0.0
    vertices = start_xy[:, None] + along[..., None] * direction[:, None] + wobble[..., None] * normal[:, None]
    # Edges meeting at a crossing must share its coordinates bit for bit, or polygonize sees no junction;
    # start + 1.0 * (end - start) may miss end by an ulp.
    vertices[:, 0], vertices[:, -1] = start_xy, end_xy
    vertices = _warp(vertices.reshape(-1, 2), layout).reshape(vertices.shape)
    roads = shapely.linestrings(vertices[edge_kept])

    # Only the roads the river and the avenue cross need noding; the lattice already meets at its nodes.
    courses = np.array([layout.river.line(2 * semi_major), layout.avenue.line(2 * semi_major)], dtype=object)
    crossing = np.unique(shapely.STRtree(roads).query(courses, predicate="intersects")[1])
    noded = shapely.get_parts(shapely.unary_union(np.concatenate([courses, roads[crossing]])))
    untouched = np.ones(len(roads), dtype=bool)
    untouched[crossing] = False
    park_sites = _warp(nodes[park_nodes[:, 0], park_nodes[:, 1]].reshape(-1, 2), layout)
    return np.concatenate([roads[untouched], noded]), courses, park_sites


def _dropped_edges(
    rng: np.random.Generator, layout: _Layout, nodes: np.ndarray, node_kept: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """
    Edges removed to join blocks: 2x2 parks first, then single pairs; no block joins more than once.
    Also the lattice node (row, column) at the centre of each park.
    """
    ny, nx = node_kept.shape
    n_horizontal = ny * (nx - 1)
    dropped = np.zeros(n_horizontal + (ny - 1) * nx, dtype=bool)
    joined = np.zeros((ny - 1, nx - 1), dtype=bool)  # cell (j, i) lies between rows j, j + 1 and columns i, i + 1

    def horizontal(j: int, i: int) -> int:
        return j * (nx - 1) + i

    def vertical(j: int, i: int) -> int:
        return n_horizontal + j * nx + i

    # Parks sit around an interior node, well inside the outline, and take the four blocks around it.
    u, v = _rotate(nodes.reshape(-1, 2), -layout.outline_angle).T
    radius = np.hypot(u / layout.semi_axes[0], v / layout.semi_axes[1]).reshape(ny, nx)
    park_sites = np.argwhere(radius[1:-1, 1:-1] < 0.8) + 1
    n_parks = layout.parks
    park_nodes = []
    for j, i in park_sites[rng.permutation(len(park_sites))]:
        if n_parks <= 0:
            break
        if joined[j - 1 : j + 1, i - 1 : i + 1].any():
            continue
        joined[j - 1 : j + 1, i - 1 : i + 1] = True
        dropped[[horizontal(j, i - 1), horizontal(j, i), vertical(j - 1, i), vertical(j, i)]] = True
        park_nodes.append((j, i))
        n_parks -= 1

    # Interior edges only: each separates two cells, (j - 1, i) | (j, i) or (j, i - 1) | (j, i).
    candidates = [
        (horizontal(j, i), (j - 1, i), (j, i))
        for j in range(1, ny - 1)
        for i in range(nx - 1)
        if node_kept[j, i] and node_kept[j, i + 1]
    ]
    candidates += [
        (vertical(j, i), (j, i - 1), (j, i))
        for j in range(ny - 1)
        for i in range(1, nx - 1)
        if node_kept[j, i] and node_kept[j + 1, i]
    ]
    target = _MERGED_BLOCK_SHARE * node_kept.sum()
    merged = int(joined.sum())
    for index in rng.permutation(len(candidates)):
        if merged >= target:
            break
        edge, first, second = candidates[index]
        if joined[first] or joined[second]:
            continue
        joined[first] = joined[second] = True
        dropped[edge] = True
        merged += 2
    return dropped, np.array(park_nodes, dtype=np.int64).reshape(-1, 2)


def _rotate(xy: np.ndarray, angle: float) -> np.ndarray:
    cos, sin = math.cos(angle), math.sin(angle)
    return xy @ np.array([[cos, sin], [-sin, cos]])


def _warp(xy: np.ndarray, layout: _Layout) -> np.ndarray:
    phase = xy @ layout.warp[:, :2].T + layout.warp[:, 4]
    return xy + np.sin(phase) @ layout.warp[:, 2:4]


def _adjacency(polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Pairs (i < j) of polygons sharing boundary, and the length shared.

    Faces of one polygonization share their edges vertex for vertex, so hashing boundary segments finds
    neighbours exactly and far faster than intersecting boundaries pairwise.
    """
    rings, ring_polygon = shapely.get_rings(polygons, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    in_ring = coord_ring[1:] == coord_ring[:-1]
    first, second = coords[:-1][in_ring], coords[1:][in_ring]
    owner = ring_polygon[coord_ring[:-1][in_ring]]
    swap = (first[:, 0] > second[:, 0]) | ((first[:, 0] == second[:, 0]) & (first[:, 1] > second[:, 1]))
    segments = np.concatenate([np.where(swap[:, None], second, first), np.where(swap[:, None], first, second)], 1)
    order = np.lexsort(segments.T[::-1])
    segments, owner = segments[order], owner[order]
    shared = np.all(segments[1:] == segments[:-1], axis=1) & (owner[1:] != owner[:-1])
    left, right = owner[:-1][shared], owner[1:][shared]
    lengths = np.hypot(*(segments[:-1, 2:] - segments[:-1, :2])[shared].T)
    return _sum_pairs(np.minimum(left, right), np.maximum(left, right), lengths, len(polygons))


def _sum_pairs(left: np.ndarray, right: np.ndarray, lengths: np.ndarray, n: int):
    keys, inverse = np.unique(left.astype(np.int64) * n + right, return_inverse=True)
    return keys // n, keys % n, np.bincount(inverse, weights=lengths, minlength=len(keys))


def _subgraph(adjacency, kept: np.ndarray, n: int):
    """The adjacency among the kept ones of n polygons, renumbered in the order of `kept`."""
    left, right, lengths = adjacency
    new_index = np.full(n, -1)
    new_index[kept] = np.arange(len(kept))
    both = (new_index[left] >= 0) & (new_index[right] >= 0)
    return new_index[left[both]], new_index[right[both]], lengths[both]


def _quotient(adjacency, group_of: np.ndarray):
    """The adjacency between groups of polygons, with the length of boundary each two groups share."""
    left, right, lengths = adjacency
    group_left, group_right = group_of[left], group_of[right]
    between = group_left != group_right
    group_left, group_right, lengths = group_left[between], group_right[between], lengths[between]
    n_groups = int(group_of.max()) + 1
    return _sum_pairs(np.minimum(group_left, group_right), np.maximum(group_left, group_right), lengths, n_groups)


def _neighbours(n: int, adjacency, shortest: float = _SHARED_EDGE) -> list[dict[int, float]]:
    left, right, lengths = adjacency
    neighbours: list[dict[int, float]] = [{} for _ in range(n)]
    for a, b, length in zip(left.tolist(), right.tolist(), lengths.tolist(), strict=True):
        if length >= shortest:
            neighbours[a][b] = length
            neighbours[b][a] = length
    return neighbours


def _absorb_fragments(blocks: np.ndarray, bank: np.ndarray, adjacency):
    """Join blocks smaller than a grid cell should be to the neighbour they share most boundary with."""
    areas = shapely.area(blocks)
    # A sliver at a crossing may have no side as long as a metre, so any common boundary counts here.
    neighbours = _neighbours(len(blocks), adjacency, shortest=0.0)
    owner = np.arange(len(blocks))

    def root(block: int) -> int:
        while owner[block] != block:
            owner[block] = owner[owner[block]]
            block = owner[block]
        return block

    group_area = areas.copy()
    for fragment in np.argsort(areas, kind="stable"):
        if areas[fragment] >= _MIN_CELL_AREA:
            break
        own = root(fragment)
        if group_area[own] >= _MIN_CELL_AREA:
            continue
        # Prefer a neighbour on the same bank, so no cell straddles the river.
        shared: dict[int, tuple[bool, float]] = {}
        for neighbour, length in neighbours[fragment].items():
            group = root(neighbour)
            if group != own:
                same_bank, total = shared.get(group, (bool(bank[neighbour] == bank[fragment]), 0.0))
                shared[group] = (same_bank, total + length)
        if not shared:
            continue
        target = max(sorted(shared), key=lambda group: shared[group])
        owner[own] = target
        group_area[target] += group_area[own]

    groups = np.array([root(block) for block in range(len(blocks))])
    keys, group_of = np.unique(groups, return_inverse=True)
    merged = np.empty(len(keys), dtype=object)
    for index, members in enumerate(_members(group_of, len(keys))):
        merged[index] = blocks[members[0]] if len(members) == 1 else shapely.unary_union(blocks[members])
    return merged, bank[keys], _quotient(adjacency, group_of)


def _members(group_of: np.ndarray, n_groups: int) -> list[np.ndarray]:
    order = np.argsort(group_of, kind="stable")
    return np.split(order, np.cumsum(np.bincount(group_of, minlength=n_groups))[:-1])


def _center_on_origin(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """
    Shift the network so the origin (the requested centre) is the innermost point of the block under it;
    also the shift, to move anything else drawn in the network's frame along.
    """
    containing = np.flatnonzero(shapely.contains_xy(blocks, 0.0, 0.0))
    if containing.size:
        block = blocks[containing[0]]
    else:
        block = blocks[int(np.argmin(shapely.distance(blocks, shapely.Point(0.0, 0.0))))]
    innermost = np.asarray(shapely.get_coordinates(shapely.maximum_inscribed_circle(block, 0.5))[0])
    return shapely.transform(blocks, lambda xy: xy - innermost), innermost


def _city_blocks(blocks: np.ndarray, adjacency, layout: _Layout, n_grids: int) -> np.ndarray:
    """
    Indices of the blocks forming the city: grown from the block under the centre, always taking the
    neighbouring block nearest the centre in a noisy elliptic metric, until n_grids are in.

    Taking whole blocks instead of clipping them to an outline gives a boundary that follows roads and
    the river, as real ones do, and leaves no sliver cells along it; growing from the centre keeps the
    city in one piece and hits the requested count (before the outline is smoothed).
    """
    if n_grids > len(blocks):
        raise RuntimeError(f"the street network has {len(blocks)} blocks, fewer than the {n_grids} requested")
    centroids = shapely.get_coordinates(shapely.centroid(blocks))
    u, v = _rotate(centroids, -layout.outline_angle).T
    bearing = np.arctan2(v / layout.semi_axes[1], u / layout.semi_axes[0])
    order, amplitude, phase = layout.outline_harmonics.T
    reach = 1 + (amplitude * np.cos(order * bearing[:, None] + phase)).sum(axis=1)
    radius = np.hypot(u / layout.semi_axes[0], v / layout.semi_axes[1]) / reach
    neighbours = _neighbours(len(blocks), adjacency)

    center = int(np.flatnonzero(shapely.contains_xy(blocks, 0.0, 0.0))[0])
    chosen = np.zeros(len(blocks), dtype=bool)
    frontier = [(0.0, center)]
    taken = 0
    while frontier and taken < n_grids:
        _, block = heapq.heappop(frontier)
        if chosen[block]:
            continue
        chosen[block] = True
        taken += 1
        for neighbour in neighbours[block]:
            if not chosen[neighbour]:
                heapq.heappush(frontier, (float(radius[neighbour]), neighbour))
    city_reach = radius[chosen].max()

    if n_grids >= _SMOOTHED_FROM:
        left, right, lengths = adjacency
        perimeter = shapely.length(blocks)
        for _ in range(2):
            with_city = np.bincount(left, weights=lengths * chosen[right], minlength=len(blocks))
            with_city += np.bincount(right, weights=lengths * chosen[left], minlength=len(blocks))
            share = with_city / perimeter
            peninsula = chosen & (share < _PENINSULA)
            peninsula[center] = False
            chosen = (chosen & ~peninsula) | (~chosen & (share > _BAY))
        chosen = _reachable([center], neighbours, chosen)

    # Anything the city encloses belongs to it: only blocks reached from clearly outside stay out.
    outside = _reachable(np.flatnonzero(radius > 1.15 * city_reach).tolist(), neighbours, ~chosen)
    return np.flatnonzero(~outside)


def _clip_course(course: LineString, city: Polygon | MultiPolygon) -> LineString | None:
    """
    The part of a river or road inside the city, or None if it misses the city.

    The city's outline may follow the river for a stretch and leave it again, which clips the line into
    several pieces; the longest is the one that crosses the city.
    """
    inside = shapely.line_merge(shapely.intersection(course, city))
    pieces = [piece for piece in shapely.get_parts(inside) if piece.geom_type == "LineString" and piece.length > 0]
    return max(pieces, key=lambda piece: piece.length) if pieces else None


def _reachable(starts: list[int], neighbours: list[dict[int, float]], allowed: np.ndarray) -> np.ndarray:
    reached = np.zeros(len(allowed), dtype=bool)
    stack = [start for start in starts if allowed[start]]
    reached[stack] = True
    while stack:
        block = stack.pop()
        for neighbour in neighbours[block]:
            if allowed[neighbour] and not reached[neighbour]:
                reached[neighbour] = True
                stack.append(neighbour)
    return reached


def _cluster(rng: np.random.Generator, points: np.ndarray, bank: np.ndarray, k: int) -> np.ndarray:
    """k-means with k-means++ seeding; labels 0..k-1, every cluster non-empty, never across the river."""
    features = np.column_stack([points - points.mean(axis=0), bank * _RIVER_BANK_SEPARATION])
    k = min(k, len(features))
    seeds = [int(rng.integers(len(features)))]
    closest = ((features - features[seeds[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = closest.sum()
        seed = int(rng.choice(len(features), p=closest / total)) if total > 0 else int(rng.integers(len(features)))
        seeds.append(seed)
        closest = np.minimum(closest, ((features - features[seed]) ** 2).sum(axis=1))
    centres = features[seeds].copy()
    labels = np.full(len(features), -1)
    for _ in range(30):
        distances = (features**2).sum(axis=1)[:, None] - 2 * features @ centres.T + (centres**2).sum(axis=1)
        new_labels = np.argmin(distances, axis=1)
        counts = np.bincount(new_labels, minlength=k)
        for empty in np.flatnonzero(counts == 0):
            # An empty cluster restarts at the point worst served by its current centre; zeroing that
            # point's distances keeps the next empty cluster from taking the same one.
            worst = int(np.argmax(distances[np.arange(len(features)), new_labels]))
            new_labels[worst] = empty
            distances[worst, :] = 0.0
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        sizes = np.bincount(labels, minlength=k)[:, None]
        centres = np.column_stack([np.bincount(labels, weights=axis, minlength=k) for axis in features.T]) / sizes
    return labels


def _make_contiguous(labels: np.ndarray, adjacency, sizes: np.ndarray) -> np.ndarray:
    """Hand every detached piece of a cluster to the neighbouring cluster it shares most boundary with."""
    labels = labels.copy()
    neighbours = _neighbours(len(labels), adjacency)
    for _ in range(50):
        pieces = _pieces(labels, neighbours)
        piece_size = np.bincount(pieces, weights=sizes)
        _, first_member = np.unique(pieces, return_index=True)
        piece_label = labels[first_member]
        # The biggest piece of each cluster stays; ties go to the piece found first.
        by_label = np.lexsort((np.arange(len(piece_size)), -piece_size, piece_label))
        is_main = np.ones(len(by_label), dtype=bool)
        is_main[1:] = piece_label[by_label][1:] != piece_label[by_label][:-1]
        stray = np.sort(by_label[~is_main]).tolist()
        if not stray:
            break
        changed = False
        for piece in stray:
            members = np.flatnonzero(pieces == piece)
            own = labels[members[0]]
            shared: dict[int, float] = {}
            for member in members.tolist():
                for neighbour, length in neighbours[member].items():
                    if labels[neighbour] != own:
                        shared[int(labels[neighbour])] = shared.get(int(labels[neighbour]), 0.0) + length
            if shared:
                labels[members] = max(sorted(shared), key=lambda label: shared[label])
                changed = True
        if not changed:
            break
    _, labels = np.unique(labels, return_inverse=True)
    return labels


def _pieces(labels: np.ndarray, neighbours: list[dict[int, float]]) -> np.ndarray:
    """Connected pieces of each cluster, numbered in order of their first member."""
    piece_of = np.full(len(labels), -1)
    n_pieces = 0
    for start in range(len(labels)):
        if piece_of[start] >= 0:
            continue
        piece_of[start] = n_pieces
        stack = [start]
        while stack:
            unit = stack.pop()
            for neighbour in neighbours[unit]:
                if piece_of[neighbour] < 0 and labels[neighbour] == labels[unit]:
                    piece_of[neighbour] = n_pieces
                    stack.append(neighbour)
        n_pieces += 1
    return piece_of


def _group_points(group_of: np.ndarray, points: np.ndarray, bank: np.ndarray, weights: np.ndarray):
    """Weighted mean point and majority river bank of each group."""
    n_groups = int(group_of.max()) + 1
    total = np.bincount(group_of, weights=weights, minlength=n_groups)
    mean = np.column_stack(
        [np.bincount(group_of, weights=weights * points[:, axis], minlength=n_groups) / total for axis in (0, 1)]
    )
    share_on_bank_one = np.bincount(group_of, weights=weights * bank, minlength=n_groups) / total
    return mean, (share_on_bank_one > 0.5).astype(np.int64)


def _local_crs(center: tuple[float, float]) -> CRS:
    lon, lat = center
    return CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs")


def _round(geometries: np.ndarray) -> np.ndarray:
    return shapely.transform(geometries, lambda xy: np.round(xy, _DECIMALS))


def _assemble(
    rng: np.random.Generator,
    seed: int,
    cells: np.ndarray,
    community_of: np.ndarray,
    street_of_community: np.ndarray,
    city_code: str,
    district_code: str,
) -> tuple[DemoCity, list[int]]:
    """
    Codes in reading order, names and parent geometries (unions of the children) for every level; also
    the index in `cells` of each grid unit, in the order of the units.
    """

    def in_reading_order(geometries: list) -> list[int]:
        # Label points in lon/lat, as anyone numbering cells from the published geometry would take them.
        labels = shapely.get_coordinates(shapely.point_on_surface(np.array(geometries, dtype=object)))
        return reading_order([(x, y) for x, y in labels.tolist()])

    community_cells = _members(community_of, int(community_of.max()) + 1)
    community_shapes = [shapely.unary_union(cells[members]) for members in community_cells]
    street_communities = _members(street_of_community, int(street_of_community.max()) + 1)
    street_shapes = [shapely.unary_union([community_shapes[c] for c in members]) for members in street_communities]
    city_shape = shapely.unary_union(street_shapes)

    city_name = _CITY_NAMES[int(rng.integers(len(_CITY_NAMES)))]
    district_name = _DISTRICT_NAMES[int(rng.integers(len(_DISTRICT_NAMES)))]
    street_names = _street_names(rng, len(street_shapes))
    community_names = _community_names(rng, len(community_shapes))

    streets, communities, grids, grid_cells = [], [], [], []
    for street_seq, street in enumerate(in_reading_order(street_shapes), start=1):
        street_code = _child_code(district_code, street_seq, MAX_STREETS)
        streets.append(DemoUnit(street_code, street_names[street_seq - 1], district_code, street_shapes[street]))
        members = street_communities[street]
        for community_seq, position in enumerate(in_reading_order([community_shapes[c] for c in members]), 1):
            community = members[position]
            community_code = _child_code(street_code, community_seq)
            community_name = community_names[len(communities)]
            communities.append(DemoUnit(community_code, community_name, street_code, community_shapes[community]))
            cell_ids = community_cells[community]
            for grid_seq, position_in_community in enumerate(in_reading_order(list(cells[cell_ids])), 1):
                grid_unit = DemoUnit(
                    _child_code(community_code, grid_seq),
                    f"{community_name}第{grid_seq}网格",
                    community_code,
                    cells[cell_ids[position_in_community]],
                )
                grids.append(grid_unit)
                grid_cells.append(int(cell_ids[position_in_community]))
    city = DemoCity(
        seed=seed,
        city=[DemoUnit(city_code, city_name, None, city_shape)],
        district=[DemoUnit(district_code, district_name, city_code, city_shape)],
        street=streets,
        community=communities,
        grid=grids,
    )
    return city, grid_cells


def _child_code(parent_code: str, sequence: int, limit: int = 999) -> str:
    if sequence > limit:
        raise ValueError(f"more than {limit} children under {parent_code}")
    return f"{parent_code}{sequence:03d}"


def _street_names(rng: np.random.Generator, n: int) -> list[str]:
    pool = [word + suffix + "街道" for word in _PLACE_WORDS for suffix in _STREET_SUFFIXES]
    return [pool[index] for index in rng.permutation(len(pool))[:n]]


def _community_names(rng: np.random.Generator, n: int) -> list[str]:
    pool = [first + second for first in _COMMUNITY_FIRST for second in _COMMUNITY_SECOND]
    pool += [word + quarter for word in _PLACE_WORDS for quarter in _COMMUNITY_QUARTERS]
    shuffled = [pool[index] for index in rng.permutation(len(pool))]
    names = []
    for index in range(n):
        # Past the pool, names repeat with an ordinal (青苑二社区), still unique within the city.
        round_ = index // len(shuffled)
        ordinal = "" if round_ == 0 else _ORDINALS[round_ - 1] if round_ <= len(_ORDINALS) else str(round_ + 1)
        names.append(shuffled[index % len(shuffled)] + ordinal + "社区")
    return names
