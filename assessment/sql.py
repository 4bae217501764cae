"""The rollup statements: each reads the raw records once and groups them by unit at all five levels."""

# Each record counts for its unit and every unit above it: one row per level, NULL where the record's
# code is too short (a point in no grid cell counts from its community up). City and district codes
# have six digits; only a district's ends in something other than 00.
LEVELS = """
CROSS JOIN LATERAL (VALUES
    (5, CASE WHEN length({code}) = 15 THEN {code} END),
    (4, CASE WHEN length({code}) >= 12 THEN left({code}, 12) END),
    (3, CASE WHEN length({code}) >= 9 THEN left({code}, 9) END),
    (2, CASE WHEN length({code}) >= 9 OR (length({code}) = 6 AND right({code}, 2) <> '00')
             THEN left({code}, 6) END),
    (1, CASE WHEN length({code}) >= 6 THEN left({code}, 4) || '00' END)
) AS l(level, subject)
"""


def levels(code: str) -> str:
    return LEVELS.format(code=code)


# Incidents touching the period, with their category's deadlines (a minor class falls back on its major).
_INCIDENTS = """
WITH i AS (
    SELECT i.*,
        coalesce(c.accept_hours, p.accept_hours) AS ah,
        coalesce(c.dispatch_hours, p.dispatch_hours) AS dh,
        coalesce(c.resolve_hours, p.resolve_hours) AS rh,
        i.reported_at >= %(start)s AND i.reported_at < %(end)s AS new,
        i.resolved_at >= %(start)s AND i.resolved_at < %(end)s AS done,
        i.accepted_at >= %(start)s AND i.accepted_at < %(end)s AS taken,
        i.evaluated_at >= %(start)s AND i.evaluated_at < %(end)s AS judged,
        extract(epoch FROM i.resolved_at - i.reported_at) / 3600 AS hours
    FROM incidents_incident i
    JOIN incidents_category c ON c.id = i.category_id
    LEFT JOIN incidents_category p ON p.id = c.parent_id
    WHERE (i.reported_at >= %(start)s AND i.reported_at < %(end)s)
       OR (i.resolved_at >= %(start)s AND i.resolved_at < %(end)s)
       OR (i.accepted_at >= %(start)s AND i.accepted_at < %(end)s)
       OR (i.evaluated_at >= %(start)s AND i.evaluated_at < %(end)s)
)
"""

_INCIDENT_COUNTS = """
    count(*) FILTER (WHERE new) AS incidents_reported,
    count(*) FILTER (WHERE new AND source IN ('patrol', 'visit_log')) AS incidents_found,
    count(*) FILTER (WHERE new AND source NOT IN ('patrol', 'visit_log')) AS incidents_from_residents,
    count(*) FILTER (WHERE taken) AS incidents_accepted,
    count(*) FILTER (WHERE done) AS incidents_resolved,
    count(*) FILTER (WHERE new AND accepted_at <= reported_at + ah * interval '1 hour') AS accept_on_time_n,
    count(*) FILTER (WHERE new AND (accepted_at IS NOT NULL OR reported_at + ah * interval '1 hour' < %(now)s))
        AS accept_on_time_d,
    count(*) FILTER (WHERE new AND dispatched_at <= accepted_at + dh * interval '1 hour') AS dispatch_on_time_n,
    count(*) FILTER (WHERE new AND accepted_at IS NOT NULL
        AND (dispatched_at IS NOT NULL OR accepted_at + dh * interval '1 hour' < %(now)s)) AS dispatch_on_time_d,
    count(*) FILTER (WHERE done AND resolved_at <= coalesce(dispatched_at, reported_at) + rh * interval '1 hour')
        AS resolve_on_time_n,
    count(*) FILTER (WHERE done) AS resolve_on_time_d,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY hours) FILTER (WHERE done) AS median_hours_to_resolve,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY hours) FILTER (WHERE done) AS p90_hours_to_resolve,
    count(*) FILTER (WHERE new AND escalation_level > 0) AS escalation_rate_n,
    count(*) FILTER (WHERE new) AS escalation_rate_d,
    count(*) FILTER (WHERE done AND reopen_count > 0) AS reopen_rate_n,
    count(*) FILTER (WHERE done) AS reopen_rate_d,
    count(*) FILTER (WHERE judged AND satisfaction >= 4) AS satisfied_share_n,
    count(*) FILTER (WHERE judged) AS satisfied_share_d,
    sum(satisfaction) FILTER (WHERE judged) AS mean_satisfaction_n,
    count(*) FILTER (WHERE judged) AS mean_satisfaction_d,
    count(*) FILTER (WHERE done AND evaluated_at IS NOT NULL) AS evaluation_rate_n,
    count(*) FILTER (WHERE done) AS evaluation_rate_d
"""

UNIT_INCIDENTS = (
    _INCIDENTS
    + f"""
SELECT l.level, l.subject, {_INCIDENT_COUNTS}
FROM i {levels("i.unit_code")}
WHERE l.subject IS NOT NULL
GROUP BY l.level, l.subject
"""
)

# People: what they handled as assignee, and (separately) what they found themselves.
PERSON_ASSIGNED = (
    _INCIDENTS
    + f"""
SELECT NULL::int AS level, i.assignee_id::text AS subject, {_INCIDENT_COUNTS}
FROM i WHERE i.assignee_id IS NOT NULL
GROUP BY i.assignee_id
"""
)

