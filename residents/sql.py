"""SQL of the household import: parsing, checks, geocoding and writing, each set-based over the staged rows."""

NUMBER = r"'^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)$'"

VALUES_CREATE = "CREATE TEMP TABLE {values} (field text, word text, code text) ON COMMIT DROP"

VALUES_FILL = "CREATE INDEX ON {values} (field, word); ANALYZE {values}"

PROBLEMS_CREATE = "CREATE TEMP TABLE {problems} (row bigint, field text, kind text, value text) ON COMMIT DROP"

# Every canonical column of each data row, the household it belongs to (the first row of its household
# number, or the row itself when it has none), and the parsed numbers, dates and value codes.
ROWS_CREATE = f"""
CREATE UNLOGGED TABLE {{rows}} AS
WITH raw AS (SELECT s.row, {{select}}, ({{has_resident}}) AS has_resident FROM {{staged}} s)
SELECT raw.*,
    CASE WHEN raw.household_ref IS NULL THEN raw.row
         ELSE min(raw.row) OVER (PARTITION BY raw.household_ref) END AS key_row,
    CASE WHEN raw.lon ~ {NUMBER} THEN raw.lon::float8 END AS lon_num,
    CASE WHEN raw.lat ~ {NUMBER} THEN raw.lat::float8 END AS lat_num,
    CASE WHEN raw.size ~ '^[0-9]{{{{1,2}}}}$' THEN raw.size::int END AS size_num,
    geogrid_safe_date(raw.birth_date) AS birth,
    housing.code AS housing_code, source.code AS source_code, gender.code AS gender_code,
    relation.code AS relation_code, status.code AS status_code
FROM raw
LEFT JOIN {{values}} housing ON housing.field = 'housing_type' AND housing.word = lower(raw.housing_type)
LEFT JOIN {{values}} source ON source.field = 'source' AND source.word = lower(raw.source)
LEFT JOIN {{values}} gender ON gender.field = 'gender' AND gender.word = lower(raw.gender)
LEFT JOIN {{values}} relation ON relation.field = 'relation' AND relation.word = lower(raw.relation)
LEFT JOIN {{values}} status ON status.field = 'residence_status' AND status.word = lower(raw.residence_status)
"""

ROWS_INDEX = "CREATE INDEX ON {rows} (row); CREATE INDEX ON {rows} (key_row); ANALYZE {rows}"

# Each check adds (row, field, kind, value) problems; household checks look at household rows only.
_HOUSEHOLD_ROW = "r.row = r.key_row"
_TAG_UNKNOWN = """
INSERT INTO {{problems}}
SELECT r.row, '{column}', 'unknown_tag', btrim(tag)
FROM {{rows}} r CROSS JOIN LATERAL unnest(string_to_array(r.{column}, ';')) AS tag
WHERE {where} AND r.{column} IS NOT NULL AND btrim(tag) <> '' AND NOT EXISTS (
    SELECT 1 FROM residents_attentiontag a
    WHERE a.applies_to = '{applies_to}' AND (a.code = btrim(tag) OR a.name = btrim(tag))
)
"""

