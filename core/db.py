"""Reads that skip Django's per-request connection health check and find a dead connection by failing instead."""

from __future__ import annotations

import psycopg
from django.db import connections

from core.errors import database_unavailable


def fetch_value(sql: str, params: list, *, using: str = "default", binary: bool = False):
    """
    The first column of the first row of one read-only statement (None without a row).

    With `binary` the value arrives in PostgreSQL's binary format. A vector tile (bytea) then crosses
    as its own bytes instead of twice as many hex digits the server writes and the client decodes:
    0.24 ms instead of 1.19 ms to fetch a 200 KB value, 0.09 instead of 0.24 ms for 50 KB.

    With persistent connections Django checks a connection's health (`SELECT 1`, a round trip) before
    a request's first query. For a statement that costs a millisecond, as a small vector tile does,
    that check is a third of the work, so it is skipped here: a connection that died since its last
    use makes the statement fail instead, and then the statement runs once more on a new connection.
    Inside a transaction, where a retry could not stand alone, Django's own path is taken.
    """
    connection = connections[using]
    optimistic = connection.connection is not None and not connection.in_atomic_block
    if optimistic:
        connection.health_check_done = True
    try:
        return _fetch(connection, sql, params, binary)
    except Exception as exc:
        # Only a link that no longer works is retried; a statement's own error is the caller's.
        if not optimistic or not database_unavailable(exc) or connection.is_usable():
            raise
    connection.close()
    return _fetch(connection, sql, params, binary)


def _fetch(connection, sql: str, params: list, binary: bool):
    if binary:
        # Django's cursors bind parameters on the client, and such a cursor cannot ask for binary
        # results. The statement is composed here exactly as that cursor would send it, then sent
        # through a cursor of the same connection that asks for binary results, wrapped as Django
        # wraps its own (errors translated, the query logged where queries are).
        connection.close_if_health_check_failed()
        connection.ensure_connection()
        statement = connection.ops.compose_sql(sql, params)
        raw = psycopg.Cursor(connection.connection)
        raw.format = psycopg.pq.Format.BINARY
        connection.validate_thread_sharing()
        cursor = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
        sql, params = statement, None
    else:
        cursor = connection.cursor()
    with cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None
