"""Backups: a backup restored into a new database and new directories holds the same rows, geometries and files."""

import datetime as dt
import hashlib
import io
from pathlib import Path

import psycopg
import pytest
from django.contrib.gis.geos import Point
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from PIL import Image
from psycopg import sql

from accounts.selectors import scope_for_user
from assessment.services import kpi_refresh
from core import crypto
from core.backup import BackupError, backup_create, backup_restore, backup_verify
from incidents.models import Attachment
from incidents.services import visit_log_create
from tests.conftest import WOMAN_1949

# Every table with geometry the application writes, and the column.
GEOMETRIES = {
    "boundaries_gridunit": "geom",
    "residents_household": "location",
    "incidents_incident": "location",
    "incidents_visitlog": "location",
}


def connect(database: dict, name: str | None = None) -> psycopg.Connection:
    return psycopg.connect(
        dbname=name or database["NAME"],
        user=database["USER"],
        password=database["PASSWORD"],
        host=database["HOST"],
        port=database["PORT"],
        autocommit=True,
    )


def database_exists(database: dict, name: str) -> bool:
    with connect(database, "postgres") as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def drop_database(database: dict, name: str) -> None:
    with connect(database, "postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def fingerprint(database: dict) -> dict:
    """Row counts of every table, checksums of the geometries and encrypted columns, and the sequences."""
    with connect(database) as conn:
        tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        counts = {
            table: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
            for table in sorted(tables)
        }
        geometries = {
            table: conn.execute(
                sql.SQL("SELECT md5(string_agg(ST_AsEWKB({}), ''::bytea ORDER BY id)) FROM {}").format(
                    sql.Identifier(column), sql.Identifier(table)
                )
            ).fetchone()[0]
            for table, column in GEOMETRIES.items()
        }
        personal = conn.execute(
            "SELECT md5(string_agg(id_number || '|' || phone || '|' || id_number_index, ',' ORDER BY id))"
            " FROM residents_resident"
        ).fetchone()[0]
        sequences = dict(conn.execute("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"))
    return {"counts": counts, "geometries": geometries, "personal": personal, "sequences": sequences}


def file_checksums(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (30, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def file_roots(settings, tmp_path, monkeypatch):
    """Uploaded files go to directories of the test's own."""
    roots = {"media": tmp_path / "media", "private": tmp_path / "private"}
    settings.MEDIA_ROOT = roots["media"]
    settings.GEOGRID_PRIVATE_ROOT = roots["private"]
    # The attachments' field took its storage when the model was loaded: it is given one in the test's directory.
    field = Attachment._meta.get_field("file")
    monkeypatch.setattr(field, "storage", FileSystemStorage(location=roots["private"] / "files"))
    return roots


@pytest.fixture
def city_data(population, staff, report, file_roots):
    """The small city, its households and encrypted residents, incidents with a photo, a visit log, KPI rollups."""
    worker = staff["worker"]
    photo = SimpleUploadedFile("现场.png", png(), content_type="image/png")
    report(title="占道经营", files=[photo])
    report(point=Point(116.41, 39.905, srid=4326), category="E0402", by="east_dispatcher", source="hotline")
    visit_log_create(
        scope=scope_for_user(worker),
        worker=worker,
        visited_at=timezone.now() - dt.timedelta(hours=1),
        location=Point(116.386, 39.906, srid=4326),
        discussion="走访独居老人",
        households=[population["west"]],
    )
    kpi_refresh()
    exports = file_roots["media"] / "exports"
    exports.mkdir(parents=True)
    (exports / "地图.html").write_text("<html>网格</html>", encoding="utf-8")


@pytest.mark.django_db(transaction=True)
def test_a_backup_restores_into_a_new_database_with_the_same_data(city_data, file_roots, tmp_path):
    source = dict(connection.settings_dict)
    before = fingerprint(source)
    for table in (
        "boundaries_gridunit",
        "residents_resident",
        "incidents_incident",
        "incidents_attachment",
        "incidents_visitlog",
        "assessment_kpivalue",
        "auditlog_logentry",
    ):
        assert before["counts"][table] > 0, table
    photos = file_checksums(file_roots["private"])
    assert len(photos) == 1 and len(file_checksums(file_roots["media"])) == 1

    backup = backup_create(destination=tmp_path / "backups" / "nightly", database=source, roots=file_roots)
    manifest = backup_verify(source=backup)
    assert manifest["file_counts"] == {"media": 1, "private": 1}

    target = {**source, "NAME": f"{source['NAME']}_restored"}
    restored = {"media": tmp_path / "restored" / "media", "private": tmp_path / "restored" / "private"}
    drop_database(source, target["NAME"])
    kept = []
    try:
        result = backup_restore(source=backup, database=target, roots=restored)
        assert result.previous_database is None and result.previous_directories == []
        assert result.unapplied_migrations == 0
        assert fingerprint(target) == before
        for key, root in file_roots.items():
            assert file_checksums(restored[key]) == file_checksums(root), key
        # The ciphertext came back unchanged, and the keys of this installation still read it.
        with connect(target) as conn:
            cipher = conn.execute("SELECT id_number FROM residents_resident WHERE name = '张桂英'").fetchone()[0]
        assert cipher != WOMAN_1949 and crypto.decrypt(cipher) == WOMAN_1949

        # Restoring over a database (what `make restore` does) keeps the replaced one and its files aside.
        (restored["media"] / "exports" / "地图.html").write_text("changed since the backup", encoding="utf-8")
        with connect(target) as conn:
            conn.execute("DELETE FROM incidents_visitlog_households")
        again = backup_restore(source=backup, database=target, roots=restored)
        kept = [again.previous_database]
        assert again.previous_database.startswith(f"{target['NAME']}_before_restore_")
        assert database_exists(source, again.previous_database)
        assert fingerprint(target) == before
        assert file_checksums(restored["media"]) == file_checksums(file_roots["media"])
        assert sorted(path.name.split(".before-restore-")[0] for path in again.previous_directories) == [
            "media",
            "private",
        ]
        media_kept = next(path for path in again.previous_directories if path.name.startswith("media"))
        assert (media_kept / "exports" / "地图.html").read_text(encoding="utf-8") == "changed since the backup"
    finally:
        for name in (target["NAME"], f"{target['NAME']}_restoring", *kept):
            drop_database(source, name)


def test_a_damaged_or_foreign_backup_is_refused_before_anything_changes(tmp_path, settings):
    database = {**settings.DATABASES["default"], "NAME": "geogrid_never_restored"}
    with pytest.raises(BackupError, match="not a GeoGrid backup"):
        backup_restore(source=tmp_path, database=database, roots={"media": tmp_path / "media"})
    (tmp_path / "database.dump").write_bytes(b"PGDMP not really")
    (tmp_path / "manifest.json").write_text(
        '{"format": 1, "files": {"database.dump": {"sha256": "%s", "bytes": 16}}}' % ("0" * 64)
    )
    with pytest.raises(BackupError, match="database.dump is damaged"):
        backup_restore(source=tmp_path, database=database, roots={"media": tmp_path / "media"})
    assert not database_exists(database, "geogrid_never_restored")
    assert not database_exists(database, "geogrid_never_restored_restoring")
    assert not (tmp_path / "media").exists()


def test_restore_refuses_without_a_backup():
    with pytest.raises(CommandError, match="backup"):
        call_command("restore")
