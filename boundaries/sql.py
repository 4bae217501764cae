"""The SQL statements of boundary imports and bulk point assignment that the ORM cannot express."""

# A unit row is valid at generation %(generation)s when its interval covers it.
VALID_AT = (
    "{t}.generation_low_id <= %(generation)s"
    " AND ({t}.generation_high_id IS NULL OR {t}.generation_high_id >= %(generation)s)"
)


def valid_at(alias: str) -> str:
    return VALID_AT.format(t=alias)


# Dropped first: an outer transaction (a test, a larger edit) may hold the previous import's table.
STAGING_CREATE = """
DROP TABLE IF EXISTS boundary_import_staging;
CREATE TEMP TABLE boundary_import_staging (
    row integer PRIMARY KEY,
    code text NOT NULL,
    name text NOT NULL,
    parent_code text,
    geom geometry(Geometry, 4326),
    ok boolean NOT NULL DEFAULT true
) ON COMMIT DROP
"""

STAGING_COPY = "COPY boundary_import_staging (row, code, name, parent_code, geom, ok) FROM STDIN"

STAGING_INDEX = "CREATE INDEX ON boundary_import_staging USING gist (geom); ANALYZE boundary_import_staging"

# Coordinates that are no longitude and latitude: usually a file whose coordinate system was given wrong.
OFF_THE_GLOBE = """
UPDATE boundary_import_staging SET ok = false
WHERE ok AND NOT (ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90)
RETURNING row, code, ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom)
"""

SLIVERS = """
SELECT row, code, ST_Area(geom::geography) FROM boundary_import_staging
WHERE ok AND ST_Area(geom::geography) < %(min_area)s ORDER BY row
"""

INVALID_GEOMETRIES = """
SELECT row, code, ST_IsValidReason(geom) FROM boundary_import_staging
WHERE ok AND NOT ST_IsValid(geom) ORDER BY row
"""

# 'structure' keeps the polygon's intended area (a bow-tie becomes two triangles, not a line).
REPAIR_GEOMETRIES = """
UPDATE boundary_import_staging
SET geom = ST_Multi(ST_CollectionExtract(ST_MakeValid(geom, 'method=structure'), 3))
WHERE ok AND NOT ST_IsValid(geom)
"""

EMPTY_AFTER_REPAIR = """
UPDATE boundary_import_staging SET ok = false
WHERE ok AND (geom IS NULL OR ST_IsEmpty(geom) OR ST_Area(geom) = 0)
RETURNING row, code
"""

CODES_TAKEN = f"""
SELECT s.row, s.code, bool_or({valid_at("u")}) AS live
FROM boundary_import_staging s JOIN boundaries_gridunit u ON u.code = s.code
GROUP BY s.row, s.code ORDER BY s.row
"""

PARENTS_UNKNOWN = f"""
SELECT s.row, s.code, s.parent_code FROM boundary_import_staging s
WHERE s.parent_code IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM boundaries_gridunit p
    WHERE p.code = s.parent_code AND p.level = %(level)s - 1 AND {valid_at("p")}
)
ORDER BY s.row
"""

# Siblings share a parent. A staged unit is compared with the other staged units and with the
# siblings already in the generation. Interiors must meet ('2********') before any area is computed,
# so the common case, neighbours touching along an edge, costs one relate test.
SIBLING_OVERLAPS = f"""
WITH siblings AS (
    SELECT row, code, parent_code, geom, true AS staged FROM boundary_import_staging WHERE ok
    UNION ALL
    SELECT NULL, u.code, u.parent_code, u.geom, false FROM boundaries_gridunit u
    WHERE u.level = %(level)s AND {valid_at("u")}
      AND u.parent_code IN (SELECT parent_code FROM boundary_import_staging WHERE ok)
      AND u.code NOT IN (SELECT code FROM boundary_import_staging)
)
SELECT a.row, a.code, b.code, area
FROM siblings a
JOIN siblings b ON a.staged AND (NOT b.staged OR a.code < b.code)
    -- Equal parents, the city's none among them, in a form a hash join can use: IS NOT DISTINCT FROM
    -- would compare every staged unit with every other (10,000 cells: 19 s instead of 0.75 s).
    AND coalesce(a.parent_code, '') = coalesce(b.parent_code, '') AND a.geom && b.geom
CROSS JOIN LATERAL (SELECT ST_Area(ST_Intersection(a.geom, b.geom)::geography) AS area) overlap
WHERE ST_Relate(a.geom, b.geom, '2********') AND area > %(tolerance)s
ORDER BY a.row, b.code
"""

OUTSIDE_PARENT = f"""
SELECT s.row, s.code, s.parent_code, outside.area
FROM boundary_import_staging s
JOIN boundaries_gridunit p ON p.code = s.parent_code AND p.level = %(level)s - 1 AND {valid_at("p")}
CROSS JOIN LATERAL (SELECT ST_Area(ST_Difference(s.geom, p.geom)::geography) AS area) outside
WHERE s.ok AND NOT ST_CoveredBy(s.geom, p.geom) AND outside.area > %(tolerance)s
ORDER BY s.row
"""