VALUE_CHECKS = [
    f"""INSERT INTO {{problems}} SELECT r.row, 'address', 'address_missing', NULL FROM {{rows}} r
        WHERE {_HOUSEHOLD_ROW} AND r.address IS NULL""",
    f"""INSERT INTO {{problems}} SELECT r.row, 'lon', 'coordinates_missing', NULL FROM {{rows}} r
        WHERE {_HOUSEHOLD_ROW} AND (r.lon IS NULL OR r.lat IS NULL) AND NOT %(geocode)s""",
    f"""INSERT INTO {{problems}}
        SELECT r.row, 'lon', 'not_a_number', r.lon FROM {{rows}} r
        WHERE {_HOUSEHOLD_ROW} AND r.lon IS NOT NULL AND r.lon_num IS NULL
        UNION ALL
        SELECT r.row, 'lat', 'not_a_number', r.lat FROM {{rows}} r
        WHERE {_HOUSEHOLD_ROW} AND r.lat IS NOT NULL AND r.lat_num IS NULL""",
    # Swapped: out of range one way round but not the other, or outside the grid's extent one way
    # round but inside it the other.
    f"""INSERT INTO {{problems}}
        SELECT r.row, 'lon',
            CASE WHEN looks_swapped THEN 'swapped'
                 WHEN abs(r.lon_num) > 180 THEN 'lon_out_of_range' ELSE 'lat_out_of_range' END,
            CASE WHEN looks_swapped THEN r.lon || ', ' || r.lat
                 WHEN abs(r.lon_num) > 180 THEN r.lon ELSE r.lat END
        FROM {{rows}} r
        -- ST_Extent is a box2d, without the SRID the points carry.
        CROSS JOIN (SELECT ST_SetSRID(ST_Extent(geom)::geometry, 4326) AS box FROM boundaries_gridunit
                    WHERE level = 1 AND generation_high_id IS NULL) grid
        CROSS JOIN LATERAL (SELECT
            (abs(r.lat_num) > 90 AND abs(r.lat_num) <= 180 AND abs(r.lon_num) <= 90)
            OR (grid.box IS NOT NULL AND abs(r.lat_num) <= 90 AND abs(r.lon_num) <= 90
                AND NOT ST_Intersects(grid.box, ST_SetSRID(ST_MakePoint(r.lon_num, r.lat_num), 4326))
                AND ST_Intersects(grid.box, ST_SetSRID(ST_MakePoint(r.lat_num, r.lon_num), 4326)))
            AS looks_swapped) s
        WHERE {_HOUSEHOLD_ROW} AND r.lon_num IS NOT NULL AND r.lat_num IS NOT NULL
          AND (looks_swapped OR abs(r.lon_num) > 180 OR abs(r.lat_num) > 90)""",
    f"""INSERT INTO {{problems}}
        SELECT r.row, 'housing_type', 'unknown_value', r.housing_type FROM {{rows}} r
        WHERE {_HOUSEHOLD_ROW} AND r.housing_type IS NOT NULL AND r.housing_code IS NULL
        UNION ALL
        SELECT r.row, 'source', 'unknown_value', r.source FROM {{rows}} r
        WHERE {_HOUSEHOLD_ROW} AND r.source IS NOT NULL AND r.source_code IS NULL
        UNION ALL
        SELECT r.row, 'size', 'bad_size', r.size FROM {{rows}} r
        WHERE {_HOUSEHOLD_ROW} AND r.size IS NOT NULL AND (r.size_num IS NULL OR r.size_num > 50)""",
    """INSERT INTO {problems}
        SELECT r.row, 'address', 'household_conflict', r.address FROM {rows} r JOIN {rows} k ON k.row = r.key_row
        WHERE r.row <> r.key_row AND r.address IS NOT NULL AND k.address IS NOT NULL AND r.address <> k.address""",
    _TAG_UNKNOWN.format(column="household_tags", where=_HOUSEHOLD_ROW, applies_to="household"),
]

# The checks of residents' rows: a file without any resident column has none to check.
RESIDENT_CHECKS = [
    """INSERT INTO {problems}
        SELECT r.row, 'name', 'name_missing', NULL FROM {rows} r WHERE r.has_resident AND r.name IS NULL
        UNION ALL
        SELECT r.row, 'gender', 'unknown_value', r.gender FROM {rows} r
        WHERE r.has_resident AND r.gender IS NOT NULL AND r.gender_code IS NULL
        UNION ALL
        SELECT r.row, 'relation', 'unknown_value', r.relation FROM {rows} r
        WHERE r.has_resident AND r.relation IS NOT NULL AND r.relation_code IS NULL
        UNION ALL
        SELECT r.row, 'residence_status', 'unknown_value', r.residence_status FROM {rows} r
        WHERE r.has_resident AND r.residence_status IS NOT NULL AND r.status_code IS NULL
        UNION ALL
        SELECT r.row, 'birth_date', 'bad_date', r.birth_date FROM {rows} r
        WHERE r.has_resident AND r.birth_date IS NOT NULL AND (r.birth IS NULL OR r.birth > current_date)""",
    """INSERT INTO {problems}
        SELECT r.row, 'relation', 'second_head', NULL FROM (
            SELECT row, row_number() OVER (PARTITION BY key_row ORDER BY row) AS nth
            FROM {rows} WHERE has_resident AND relation_code = 'head'
        ) r WHERE r.nth > 1""",
    _TAG_UNKNOWN.format(column="resident_tags", where="r.has_resident", applies_to="resident"),
]

