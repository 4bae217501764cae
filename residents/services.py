"""Writing the basic information database: households, residents, buildings and their imports."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.services import audit_event
from boundaries.selectors import generation_active_held, point_units
from core.crypto import blind_index
from core.files import check_table_upload
from core.personal import id_number_birth_date, id_number_gender, id_number_validate, phone_validate
from core.scope import Scope
from core.tabular import TableReport
from jobs.services import task_enqueue
from residents.models import AttentionTag, Household, ImportJob, Resident
from residents.tasks import run_household_import


def import_audit(*, actor, report: TableReport) -> None:
    audit_event(
        event="import",
        actor=actor,
        target_label=report.source,
        data={"what": "households", "rows": report.rows, **report.counts},
    )


def _check_capture(scope: Scope, unit_code: str) -> None:
    if not scope.captures(unit_code):
        raise PermissionDenied(_("You may read this record but not change it: it lies outside your capture scope."))


def _place(scope: Scope, location: Point) -> tuple[str, str]:
    # Held: a household written while a redrawn grid is activated must not land in a cell it retires.
    grid_code, unit_code = point_units(point=location, generation=generation_active_held())
    if not scope.captures(unit_code):
        raise ValidationError({"location": [_("The point lies outside your jurisdiction.")]})
    return grid_code, unit_code


def _tags(codes: Iterable[str], applies_to: str) -> list[AttentionTag]:
    codes = list(dict.fromkeys(codes))
    tags = list(AttentionTag.objects.filter(code__in=codes, applies_to=applies_to))
    unknown = sorted(set(codes) - {tag.code for tag in tags})
    if unknown:
        raise ValidationError({"tags": [_("Unknown tag %(code)s.") % {"code": code} for code in unknown]})
    return tags


@transaction.atomic
def household_create(*, scope: Scope, location: Point, address: str, tags: Iterable[str] = (), **fields) -> Household:
    """A new household; its cell comes from its point, which must lie in the caller's capture scope."""
    grid_code, unit_code = _place(scope, location)
    household = Household.objects.create(
        location=location, address=address, grid_code=grid_code, unit_code=unit_code, **fields
    )
    household.tags.set(_tags(tags, AttentionTag.AppliesTo.HOUSEHOLD))
    return household


@transaction.atomic
def household_update(*, scope: Scope, household: Household, tags: Iterable[str] | None = None, **changes) -> Household:
    """Changes a household; a new point moves it (and its residents) to the cell it now lies in."""
    _check_capture(scope, household.unit_code)
    if "location" in changes:
        # The generation before the row, in the order an activation takes them: the other way round they deadlock.
        generation_active_held()
    household = Household.objects.select_for_update().get(pk=household.pk)
    location = changes.pop("location", None)
    for name, value in changes.items():
        setattr(household, name, value)
    if location is not None and not location.equals_exact(household.location, 1e-12):
        household.location = location
        household.grid_code, household.unit_code = _place(scope, location)
        Resident.objects.filter(household=household).update(unit_code=household.unit_code)
    household.save()
    if tags is not None:
        household.tags.set(_tags(tags, AttentionTag.AppliesTo.HOUSEHOLD))
    return household


@transaction.atomic
def household_delete(*, scope: Scope, household: Household) -> None:
    _check_capture(scope, household.unit_code)
    household.delete()


def _refresh_size(household: Household) -> None:
    # With residents recorded the size is their number; a department's declared size stands otherwise.
    count = Resident.objects.filter(household=household).count()
    if count:
        Household.objects.filter(pk=household.pk).update(size=count)


