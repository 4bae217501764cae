"""Backups: the database (pg_dump custom format) and the uploaded files in one directory, and their restore."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from psycopg import sql

FORMAT = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
# Uploaded files, one archive per root: public media and the private files (photos, imports) served by the API.
ARCHIVES = {"media": "media.tar", "private": "private.tar"}

# Entries of the dump that are not restored. Extensions belong to the server's administrator: a new database has
# them from template1 (`make db` puts them there) and the application's role may neither create nor drop them.
# spatial_ref_sys is PostGIS's own table, writable only by a superuser; GeoGrid uses only SRIDs PostGIS ships.
_EXTENSION_ENTRY = re.compile(r"^\d+; \d+ \d+ EXTENSION - (\S+)")
_SKIPPED_ENTRY = re.compile(r"^\d+; \d+ \d+ (EXTENSION - |COMMENT - EXTENSION |TABLE DATA \S+ spatial_ref_sys )")


class BackupError(Exception):
    """A backup that cannot be made, checked or restored; the message says why."""


@dataclass
class RestoreResult:
    database: str
    # Where the database and the file directories replaced by the restore were kept (unless dropped).
    previous_database: str | None = None
    previous_directories: list[Path] = field(default_factory=list)
    # Migrations of this code that the restored database has not had (run `make migrate`).
    unapplied_migrations: int = 0


def file_roots() -> dict[str, Path]:
    return {"media": Path(settings.MEDIA_ROOT), "private": Path(settings.GEOGRID_PRIVATE_ROOT)}


def _stamp() -> str:
    return timezone.localtime().strftime("%Y%m%d-%H%M%S")


def _pg_env(database: dict) -> dict[str, str]:
    # Connection parameters go to the PostgreSQL tools through their environment, the password included, so
    # that none of them shows in a process list.
    values = {
        "PGHOST": database.get("HOST") or "",
        "PGPORT": str(database.get("PORT") or ""),
        "PGUSER": database.get("USER") or "",
        "PGPASSWORD": database.get("PASSWORD") or "",
        "PGDATABASE": database["NAME"],
    }
    return {**os.environ, **{key: value for key, value in values.items() if value}}


def _connect(database: dict, name: str | None = None) -> psycopg.Connection:
    params = {
        "dbname": name or database["NAME"],
        "user": database.get("USER") or None,
        "password": database.get("PASSWORD") or None,
        "host": database.get("HOST") or None,
        "port": database.get("PORT") or None,
    }
    return psycopg.connect(**{key: value for key, value in params.items() if value}, autocommit=True)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (scripts/install-system.sh installs the PostgreSQL client).")
    return path


def _run(command: list, database: dict) -> str:
    finished = subprocess.run(
        [str(part) for part in command], env=_pg_env(database), capture_output=True, text=True, check=False
    )
    if finished.returncode != 0:
        raise BackupError(f"{Path(str(command[0])).name} failed: {finished.stderr.strip()}")
    return finished.stdout


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _archive(root: Path, target: Path) -> int:
    """Writes the files under root (none if it does not exist) into a tar archive; returns how many files."""
    count = 0
    with tarfile.open(target, "w") as tar:
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
                count += path.is_file()
    return count


def _describe(database: dict) -> tuple[str, dict[str, str]]:
    """The server's version and the last migration of each app (none in a database never migrated)."""
    try:
        with _connect(database) as conn:
            server_version = conn.execute("SHOW server_version").fetchone()[0]
            try:
                rows = conn.execute("SELECT app, max(name) FROM django_migrations GROUP BY app ORDER BY app")
            except psycopg.errors.UndefinedTable:
                return server_version, {}
            return server_version, dict(rows)
    except psycopg.OperationalError as exc:
        raise BackupError(f"Cannot connect to the database {database['NAME']}: {exc}") from None