PERSONAL_CREATE = """
CREATE TEMP TABLE IF NOT EXISTS {personal} (
    row bigint PRIMARY KEY, id_number text, id_number_index text, phone text, phone_index text,
    id_gender text, id_birth date
) ON COMMIT DROP
"""

PERSONAL_DUPLICATES_IN_DATABASE = """
INSERT INTO {problems}
SELECT p.row, 'id_number', 'id_exists', NULL FROM {personal} p
WHERE p.id_number_index <> '' AND EXISTS (
    SELECT 1 FROM residents_resident r WHERE r.id_number_index = p.id_number_index
)
"""

# One row per household, keyed by its first row, with its point when the coordinates are usable.
# Ids are drawn from the households' own sequence here, in file order (volatile functions run after
# ORDER BY), so residents and tags can name their household without another pass; a household left
# out later just leaves a gap in the sequence. {household_sequence} is the sequence's name as a regclass
# literal, resolved once: a name looked up per row costs a catalog lookup each time (3 s for 1M rows).
HOUSEHOLDS_CREATE = """
CREATE UNLOGGED TABLE {households} AS
SELECT nextval({household_sequence}) AS id, r.key_row, r.household_ref, r.address,
    r.building, r.unit_no, r.room, r.housing_code, r.source_code, r.size_num, r.household_tags, r.lon_num, r.lat_num,
    NULL::bigint AS building_id, NULL::text AS geocoded, NULL::real AS geocode_score,
    CASE WHEN abs(r.lon_num) <= 180 AND abs(r.lat_num) <= 90
         THEN ST_SetSRID(ST_MakePoint(r.lon_num, r.lat_num), 4326) END AS geom,
    ''::varchar(15) AS grid_code, ''::varchar(15) AS unit_code
FROM {rows} r
WHERE r.row = r.key_row
ORDER BY r.key_row
"""

HOUSEHOLDS_CONVERTED = """
UPDATE {households} h SET lon_num = c.lon, lat_num = c.lat,
    geom = CASE WHEN abs(c.lon) <= 180 AND abs(c.lat) <= 90 THEN ST_SetSRID(ST_MakePoint(c.lon, c.lat), 4326) END
FROM import_converted c WHERE c.key_row = h.key_row
"""

# Geocoding: the same address (ignoring spaces and case) first, then the nearest address by trigram
# distance (a KNN search on the buildings' trigram index), kept only above the threshold.
GEOCODE = """
UPDATE {households} h
SET geom = b.location, building_id = b.id, geocoded = 'exact', geocode_score = 1
FROM residents_building b
WHERE h.geom IS NULL AND h.lon_num IS NULL AND h.address IS NOT NULL
  AND lower(regexp_replace(b.address, '\\s', '', 'g')) = lower(regexp_replace(h.address, '\\s', '', 'g'));

CREATE TEMP TABLE import_geocode ON COMMIT DROP AS
SELECT h.key_row, best.id, best.location, best.address, best.score
FROM {households} h
CROSS JOIN LATERAL (
    SELECT b.id, b.location, b.address, similarity(b.address, h.address) AS score
    FROM residents_building b ORDER BY b.address <-> h.address LIMIT 1
) best
WHERE h.geom IS NULL AND h.lon_num IS NULL AND h.address IS NOT NULL AND h.geocoded IS NULL;

UPDATE {households} h SET geom = g.location, building_id = g.id, geocoded = 'fuzzy', geocode_score = g.score
FROM import_geocode g WHERE g.key_row = h.key_row AND g.score >= %(threshold)s;

INSERT INTO {problems}
SELECT g.key_row, 'address', CASE WHEN g.score >= %(threshold)s THEN 'geocoded_fuzzy' ELSE 'address_not_found' END,
    g.address || ' (' || round(g.score::numeric, 2) || ')'
FROM import_geocode g;

INSERT INTO {problems}
SELECT h.key_row, 'address', 'address_not_found', '-' FROM {households} h
WHERE h.geom IS NULL AND h.lon_num IS NULL AND h.address IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM import_geocode g WHERE g.key_row = h.key_row);
DROP TABLE import_geocode;
"""

