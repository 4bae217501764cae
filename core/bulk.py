"""Bulk writes: a load larger than the table it goes into builds the table's indexes once, at the end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from psycopg import sql as pgsql


@dataclass
class IndexRebuild:
    """What `indexes_rebuilt_after` did: the indexes it set aside and built again (empty when it kept them)."""

    table: str
    indexes: list[str] = field(default_factory=list)

    @property
    def rebuilt(self) -> bool:
        return bool(self.indexes)


def _holds_fewer_rows(cursor, table: str, rows: int) -> bool:
    """Whether `table` holds fewer than `rows` rows: an exact count that stops at `rows`."""
    cursor.execute(
        pgsql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT %s) t")
        .format(pgsql.Identifier(table))
        .as_string(cursor.cursor),
        [rows],
    )
    return cursor.fetchone()[0] < rows


@contextmanager
def indexes_rebuilt_after(cursor, table: str, incoming: int) -> Iterator[IndexRebuild]:
    """
    Around the bulk insert of `incoming` rows into `table`, inside the caller's transaction. When the
    load is at least `GEOGRID_BULK_REBUILD_MIN_ROWS` rows and more than the table holds, the table's
    indexes (unique ones and the primary key excepted, so duplicates are still refused row by row) are
    dropped first and created again from their own definitions afterwards: building an index once
    over all rows is many times faster than growing it row by row (a GiST index by sorting, a trigram
    GIN in one pass). Readers of the table wait for the transaction meanwhile, which a first load of
    a city can afford; a smaller load into a large table keeps its indexes and readers. A failure
    rolls the drop back with everything else.
    """
    result = IndexRebuild(table=table)
    minimum = settings.GEOGRID_BULK_REBUILD_MIN_ROWS
    if minimum <= 0 or incoming < minimum or not _holds_fewer_rows(cursor, table, incoming):
        yield result
        return
    cursor.execute(
        """
        SELECT c.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = %s::regclass AND NOT i.indisunique AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
        ORDER BY c.relname
        """,
        [table],
    )
    definitions = cursor.fetchall()
    for name, _definition in definitions:
        cursor.execute(pgsql.SQL("DROP INDEX {}").format(pgsql.Identifier(name)).as_string(cursor.cursor))
    result.indexes = [name for name, _definition in definitions]
    yield result
    # Foreign keys are checked at commit; an index cannot be built over rows whose checks are pending.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    # Sorting and GIN building get the memory they need for this transaction only.
    cursor.execute("SELECT set_config('maintenance_work_mem', %s, true)", [settings.GEOGRID_BULK_MAINTENANCE_WORK_MEM])
    for _name, definition in definitions:
        cursor.execute(definition)


def analyze(cursor, table: str) -> None:
    """
    ANALYZE `table` after a bulk load, each column sampled as its own statistics target asks. A plain
    ANALYZE samples every column (and every expression index) as deeply as the column with the highest
    target: 300,000 rows for one column at 1,000, where the rest need 30,000 (for 1M households, 6 s
    instead of 1.4 s). So the raised targets are lowered for one ANALYZE of the whole table, then
    restored and their columns analysed alone. SET STATISTICS takes only the lock ANALYZE itself
    takes; the change never outlives the transaction.
    """
    cursor.execute(
        """
        SELECT attname, attstattarget FROM pg_attribute
        WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped
          AND attstattarget > current_setting('default_statistics_target')::int
        ORDER BY attnum
        """,
        [table],
    )
    raised = cursor.fetchall()
    name = pgsql.Identifier(table)

    def run(statement: str, *args: pgsql.Composable) -> None:
        cursor.execute(pgsql.SQL(statement).format(name, *args).as_string(cursor.cursor))

    if raised:
        # ALTER TABLE refuses a table with foreign-key checks still queued: they run now, not at commit.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    for column, _target in raised:
        run("ALTER TABLE {} ALTER COLUMN {} SET STATISTICS -1", pgsql.Identifier(column))
    run("ANALYZE {}")
    if raised:
        for column, target in raised:
            run("ALTER TABLE {} ALTER COLUMN {} SET STATISTICS {}", pgsql.Identifier(column), pgsql.Literal(target))
        run("ANALYZE {} ({})", pgsql.SQL(", ").join(pgsql.Identifier(column) for column, _target in raised))
