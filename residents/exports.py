"""Exports of households and residents in scope: CSV and XLSX rows, and GeoJSON built by PostGIS."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from openpyxl import Workbook

from core.geojson import features_of
from core.personal import mask_id_number, mask_phone

# Excel's limit, less the header row.
XLSX_MAX_ROWS = 1_048_575
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

HOUSEHOLD_COLUMNS = [
    ("id", _("ID")),
    ("ref", _("household number")),
    ("address", _("address")),
    ("unit_no", _("stairwell unit")),
    ("room", _("room")),
    ("housing_type", _("housing type")),
    ("size", _("size")),
    ("source", _("source")),
    ("tags", _("tags")),
    ("lon", _("longitude")),
    ("lat", _("latitude")),
    ("grid_code", _("grid cell")),
    ("unit_code", _("responsible unit")),
]
RESIDENT_COLUMNS = [
    ("id", _("ID")),
    ("household", _("household")),
    ("household_ref", _("household number")),
    ("address", _("address")),
    ("name", _("name")),
    ("id_number", _("ID number")),
    ("phone", _("phone")),
    ("gender", _("gender")),
    ("birth_date", _("birth date")),
    ("relation", _("relation to the head")),
    ("residence_status", _("residence status")),
    ("tags", _("tags")),
    ("unit_code", _("responsible unit")),
]


def household_rows(households: QuerySet) -> Iterator[list]:
    for h in households.prefetch_related("tags").iterator(chunk_size=2000):
        yield [
            h.pk,
            h.ref,
            h.address,
            h.unit_no,
            h.room,
            h.housing_type,
            h.size,
            h.source,
            ";".join(sorted(t.code for t in h.tags.all())),
            round(h.location.x, 7),
            round(h.location.y, 7),
            h.grid_code,
            h.unit_code,
        ]


def resident_rows(residents: QuerySet, *, reveal: bool) -> Iterator[list]:
    for r in residents.iterator(chunk_size=2000):
        yield [
            r.pk,
            r.household_id,
            r.household.ref,
            r.household.address,
            r.name,
            r.id_number if reveal else mask_id_number(r.id_number),
            r.phone if reveal else mask_phone(r.phone),
            r.gender,
            r.birth_date.isoformat() if r.birth_date else "",
            r.relation,
            r.residence_status,
            ";".join(sorted(t.code for t in r.tags.all())),
            r.unit_code,
        ]


class _Echo:
    def write(self, value):
        return value


def csv_chunks(columns, rows: Iterator[list]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([str(label) for _key, label in columns])  # BOM: Excel reads UTF-8
    for row in rows:
        yield writer.writerow(row)


def xlsx_bytes(columns, rows: Iterator[list], title: str) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append([str(label) for _key, label in columns])
    for count, row in enumerate(rows, start=1):
        if count > XLSX_MAX_ROWS:
            break
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def household_features(households: QuerySet):
    """Households as GeoJSON features built in the database: no personal data in them."""
    return features_of(
        households.order_by("id"),
        id_field="id",
        geometry="location",
        properties={
            "ref": "ref",
            "address": "address",
            "size": "size",
            "housing_type": "housing_type",
            "grid_code": "grid_code",
            "unit_code": "unit_code",
        },
    )