HOUSEHOLDS_INDEX = "CREATE INDEX ON {households} USING gist (geom); ANALYZE {households}"

OUTSIDE_SCOPE = """
INSERT INTO {problems}
SELECT h.key_row, 'lon', 'outside_scope', coalesce(nullif(h.unit_code, ''), '-') FROM {households} h
WHERE h.geom IS NOT NULL AND NOT (h.unit_code LIKE ANY (%(prefixes)s))
"""

# With --skip-bad, a household whose first row is bad is left out with all its rows.
HOUSEHOLD_REJECTED = """
INSERT INTO {problems}
SELECT r.row, NULL, 'household_rejected', NULL FROM {rows} r
WHERE r.row <> r.key_row
  AND r.key_row IN (SELECT row FROM {problems} WHERE kind <> 'geocoded_fuzzy')
  AND r.row NOT IN (SELECT row FROM {problems} WHERE kind <> 'geocoded_fuzzy')
"""

PROBLEMS_LIST = "SELECT row, field, kind, value FROM {problems} ORDER BY row, field NULLS FIRST, kind"

BAD_CREATE = """
CREATE TEMP TABLE import_bad ON COMMIT DROP AS
SELECT DISTINCT row FROM {problems} WHERE kind <> 'geocoded_fuzzy';
CREATE UNIQUE INDEX ON import_bad (row); ANALYZE import_bad
"""

# One pass over the staged households and one over the rows.
COUNTS = """
SELECT h.households, r.residents, h.in_cell, h.unassigned, h.geocoded, (SELECT count(*) FROM import_bad)
FROM (
    SELECT count(*) AS households, count(*) FILTER (WHERE h.grid_code <> '') AS in_cell,
        count(*) FILTER (WHERE h.geom IS NOT NULL AND h.grid_code = '') AS unassigned,
        count(*) FILTER (WHERE h.geocoded IS NOT NULL) AS geocoded
    FROM {households} h WHERE h.key_row NOT IN (SELECT row FROM import_bad)
) h CROSS JOIN (
    SELECT count(*) AS residents FROM {rows} r
    WHERE r.has_resident AND r.row NOT IN (SELECT row FROM import_bad) AND r.key_row NOT IN (SELECT row FROM import_bad)
) r
"""