# Parts of a parent that no child covers once the import is in; reported as warnings, since a
# parent may be filled by several imports.
# The children are unioned per parent in one grouping: a union per parent, each scanning all the
# children for its own, took 3.5 s for 10,000 cells instead of 0.8 s.
PARENT_GAPS = f"""
WITH parents AS (
    SELECT p.code, p.geom FROM boundaries_gridunit p
    WHERE p.level = %(level)s - 1 AND {valid_at("p")}
      AND p.code IN (SELECT parent_code FROM boundary_import_staging WHERE ok)
), children AS (
    SELECT parent_code, geom FROM boundary_import_staging WHERE ok
    UNION ALL
    SELECT u.parent_code, u.geom FROM boundaries_gridunit u
    WHERE u.level = %(level)s AND {valid_at("u")} AND u.code NOT IN (SELECT code FROM boundary_import_staging)
      AND u.parent_code IN (SELECT parent_code FROM boundary_import_staging WHERE ok)
), covered AS (
    SELECT parent_code, ST_Union(geom) AS geom FROM children GROUP BY parent_code
)
SELECT p.code, gap.area
FROM parents p
JOIN covered c ON c.parent_code = p.code
CROSS JOIN LATERAL (SELECT ST_Area(ST_Difference(p.geom, c.geom)::geography) AS area) gap
WHERE gap.area > %(tolerance)s
ORDER BY p.code
"""

INSERT_UNITS = """
INSERT INTO boundaries_gridunit (code, name, level, geom, generation_low_id, generation_high_id, source, created_at)
SELECT code, name, %(level)s, ST_Multi(geom), %(generation)s, NULL, %(source)s, now()
FROM boundary_import_staging
ORDER BY row
"""

COUNTS_PER_LEVEL = f"""
SELECT u.level, count(*) FROM boundaries_gridunit u WHERE {valid_at("u")} GROUP BY u.level ORDER BY u.level
"""

# Bulk assignment of points to grid cells. The cells drive the loop: for each cell the GiST index
# on the points yields the candidates, and ST_Intersects sees the same polygon as first argument row
# after row, so PostGIS prepares it once per cell. The planner picks this order by itself when the
# points are indexed, and it lets the two cores split the cells between them (a lateral subquery
# with OFFSET 0 would force the order too, but keeps the join in one process). A point on an edge
# shared by several cells matches all of them; the boundary rule keeps the one with the smallest code.
ASSIGN_POINTS = f"""
SELECT DISTINCT ON (p.{{id_column}}) p.{{id_column}}, cell.code
FROM boundaries_gridunit cell
JOIN {{table}} p ON ST_Intersects(cell.geom, p.{{geom_column}})
WHERE cell.level = 5 AND {valid_at("cell")} {{cell_filter}} {{point_filter}}
ORDER BY p.{{id_column}}, cell.code
"""

# The same for many points, cell by cell through the points' index. Point by point, every probe of the
# units' index rechecks the city's and districts' large polygons, and a million points took minutes
# instead of seconds; so the cells' geometry enters the index condition only through its envelope,
# which the cells' own index cannot serve, and the planner cannot turn the join round. (A lateral
# subquery with OFFSET 0 forced the order too, but kept the join out of parallel workers.) The exact
# test is ST_Intersects' own, without the index condition it would add for either side.
ASSIGN_POINTS_BY_CELL = f"""
SELECT DISTINCT ON (p.{{id_column}}) p.{{id_column}}, cell.code
FROM boundaries_gridunit cell
JOIN {{table}} p ON p.{{geom_column}} && ST_Envelope(cell.geom) AND _ST_Intersects(cell.geom, p.{{geom_column}})
WHERE cell.level = 5 AND {valid_at("cell")} {{cell_filter}} {{point_filter}}
ORDER BY p.{{id_column}}, cell.code
"""

# Points from which the cell-by-cell join pays off.
ASSIGN_BY_CELL_FROM = 5000

# Lets the planner give each of the machine's cores a share of the cells even for a table it has
# just been handed; kept within the assignment's transaction.
PARALLEL_JOIN_SETTINGS = (
    "SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0; "
    "SET LOCAL min_parallel_table_scan_size = 0; SET LOCAL jit = off"
)

# For points in no grid cell: the deepest unit covering the point, else the community of the nearest
# cell (a KNN search on the cells' GiST index). Only unassigned points are touched, so it stays cheap.
UNASSIGNED_RESPONSIBLE_UNIT = f"""
UPDATE {{table}} p SET {{unit}} = coalesce(
    (SELECT u.code FROM boundaries_gridunit u
     WHERE {valid_at("u")} AND ST_Intersects(u.geom, p.{{geom}})
     ORDER BY u.level DESC, u.code LIMIT 1),
    (SELECT c.parent_code FROM boundaries_gridunit c
     WHERE {valid_at("c")} AND c.level = 5
     ORDER BY c.geom <-> p.{{geom}} LIMIT 1),
    '')
WHERE p.{{grid}} = '' {{where}}
"""