def _personal_fields(
    *, id_number: str, phone: str, gender: str, birth_date: dt.date | None, exclude_pk: int | None
) -> dict:
    errors: dict[str, list[str]] = {}
    values: dict = {"gender": gender or "", "birth_date": birth_date}
    if id_number:
        try:
            id_number = id_number_validate(id_number)
        except ValidationError as exc:
            errors["id_number"] = exc.messages
        else:
            derived_gender, derived_birth = id_number_gender(id_number), id_number_birth_date(id_number)
            if gender and gender != derived_gender:
                errors["gender"] = [_("The gender contradicts the ID number.")]
            if birth_date and birth_date != derived_birth:
                errors["birth_date"] = [_("The birth date contradicts the ID number.")]
            values.update(gender=derived_gender, birth_date=derived_birth)
            taken = Resident.objects.filter(id_number_index=blind_index(id_number))
            if exclude_pk:
                taken = taken.exclude(pk=exclude_pk)
            if taken.exists():
                errors["id_number"] = [_("A resident with this ID number is already registered.")]
    if phone:
        try:
            phone = phone_validate(phone)
        except ValidationError as exc:
            errors["phone"] = exc.messages
    if birth_date and birth_date > dt.date.today():
        errors["birth_date"] = [_("The birth date lies in the future.")]
    if errors:
        raise ValidationError(errors)
    return {**values, "id_number": id_number, "phone": phone}


@transaction.atomic
def resident_create(
    *,
    scope: Scope,
    household: Household,
    name: str,
    id_number: str = "",
    phone: str = "",
    gender: str = "",
    birth_date: dt.date | None = None,
    tags: Iterable[str] = (),
    **fields,
) -> Resident:
    """A new member of a household; gender and birth date follow the ID number and must agree with it."""
    _check_capture(scope, household.unit_code)
    personal = _personal_fields(id_number=id_number, phone=phone, gender=gender, birth_date=birth_date, exclude_pk=None)
    if fields.get("relation") == "head" and household.residents.filter(relation="head").exists():
        raise ValidationError({"relation": [_("The household already has a head.")]})
    # The household's unit as stored once no activation is under way (one may have just moved it).
    generation_active_held()
    unit_code = Household.objects.filter(pk=household.pk).values_list("unit_code", flat=True).first()
    resident = Resident.objects.create(
        household=household, name=name, unit_code=unit_code or household.unit_code, **personal, **fields
    )
    resident.tags.set(_tags(tags, AttentionTag.AppliesTo.RESIDENT))
    _refresh_size(household)
    return resident


@transaction.atomic
def resident_update(*, scope: Scope, resident: Resident, tags: Iterable[str] | None = None, **changes) -> Resident:
    _check_capture(scope, resident.unit_code)
    resident = Resident.objects.select_for_update().get(pk=resident.pk)
    if {"id_number", "phone", "gender", "birth_date"} & set(changes):
        personal = _personal_fields(
            id_number=changes.pop("id_number", resident.id_number),
            phone=changes.pop("phone", resident.phone),
            gender=changes.pop("gender", resident.gender),
            birth_date=changes.pop("birth_date", resident.birth_date),
            exclude_pk=resident.pk,
        )
        changes.update(personal)
    if (
        changes.get("relation") == "head"
        and resident.household.residents.filter(relation="head").exclude(pk=resident.pk).exists()
    ):
        raise ValidationError({"relation": [_("The household already has a head.")]})
    for name, value in changes.items():
        setattr(resident, name, value)
    resident.save()
    if tags is not None:
        resident.tags.set(_tags(tags, AttentionTag.AppliesTo.RESIDENT))
    return resident


@transaction.atomic
def resident_delete(*, scope: Scope, resident: Resident) -> None:
    _check_capture(scope, resident.unit_code)
    household = resident.household
    resident.delete()
    _refresh_size(household)


def import_job_create(*, scope: Scope, actor, upload, options: dict) -> ImportJob:
    """Keeps an uploaded file privately and starts its import as a background task."""
    if not scope.has("residents.import_household"):
        raise PermissionDenied(_("You may not import households."))
    # Type from the content, size, and an XLSX's archive limits: refused now, before it is stored.
    suffix = check_table_upload(upload, field="file")
    directory = Path(settings.GEOGRID_PRIVATE_ROOT) / "imports"
    directory.mkdir(parents=True, exist_ok=True)
    # The stored name is ours: nothing of the uploaded name reaches the file system.
    stored = directory / f"{uuid.uuid4().hex}{suffix}"
    with stored.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    with transaction.atomic():  # the job and its task are recorded together
        job = ImportJob.objects.create(
            file_name=Path(upload.name).name[:200], stored_path=str(stored), options=options, created_by=actor
        )
        task_enqueue(run_household_import, job.pk)
    return job