def backup_create(*, destination: Path | str | None = None, database: dict | None = None, roots=None) -> Path:
    """
    Writes a new directory (var/backups/geogrid-<time>/ unless told where) holding the database's dump, an
    archive of each directory of uploaded files, and a manifest with their checksums. It appears only once
    complete: it is built under `<name>.partial` and renamed.
    """
    database = database or settings.DATABASES[DEFAULT_DB_ALIAS]
    roots = roots or file_roots()
    destination = Path(destination) if destination else Path(settings.GEOGRID_BACKUP_ROOT) / f"geogrid-{_stamp()}"
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise BackupError(f"{destination} already exists; choose a new directory.")
    partial = destination.with_name(f"{destination.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        server_version, migrations = _describe(database)
        # The database before the files: an upload made meanwhile is an extra file in the backup, never a row
        # whose file is missing.
        _run([_tool("pg_dump"), "--format=custom", "--file", partial / DUMP], database)
        counts = {key: _archive(Path(root), partial / ARCHIVES[key]) for key, root in roots.items()}
        manifest = {
            "format": FORMAT,
            "created_at": timezone.now().isoformat(),
            "database": {"name": database["NAME"], "server_version": server_version, "migrations": migrations},
            "files": {
                name: {"sha256": _sha256(partial / name), "bytes": (partial / name).stat().st_size}
                for name in [DUMP, *(ARCHIVES[key] for key in roots)]
            },
            "file_counts": counts,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        if destination.exists():
            destination.rmdir()
        partial.rename(destination)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return destination


def backup_verify(*, source: Path | str) -> dict:
    """The manifest of a backup whose every file is present and unchanged; BackupError naming the first that is not."""
    source = Path(source)
    if not (source / MANIFEST).is_file():
        raise BackupError(f"{source} is not a GeoGrid backup: {MANIFEST} is missing.")
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except ValueError as exc:
        raise BackupError(f"{source / MANIFEST} is not readable: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source} has backup format {manifest.get('format')!r}; this code reads {FORMAT}.")
    files = manifest.get("files", {})
    if DUMP not in files:
        raise BackupError(f"{source / MANIFEST} lists no database dump.")
    for name, expected in files.items():
        path = source / name
        if not path.is_file():
            raise BackupError(f"{path} is missing.")
        if _sha256(path) != expected["sha256"]:
            raise BackupError(f"{path} is damaged: its checksum differs from the manifest's.")
    return manifest


def _stage_files(archive: Path, root: Path, stamp: str) -> Path:
    """Unpacks an archive beside root (same file system, so that swapping it in is a rename)."""
    staging = root.parent / f".{root.name}.restoring-{stamp}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        # The "data" filter refuses absolute paths, links leading outside and device files.
        tar.extractall(staging, filter="data")
    return staging


def _restore_list(dump: Path, database: dict, listing: Path) -> list[str]:
    """Writes the dump's table of contents without the skipped entries; returns the extensions the dump uses."""
    entries = _run([_tool("pg_restore"), "--list", dump], database).splitlines()
    listing.write_text("\n".join(line for line in entries if not _SKIPPED_ENTRY.match(line)) + "\n")
    return [match.group(1) for line in entries if (match := _EXTENSION_ENTRY.match(line))]


def _ensure_extensions(database: dict, name: str, extensions: list[str]) -> None:
    with _connect(database, name) as conn:
        present = {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}
        for extension in extensions:
            if extension in present:
                continue
            try:
                conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(extension)))
            except psycopg.Error:
                raise BackupError(
                    f"The new database lacks the extension {extension}, which only a superuser may create: "
                    "create it in template1 (`make db` does)."
                ) from None


def _drop_database(database: dict, name: str) -> None:
    with _connect(database, "postgres") as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def _unapplied_migrations(database: dict) -> int:
    with _connect(database) as conn:
        try:
            applied = set(conn.execute("SELECT app, name FROM django_migrations"))
        except psycopg.errors.UndefinedTable:  # a backup of a database never migrated
            applied = set()
    return len(set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations) - applied)