# Writing: ids are drawn from the tables' own sequences first, so residents and tags can name their
# household without a round trip; then each table is filled by one INSERT ... SELECT. The households go
# in as the staging table holds them, unsorted (sorting 1M rows again cost 0.9 s): nothing depends on
# their order, since residents and tags name them by the ids already drawn.
WRITE = [
    # New index entries of the address search collect in GIN's pending list and are merged in bulk.
    "SET LOCAL gin_pending_list_limit = '256MB'",
    """CREATE TEMP TABLE import_members ON COMMIT DROP AS
       SELECT r.row, r.key_row, nextval({resident_sequence}) AS id
       FROM {rows} r
       WHERE r.has_resident AND r.row NOT IN (SELECT row FROM import_bad)
         AND r.key_row NOT IN (SELECT row FROM import_bad)
       ORDER BY r.row""",
    """INSERT INTO residents_household (id, ref, address, building_id, unit_no, room, housing_type, size, source,
           location, grid_code, unit_code, created_at, updated_at)
       SELECT h.id, coalesce(h.household_ref, ''), h.address, coalesce(h.building_id, b.id), coalesce(h.unit_no, ''),
           coalesce(h.room, ''), coalesce(h.housing_code, ''), coalesce(h.size_num, m.members, 0),
           coalesce(h.source_code, 'grid_visit'), h.geom, h.grid_code, h.unit_code, now(), now()
       FROM {households} h
       LEFT JOIN residents_building b ON b.ref = h.building
       LEFT JOIN (SELECT key_row, count(*) AS members FROM import_members GROUP BY key_row) m ON m.key_row = h.key_row
       WHERE h.key_row NOT IN (SELECT row FROM import_bad)""",
    """INSERT INTO residents_resident (id, household_id, name, id_number, id_number_index, phone, phone_index, gender,
           birth_date, relation, residence_status, unit_code, created_at, updated_at)
       SELECT m.id, h.id, r.name, coalesce(p.id_number, ''), coalesce(p.id_number_index, ''), coalesce(p.phone, ''),
           coalesce(p.phone_index, ''), coalesce(r.gender_code, p.id_gender, ''), coalesce(r.birth, p.id_birth),
           coalesce(r.relation_code, 'other'), coalesce(r.status_code, 'registered'), h.unit_code, now(), now()
       FROM import_members m
       JOIN {rows} r ON r.row = m.row
       JOIN {households} h ON h.key_row = m.key_row
       LEFT JOIN {personal} p ON p.row = m.row
       ORDER BY m.id""",
    """INSERT INTO residents_household_tags (household_id, attentiontag_id)
       SELECT DISTINCT h.id, a.id FROM {households} h
       CROSS JOIN LATERAL unnest(string_to_array(h.household_tags, ';')) AS tag
       JOIN residents_attentiontag a ON a.applies_to = 'household' AND (a.code = btrim(tag) OR a.name = btrim(tag))
       WHERE h.key_row NOT IN (SELECT row FROM import_bad) AND h.household_tags IS NOT NULL""",
    """INSERT INTO residents_resident_tags (resident_id, attentiontag_id)
       SELECT DISTINCT m.id, a.id FROM import_members m JOIN {rows} r ON r.row = m.row
       CROSS JOIN LATERAL unnest(string_to_array(r.resident_tags, ';')) AS tag
       JOIN residents_attentiontag a ON a.applies_to = 'resident' AND (a.code = btrim(tag) OR a.name = btrim(tag))
       WHERE r.resident_tags IS NOT NULL""",
]

BUILDINGS_CREATE = f"""
CREATE UNLOGGED TABLE {{table}} AS
SELECT s.row, {{ref}} AS ref, {{address}} AS address, {{lon}} AS lon, {{lat}} AS lat, {{floors}} AS floors,
    {{units}} AS units,
    CASE WHEN {{lon}} ~ {NUMBER} AND {{lat}} ~ {NUMBER} AND abs({{lon}}::float8) <= 180 AND abs({{lat}}::float8) <= 90
         THEN ST_SetSRID(ST_MakePoint({{lon}}::float8, {{lat}}::float8), 4326) END AS geom,
    ''::varchar(15) AS grid_code, ''::varchar(15) AS unit_code
FROM {{staged}} s
"""

BUILDINGS_PROBLEMS = """
SELECT row, 'address_missing', NULL FROM {table} WHERE address IS NULL OR ref IS NULL
UNION ALL
SELECT row, 'not_a_number', coalesce(lon, '') || ', ' || coalesce(lat, '') FROM {table} WHERE geom IS NULL
UNION ALL
SELECT row, 'bad_size', coalesce(floors, '') || ' / ' || coalesce(units, '') FROM {table}
WHERE (floors IS NOT NULL AND floors !~ '^[0-9]{{1,3}}$') OR (units IS NOT NULL AND units !~ '^[0-9]{{1,2}}$')
UNION ALL
SELECT row, 'duplicate_ref', ref FROM (
    SELECT row, ref, row_number() OVER (PARTITION BY ref ORDER BY row) AS nth FROM {table} WHERE ref IS NOT NULL
) d WHERE nth > 1
UNION ALL
SELECT t.row, 'duplicate_ref', t.ref FROM {table} t JOIN residents_building b ON b.ref = t.ref
"""

BUILDINGS_WRITE = """
INSERT INTO residents_building (ref, address, floors, units, location, grid_code, unit_code, created_at, updated_at)
SELECT ref, address, floors::smallint, units::smallint, geom, grid_code, unit_code, now(), now()
FROM {table} ORDER BY row
"""
