"""Loading CSV and XLSX files into a staging table, with per-row problems and a rejects file."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import DataError, connection, transaction
from django.utils.translation import gettext as _
from psycopg import sql as pgsql

from core.files import UnsafeFile, check_archive, check_table_content, content_kind

ERROR = "error"
WARNING = "warning"
MAX_COLUMNS = 200

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def no_progress(stage: str, done: int, total: int) -> None:
    return None


class TableFileError(Exception):
    """The file as a whole cannot be read (missing, empty, wrong encoding, broken structure...)."""

    def __init__(self, kind: str, message: str, line: int | None = None):
        super().__init__(message)
        self.kind, self.message, self.line = kind, message, line


@dataclass
class RowProblem:
    kind: str
    message: str
    row: int | None = None  # data row number, 1 = the first row under the header
    column: str | None = None  # the column's header in the file
    severity: str = ERROR


@dataclass
class TableReport:
    """What an import of a table found and did; a dry run and a refused commit write nothing but this."""

    source: str
    rows: int = 0
    committed: bool = False
    skip_bad: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[RowProblem] = field(default_factory=list)
    rejects: list[int] = field(default_factory=list)  # rows left out by --skip-bad
    indexes_rebuilt: list[str] = field(default_factory=list)  # built once after a bulk load (core.bulk)

    @property
    def errors(self) -> list[RowProblem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[RowProblem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def fatal(self) -> bool:
        """A problem with the whole file (not with one row): nothing can be imported."""
        return any(p.row is None for p in self.errors)

    @property
    def ok(self) -> bool:
        return not self.errors or (self.skip_bad and not self.fatal)

    @property
    def bad_rows(self) -> list[int]:
        return sorted({p.row for p in self.errors if p.row is not None})

    def add(self, kind, message, *, row=None, column=None, severity=ERROR) -> None:
        self.problems.append(RowProblem(kind=kind, message=str(message), row=row, column=column, severity=severity))

    def as_dict(self, limit: int = 1000) -> dict:
        return {
            "source": self.source,
            "rows": self.rows,
            "committed": self.committed,
            "ok": self.ok,
            "counts": self.counts,
            "bad_rows": len(self.bad_rows),
            # Every problem is counted; at most `limit` of each kind are listed.
            "error_count": len(self.errors),
            "warning_count": len(self.warnings),
            "errors": [asdict(p) for p in self.errors[:limit]],
            "warnings": [asdict(p) for p in self.warnings[:limit]],
            "truncated": len(self.errors) > limit or len(self.warnings) > limit,
        }

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2)

    def as_text(self, limit: int = 50) -> str:
        lines = [_("Import of %(source)s: %(rows)d rows.") % {"source": self.source, "rows": self.rows}]
        if self.counts:
            lines.append(", ".join(f"{name}: {value}" for name, value in self.counts.items()))
        for title, problems in ((_("Errors"), self.errors), (_("Warnings"), self.warnings)):
            if not problems:
                continue
            lines.append(f"{title} ({len(problems)}):")
            for problem in problems[:limit]:
                where = []
                if problem.row is not None:
                    where.append(_("row %(row)d") % {"row": problem.row})
                if problem.column:
                    where.append(problem.column)
                prefix = f"[{', '.join(where)}] " if where else ""
                lines.append(f"  - {problem.kind}: {prefix}{problem.message}")
            if len(problems) > limit:
                lines.append(_("  ... and %(count)d more (see the rejects file)") % {"count": len(problems) - limit})
        if self.committed:
            lines.append(_("Committed."))
            if self.rejects:
                lines.append(_("%(count)d bad rows were left out.") % {"count": len(self.rejects)})
        elif self.errors:
            lines.append(_("Nothing was written: fix the errors (or pass --skip-bad) and run again."))
        else:
            lines.append(_("Dry run: nothing was written. Run again with --commit to write."))
        return "\n".join(lines)


def _sniff_encoding(head: bytes, encoding: str | None) -> str:
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise TableFileError("encoding", _("Unknown encoding %(name)s.") % {"name": encoding}) from None
        return encoding
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    # Incremental decoders: a multi-byte character may be cut at the end of the sample.
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        try:
            codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
        except UnicodeDecodeError:
            raise TableFileError("encoding", _("The file is neither UTF-8 nor GBK text.")) from None
        raise TableFileError(
            "encoding", _("The file is not UTF-8; it looks like GBK: pass --encoding gbk (or save it as UTF-8).")
        ) from None
    return "utf-8"


_PG_ENCODINGS = {
    "utf-8": "UTF8",
    "utf-8-sig": "UTF8",
    "utf8": "UTF8",
    "gbk": "GBK",
    "gb18030": "GB18030",
    "gb2312": "GBK",
    "cp936": "GBK",
    "latin-1": "LATIN1",
}


@dataclass
class StagedTable:
    """A file loaded into an unlogged table `name` with a `row` number and text columns c0, c1, ..."""

    name: str
    headers: list[str]
    rows: int

    def column(self, index: int) -> pgsql.Identifier:
        return pgsql.Identifier(f"c{index}")

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                pgsql.SQL("DROP TABLE IF EXISTS {}").format(pgsql.Identifier(self.name)).as_string(cursor.cursor)
            )


def _create_staging(cursor, headers: list[str]) -> str:
    name = f"import_{uuid.uuid4().hex}"
    columns = pgsql.SQL(", ").join(pgsql.SQL("{} text").format(pgsql.Identifier(f"c{i}")) for i in range(len(headers)))
    # Unlogged, not temporary: parallel workers can read it (the grid assignment uses both cores).
    cursor.execute(
        pgsql.SQL("CREATE UNLOGGED TABLE {} (row bigserial PRIMARY KEY, {})")
        .format(pgsql.Identifier(name), columns)
        .as_string(cursor.cursor)
    )
    return name


def _copy_statement(cursor, name: str, count: int, options: str) -> str:
    columns = pgsql.SQL(", ").join(pgsql.Identifier(f"c{i}") for i in range(count))
    return (
        pgsql.SQL("COPY {} ({}) FROM STDIN WITH (" + options + ")")
        .format(pgsql.Identifier(name), columns)
        .as_string(cursor.cursor)
    )


def _clean_headers(raw: list[str]) -> list[str]:
    headers = [(h or "").strip().lstrip("\ufeff") for h in raw]
    if not any(headers):
        raise TableFileError("empty", _("The file has no header row."))
    if len(headers) > MAX_COLUMNS:
        raise TableFileError("too_many_columns", _("The file has more than %(n)d columns.") % {"n": MAX_COLUMNS})
    return headers


def stage_file(
    path: Path, *, encoding: str | None = None, progress: Progress = no_progress
) -> tuple[StagedTable, list[tuple[int, int]]]:
    """
    Loads a CSV or XLSX file into a new unlogged staging table (dropped with the transaction, or by
    the caller). Returns it and the (row, line) of rows whose number of cells differs from the header.
    """
    if not path.exists():
        raise TableFileError("not_found", _("File %(path)s does not exist.") % {"path": path})
    if path.stat().st_size == 0:
        raise TableFileError("empty", _("The file is empty."))
    with path.open("rb") as handle:
        head = handle.read(65536)
    try:
        # What the content is, not what the name says: a workbook saved as .csv, binary data, a zip bomb.
        kind = content_kind(head)
        check_table_content(kind, path.suffix.lower(), path.name)
        if kind == "zip":
            check_archive(path, path.name)
    except UnsafeFile as exc:
        raise TableFileError(exc.kind, exc.message) from None
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _stage_xlsx(path, progress), []
    text_encoding = _sniff_encoding(head, encoding)
    with path.open(encoding=text_encoding, newline="") as handle:
        try:
            headers = _clean_headers(next(csv.reader(handle)))
        except StopIteration:
            raise TableFileError("empty", _("The file is empty.")) from None
        except (UnicodeDecodeError, csv.Error):
            raise TableFileError(
                "encoding", _("The header is not %(encoding)s text.") % {"encoding": text_encoding}
            ) from None
    size = path.stat().st_size
    pg_encoding = _PG_ENCODINGS.get(text_encoding.lower())
    if pg_encoding is not None:
        # Fast path: PostgreSQL parses the CSV itself. A savepoint lets a malformed file fall back.
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                name = _create_staging(cursor, headers)
                _copy_csv_fast(cursor, path, name, len(headers), pg_encoding, size, progress)
                rows = _count(name)
                _check_rows(rows)
            return StagedTable(name=name, headers=headers, rows=rows), []
        except (DataError, psycopg.DataError) as exc:
            if "invalid byte sequence" in str(exc) or "character with byte sequence" in str(exc):
                line = _line_of(exc)
                raise TableFileError(
                    "encoding",
                    _("Line %(line)s is not valid %(encoding)s text (broken encoding?).")
                    % {"line": line or "?", "encoding": text_encoding},
                    line,
                ) from None
    # Slow path: Python's csv reads the rows one by one, so rows with a wrong number of cells are
    # reported (and can be skipped) instead of failing the whole file.
    ragged: list[tuple[int, int]] = []
    with connection.cursor() as cursor:
        name = _create_staging(cursor, headers)
        try:
            _copy_rows(cursor, name, headers, _csv_rows(path, text_encoding), size, progress, ragged)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise TableFileError("malformed", _("The CSV file is malformed: %(reason)s") % {"reason": exc}) from None
    return StagedTable(name=name, headers=headers, rows=_count(name)), ragged


def _check_rows(rows: int) -> None:
    if rows > settings.GEOGRID_MAX_IMPORT_ROWS:
        raise TableFileError(
            "too_many_rows",
            _("The file has more than %(limit)d rows; split it into smaller files.")
            % {"limit": settings.GEOGRID_MAX_IMPORT_ROWS},
        )


def _count(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(pgsql.SQL("SELECT count(*) FROM {}").format(pgsql.Identifier(name)).as_string(cursor.cursor))
        return cursor.fetchone()[0]


def _line_of(exc: Exception) -> int | None:
    match = re.search(r"line (\d+)", str(exc))
    return int(match.group(1)) if match else None


def _copy_csv_fast(cursor, path: Path, name: str, count: int, pg_encoding: str, size: int, progress) -> None:
    statement = _copy_statement(cursor, name, count, f"FORMAT csv, HEADER true, ENCODING '{pg_encoding}'")
    done = 0
    with path.open("rb") as handle, cursor.cursor.copy(statement) as copy:
        if handle.read(3) != codecs.BOM_UTF8:
            handle.seek(0)
        while chunk := handle.read(1 << 20):
            copy.write(chunk)
            done += len(chunk)
            progress("reading", done, size)


def _csv_rows(path: Path, encoding: str) -> Iterator[tuple[int, list[str]]]:
    with path.open(encoding=encoding, newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for row in reader:
            yield reader.line_num, row


def _copy_rows(
    cursor,
    name: str,
    headers: list[str],
    rows: Iterable[tuple[int, list]],
    size: int,
    progress,
    ragged: list[tuple[int, int]] | None = None,
) -> None:
    """Writes rows through COPY one by one; rows with the wrong number of cells are padded and noted."""
    statement = _copy_statement(cursor, name, len(headers), "FORMAT text")
    width = len(headers)
    with cursor.cursor.copy(statement) as copy:
        for count, (line, row) in enumerate(rows, start=1):
            _check_rows(count)
            if len(row) != width:
                if ragged is not None:
                    ragged.append((count, line))
                row = (list(row) + [""] * width)[:width]
            copy.write_row([None if v is None or v == "" else str(v) for v in row])
            if count % 10000 == 0:
                progress("reading", count, size)


def _stage_xlsx(path: Path, progress: Progress) -> StagedTable:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, *_BROKEN_WORKBOOK) as exc:
        raise TableFileError("unreadable", _("The spreadsheet cannot be read: %(reason)s") % {"reason": exc}) from None
    try:
        return _stage_sheet(workbook, progress)
    except _BROKEN_WORKBOOK as exc:
        # A truncated or corrupt member shows only when its rows are read.
        raise TableFileError("unreadable", _("The spreadsheet cannot be read: %(reason)s") % {"reason": exc}) from None
    finally:
        workbook.close()


# What openpyxl raises for a workbook that is not one (not a zip, a member cut short or corrupt, broken XML).
_BROKEN_WORKBOOK = (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError, TypeError, SyntaxError)


def _stage_sheet(workbook, progress: Progress) -> StagedTable:
    sheet = workbook.worksheets[0]
    # A sheet states its size (its dimension), and openpyxl pads the rows up to it: a claim over the limit
    # is refused at once. A claim too small would make openpyxl leave the rows past it out, silently: the
    # rows are read to the sheet's real end instead (and counted), as wide as it claims.
    claimed_rows, columns = sheet.max_row or 0, sheet.max_column
    _check_rows(claimed_rows - 1)
    sheet.reset_dimensions()
    rows = sheet.iter_rows(max_col=columns, values_only=True)
    first = next(rows, None)
    if first is None:
        raise TableFileError("empty", _("The spreadsheet is empty."))
    headers = _clean_headers([str(v) if v is not None else "" for v in first])
    with connection.cursor() as cursor:
        name = _create_staging(cursor, headers)
        _copy_rows(
            cursor,
            name,
            headers,
            ((i, [_cell(v) for v in r]) for i, r in enumerate(rows, start=2)),
            claimed_rows,
            progress,
        )
    return StagedTable(name=name, headers=headers, rows=_count(name))


def _cell(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if hasattr(value, "isoformat"):
        return (
            value.isoformat()[:10] if hasattr(value, "hour") and not (value.hour or value.minute) else value.isoformat()
        )
    return str(value)


def resolve_columns(
    headers: list[str], aliases: Mapping[str, tuple[str, ...]], mapping: Mapping[str, str] | None = None
) -> tuple[dict[str, int], list[str]]:
    """(canonical column -> index in the file, problems). A mapping names headers explicitly."""
    lowered = {h.lower(): i for i, h in enumerate(headers) if h}
    found: dict[str, int] = {}
    problems: list[str] = []
    for canonical, names in aliases.items():
        if mapping and canonical in mapping:
            wanted = str(mapping[canonical]).strip()
            if wanted.lower() not in lowered:
                problems.append(
                    _("The mapping names column %(header)s for %(column)s, but the file has no such column.")
                    % {"header": wanted, "column": canonical}
                )
                continue
            found[canonical] = lowered[wanted.lower()]
            continue
        for name in names:
            if name.lower() in lowered:
                found[canonical] = lowered[name.lower()]
                break
    if mapping:
        unknown = sorted(set(mapping) - set(aliases))
        if unknown:
            problems.append(
                _("The mapping names unknown columns: %(names)s; known: %(known)s")
                % {"names": ", ".join(unknown), "known": ", ".join(aliases)}
            )
    return found, problems


def write_rejects(out, staged: StagedTable, report: TableReport) -> int:
    """The rows with errors, as the file had them, plus `error_columns` and `errors`: fix and re-import."""
    by_row: dict[int, list[RowProblem]] = {}
    for problem in report.errors:
        if problem.row is not None:
            by_row.setdefault(problem.row, []).append(problem)
    writer = csv.writer(out)
    writer.writerow([*staged.headers, "error_columns", "errors"])
    if not by_row:
        return 0
    columns = pgsql.SQL(", ").join(pgsql.Identifier(f"c{i}") for i in range(len(staged.headers)))
    with connection.cursor() as cursor:
        cursor.execute(
            pgsql.SQL("SELECT row, {} FROM {} WHERE row = ANY(%s) ORDER BY row")
            .format(columns, pgsql.Identifier(staged.name))
            .as_string(cursor.cursor),
            [sorted(by_row)],
        )
        for row, *values in cursor.fetchall():
            problems = by_row[row]
            writer.writerow(
                [
                    *["" if v is None else v for v in values],
                    "; ".join(sorted({p.column or "" for p in problems} - {""})),
                    "; ".join(p.message for p in problems),
                ]
            )
    return len(by_row)


def rejects_text(staged: StagedTable, report: TableReport) -> str:
    buffer = io.StringIO()
    write_rejects(buffer, staged, report)
    return buffer.getvalue()