def backup_restore(
    *, source: Path | str, database: dict | None = None, roots=None, drop_previous: bool = False
) -> RestoreResult:
    """
    Replaces the database and the uploaded files with a backup's. The backup is checked first, then restored
    into a new database and new directories; only when all of that has worked are they swapped in (renames),
    so a failure leaves everything as it was. What they replace is kept beside them (`<name>_before_restore_<time>`)
    unless drop_previous. The application must be stopped: sessions connected to the database refuse the swap.
    """
    source = Path(source)
    backup_verify(source=source)
    database = database or settings.DATABASES[DEFAULT_DB_ALIAS]
    roots = {key: Path(root) for key, root in (roots or file_roots()).items()}
    name, stamp = database["NAME"], _stamp()
    incoming, previous = f"{name}_restoring", f"{name}_before_restore_{stamp.replace('-', '')}"
    if len(previous.encode()) > 63:
        raise BackupError(f"The database name {name} is too long to keep the previous database beside it.")
    staged: dict[str, Path] = {}
    try:
        for key, root in roots.items():
            archive = source / ARCHIVES[key]
            if archive.is_file():
                staged[key] = _stage_files(archive, root, stamp)
        handle, listing = tempfile.mkstemp(prefix="geogrid-restore-", suffix=".list")
        os.close(handle)
        listing = Path(listing)
        try:
            extensions = _restore_list(source / DUMP, database, listing)
            with _connect(database, "postgres") as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(incoming)))
                try:
                    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(incoming)))
                except psycopg.errors.InsufficientPrivilege:
                    raise BackupError(f"The role {database.get('USER')} may not create databases.") from None
            _ensure_extensions(database, incoming, extensions)
            # One transaction: a dump that does not restore leaves nothing behind.
            restore = [_tool("pg_restore"), "--no-owner", "--no-privileges", "--single-transaction"]
            _run([*restore, "--use-list", listing, "--dbname", incoming, source / DUMP], database)
        finally:
            listing.unlink(missing_ok=True)
        result = _swap_database(database, name, incoming, previous, drop_previous)
    except BaseException:
        for path in staged.values():
            shutil.rmtree(path, ignore_errors=True)
        # The reason of the failure matters more than a half-restored database left behind (the next restore
        # drops it first).
        with contextlib.suppress(psycopg.Error):
            _drop_database(database, incoming)
        raise
    for key, path in staged.items():
        root = roots[key]
        if root.exists():
            kept = root.parent / f"{root.name}.before-restore-{stamp}"
            root.rename(kept)
            if drop_previous:
                shutil.rmtree(kept)
            else:
                result.previous_directories.append(kept)
        root.parent.mkdir(parents=True, exist_ok=True)
        path.rename(root)
    result.unapplied_migrations = _unapplied_migrations(database)
    return result


def _swap_database(database: dict, name: str, incoming: str, previous: str, drop_previous: bool) -> RestoreResult:
    # This process's own connections would block the rename as any other would.
    for alias in connections:
        if connections[alias].settings_dict.get("NAME") == name:
            connections[alias].close()
    with _connect(database, "postgres") as admin:
        others = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name]
        ).fetchone()[0]
        if others:
            raise BackupError(
                f"{others} session(s) are connected to the database {name}: stop the application, its workers "
                "and its periodic jobs, then restore again."
            )
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None
        rename = sql.SQL("ALTER DATABASE {} RENAME TO {}")
        try:
            if exists:
                admin.execute(rename.format(sql.Identifier(name), sql.Identifier(previous)))
            try:
                admin.execute(rename.format(sql.Identifier(incoming), sql.Identifier(name)))
            except psycopg.Error:
                if exists:
                    admin.execute(rename.format(sql.Identifier(previous), sql.Identifier(name)))
                raise
        except psycopg.errors.ObjectInUse:
            raise BackupError(
                f"A session connected to the database {name} meanwhile: stop the application and restore again."
            ) from None
        if exists and drop_previous:
            admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(previous)))
    return RestoreResult(database=name, previous_database=previous if exists and not drop_previous else None)
