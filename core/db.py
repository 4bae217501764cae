"""Reads that skip Django's per-request connection health check and find a dead connection by failing instead."""

from __future__ import annotations

from django.db import connections

from core.errors import database_unavailable


def fetch_value(sql: str, params: list, *, using: str = "default"):
    """
    The first column of the first row of one read-only statement (None without a row).

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
        return _fetch(connection, sql, params)
    except Exception as exc:
        # Only a link that no longer works is retried; a statement's own error is the caller's.
        if not optimistic or not database_unavailable(exc) or connection.is_usable():
            raise
    connection.close()
    return _fetch(connection, sql, params)


def _fetch(connection, sql: str, params: list):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None