PERSON_FOUND = (
    _INCIDENTS
    + """
SELECT i.reporter_user_id::text, count(*) FILTER (WHERE new AND source IN ('patrol', 'visit_log'))
FROM i WHERE i.reporter_user_id IS NOT NULL
GROUP BY i.reporter_user_id
"""
)

UNIT_VISITS = f"""
WITH v AS (
    SELECT v.id, coalesce(nullif(v.grid_code, ''), v.unit_code) AS code, v.visited_at
    FROM incidents_visitlog v WHERE v.visited_at < %(end)s
), visited AS (
    SELECT DISTINCT coalesce(nullif(h.unit_code, ''), v.code) AS code, l.household_id
    FROM v JOIN incidents_visitlog_households l ON l.visitlog_id = v.id
    JOIN residents_household h ON h.id = l.household_id
    WHERE v.visited_at >= %(start)s
)
SELECT lv.level, lv.subject, 'visits' AS part, count(*) FILTER (WHERE v.visited_at >= %(start)s)::float8,
    max(v.visited_at) AS last
FROM v {levels("v.code").replace("AS l(level, subject)", "AS lv(level, subject)")}
WHERE lv.subject IS NOT NULL GROUP BY 1, 2
UNION ALL
SELECT lv.level, lv.subject, 'visited_households', count(DISTINCT visited.household_id)::float8, NULL
FROM visited {levels("visited.code").replace("AS l(level, subject)", "AS lv(level, subject)")}
WHERE lv.subject IS NOT NULL GROUP BY 1, 2
"""

# The state of the basic data when the rollup runs (not of the period: it has no history).
UNIT_BASIC_DATA = f"""
SELECT l.level, l.subject,
    count(*) AS households,
    count(*) FILTER (WHERE h.address <> '' AND h.housing_type <> '') AS complete_households,
    count(*) FILTER (WHERE h.updated_at >= %(fresh_since)s) AS fresh_households,
    count(*) FILTER (WHERE h.grid_code = '') AS unassigned
FROM residents_household h {levels("h.unit_code")}
WHERE l.subject IS NOT NULL
GROUP BY 1, 2
"""

UNIT_RESIDENTS = f"""
SELECT l.level, l.subject, count(*) AS residents,
    count(*) FILTER (WHERE r.id_number_index <> '' AND r.gender <> '' AND r.birth_date IS NOT NULL
        AND r.phone_index <> '') AS complete_residents
FROM residents_resident r {levels("r.unit_code")}
WHERE l.subject IS NOT NULL
GROUP BY 1, 2
"""

PERSON_VISITS = """
SELECT v.worker_id::text,
    count(*) FILTER (WHERE v.visited_at >= %(start)s) AS visits,
    max(v.visited_at) AS last,
    (SELECT count(DISTINCT l.household_id) FROM incidents_visitlog w
     JOIN incidents_visitlog_households l ON l.visitlog_id = w.id
     WHERE w.worker_id = v.worker_id AND w.visited_at >= %(start)s AND w.visited_at < %(end)s) AS visited
FROM incidents_visitlog v
WHERE v.visited_at < %(end)s
GROUP BY v.worker_id
"""

# The households in each person's cells: those under their capture bindings.
PERSON_HOUSEHOLDS = """
SELECT b.user_id::text, count(h.id)
FROM accounts_unitbinding b
JOIN residents_household h ON h.unit_code LIKE b.unit_code || '%%'
WHERE b.kind = 'capture'
GROUP BY b.user_id
"""

PERSON_UNITS = """
SELECT b.user_id::text, min(b.unit_code)
FROM accounts_unitbinding b JOIN accounts_user_groups g ON g.user_id = b.user_id
JOIN auth_group r ON r.id = g.group_id AND r.name = %(role)s
GROUP BY b.user_id
"""

# Attention groups: how many residents (or households) carry each tag, per unit.
UNIT_TAGS = f"""
SELECT l.level, l.subject, 'tag_' || a.code AS key, count(*) AS n
FROM residents_resident_tags t
JOIN residents_attentiontag a ON a.id = t.attentiontag_id
JOIN residents_resident r ON r.id = t.resident_id {levels("r.unit_code")}
WHERE l.subject IS NOT NULL
GROUP BY 1, 2, 3
UNION ALL
SELECT l.level, l.subject, 'tag_' || a.code, count(*)
FROM residents_household_tags t
JOIN residents_attentiontag a ON a.id = t.attentiontag_id
JOIN residents_household h ON h.id = t.household_id {levels("h.unit_code")}
WHERE l.subject IS NOT NULL
GROUP BY 1, 2, 3
"""

# Workload now: open cases, and those past the deadline of their step, by the place they lie in.
UNIT_WORKLOAD = f"""
SELECT l.level, l.subject,
    count(*) AS open_incidents,
    count(*) FILTER (WHERE i.due_at < %(now)s) AS overdue_incidents
FROM incidents_incident i {levels("i.unit_code")}
WHERE l.subject IS NOT NULL
  AND i.status IN ('reported', 'accepted', 'dispatched', 'in_progress', 'returned', 'escalated')
GROUP BY 1, 2
"""
