"""HTTP API of the basic information database: households, residents, buildings, statistics, exports."""

from __future__ import annotations

from django.contrib.gis.geos import Point
from django.core.cache import cache
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from accounts.api import reveal_personal_data
from accounts.auth import ScopedAPIView, client_ip
from accounts.services import audit_event
from boundaries.api import BboxField
from boundaries.selectors import generation_get, unit_get
from core.coords import SUPPORTED_CRS, CoordinateError, parse_lon_lat
from core.errors import ApiError
from core.geojson import GEOJSON_CONTENT_TYPE, feature_collection_response
from core.pagination import PAGE_PARAMETERS, PageNumberPagination
from core.parsers import SingleValuedForm
from core.personal import mask_id_number, mask_phone
from residents import exports, selectors, services
from residents.models import Gender, HousingType, Relation, ResidenceStatus, Source
from residents.tasks import progress_key

VIEW_HOUSEHOLDS = "residents.view_household"
CHANGE_HOUSEHOLDS = "residents.change_household"
VIEW_RESIDENTS = "residents.view_resident"
CHANGE_RESIDENTS = "residents.change_resident"


@extend_schema_field(
    {"type": "object", "properties": {"lon": {"type": "number"}, "lat": {"type": "number"}}, "required": ["lon", "lat"]}
)
class PointInputField(serializers.Field):
    """A point as {"lon": .., "lat": ..}, [lon, lat] or "lon,lat" (multipart forms) in the input datum, in WGS-84."""

    def to_internal_value(self, data):
        crs = (self.context.get("crs") if self.context else None) or "wgs84"
        if isinstance(data, list | tuple) and len(data) == 2:
            lon, lat = data
        elif isinstance(data, dict):
            lon, lat = data.get("lon"), data.get("lat")
        elif isinstance(data, str) and data.count(",") == 1:
            lon, lat = data.split(",")  # a multipart form (a report with photos) sends "lon,lat"
        else:
            raise serializers.ValidationError(_('Give the point as {"lon": .., "lat": ..}.'))
        try:
            lon, lat = parse_lon_lat(lon, lat, crs=crs)
        except CoordinateError as exc:
            raise serializers.ValidationError(str(exc.message)) from None
        return Point(lon, lat, srid=4326)

    def to_representation(self, value):
        return {"lon": round(value.x, 7), "lat": round(value.y, 7)}


class NearField(serializers.CharField):
    def to_internal_value(self, data):
        parts = super().to_internal_value(data).split(",")
        if len(parts) != 2:
            raise serializers.ValidationError(_("Expected lon,lat."))
        try:
            lon, lat = parse_lon_lat(parts[0], parts[1])
        except CoordinateError as exc:
            raise serializers.ValidationError(str(exc.message)) from None
        return Point(lon, lat, srid=4326)


class CodeListField(serializers.CharField):
    def to_internal_value(self, data):
        return [part.strip() for part in super().to_internal_value(data).split(",") if part.strip()]


class HouseholdQuerySerializer(serializers.Serializer):
    under = serializers.RegexField(r"^\d{6,15}$", required=False)
    tags = CodeListField(required=False)
    unassigned = serializers.BooleanField(required=False, allow_null=True, default=None)
    housing_type = serializers.ChoiceField(choices=HousingType.choices, required=False)
    source = serializers.ChoiceField(choices=Source.choices, required=False)
    q = serializers.CharField(required=False, max_length=100, help_text="address, fuzzy")
    name = serializers.CharField(required=False, max_length=60, help_text="a resident's name")
    id_number = serializers.CharField(required=False, max_length=30, help_text="a resident's ID number, exact")
    phone = serializers.CharField(required=False, max_length=30, help_text="a resident's phone, exact")
    bbox = BboxField(required=False)
    near = NearField(required=False, help_text="lon,lat: nearest first")
    radius = serializers.FloatField(required=False, min_value=1, max_value=50_000, help_text="metres, with near")

    def validate(self, attrs):
        if "radius" in attrs and "near" not in attrs:
            raise serializers.ValidationError({"radius": [_("radius needs near.")]})
        return attrs


class ResidentQuerySerializer(serializers.Serializer):
    under = serializers.RegexField(r"^\d{6,15}$", required=False)
    household = serializers.IntegerField(required=False)
    tags = CodeListField(required=False)
    residence_status = serializers.ChoiceField(choices=ResidenceStatus.choices, required=False)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False)
    relation = serializers.ChoiceField(choices=Relation.choices, required=False)
    age_min = serializers.IntegerField(required=False, min_value=0, max_value=150)
    age_max = serializers.IntegerField(required=False, min_value=0, max_value=150)
    age_band = serializers.ChoiceField(choices=[b[0] for b in selectors.AGE_BANDS], required=False)
    name = serializers.CharField(required=False, max_length=60)
    id_number = serializers.CharField(required=False, max_length=30)
    phone = serializers.CharField(required=False, max_length=30)


def _tag_codes(obj) -> list[str]:
    return sorted(tag.code for tag in obj.tags.all())


def resident_row(resident, *, reveal: bool) -> dict:
    return {
        "id": resident.pk,
        "household": resident.household_id,
        "name": resident.name,
        "id_number": resident.id_number if reveal else mask_id_number(resident.id_number),
        "phone": resident.phone if reveal else mask_phone(resident.phone),
        "gender": resident.gender,
        "birth_date": resident.birth_date.isoformat() if resident.birth_date else None,
        "relation": resident.relation,
        "residence_status": resident.residence_status,
        "tags": _tag_codes(resident),
        "unit_code": resident.unit_code,
    }


def household_row(household, *, distance: bool = False) -> dict:
    row = {
        "id": household.pk,
        "ref": household.ref,
        "address": household.address,
        "building": household.building_id,
        "unit_no": household.unit_no,
        "room": household.room,
        "housing_type": household.housing_type,
        "size": household.size,
        "source": household.source,
        "tags": _tag_codes(household),
        "location": {"lon": round(household.location.x, 7), "lat": round(household.location.y, 7)},
        "grid_code": household.grid_code,
        "unit_code": household.unit_code,
        "assigned": bool(household.grid_code),
        "updated_at": household.updated_at.isoformat(),
    }
    if distance:
        row["distance_m"] = round(household.distance, 1)
    return row


class HouseholdInputSerializer(serializers.Serializer):
    ref = serializers.CharField(max_length=40, required=False, allow_blank=True)
    address = serializers.CharField(max_length=200)
    location = PointInputField()
    unit_no = serializers.CharField(max_length=20, required=False, allow_blank=True)
    room = serializers.CharField(max_length=20, required=False, allow_blank=True)
    housing_type = serializers.ChoiceField(choices=HousingType.choices, required=False, allow_blank=True)
    size = serializers.IntegerField(min_value=0, max_value=50, required=False)
    source = serializers.ChoiceField(choices=Source.choices, required=False)
    tags = serializers.ListField(child=serializers.SlugField(), required=False)
    crs = serializers.ChoiceField(choices=SUPPORTED_CRS, required=False, write_only=True)

    def __init__(self, *args, **kwargs):
        data = kwargs.get("data")
        super().__init__(*args, **kwargs)
        if isinstance(data, dict) and data.get("crs") in SUPPORTED_CRS:
            self.context["crs"] = data["crs"]


class ResidentInputSerializer(serializers.Serializer):
    household = serializers.IntegerField(required=False)
    name = serializers.CharField(max_length=60)
    id_number = serializers.CharField(max_length=30, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False, allow_blank=True)
    birth_date = serializers.DateField(required=False, allow_null=True)
    relation = serializers.ChoiceField(choices=Relation.choices, required=False)
    residence_status = serializers.ChoiceField(choices=ResidenceStatus.choices, required=False)
    tags = serializers.ListField(child=serializers.SlugField(), required=False)


def _query(serializer_class, request) -> dict:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return {key: value for key, value in query.validated_data.items() if value not in (None, [], "")}


HOUSEHOLD_FILTERS = [
    OpenApiParameter(name, str)
    for name in ("under", "tags", "housing_type", "source", "q", "name", "id_number", "phone", "bbox", "near")
] + [OpenApiParameter("unassigned", bool), OpenApiParameter("radius", float)]
HOUSEHOLD_PARAMETERS = [*HOUSEHOLD_FILTERS, *PAGE_PARAMETERS]


class HouseholdListApi(ScopedAPIView):
    """Households in scope: search, filters, map queries (bbox, near); creating one."""

    required_permission = VIEW_HOUSEHOLDS

    @extend_schema(
        parameters=HOUSEHOLD_PARAMETERS, responses={200: OpenApiTypes.OBJECT}, operation_id="households_list"
    )
    def get(self, request):
        filters = _query(HouseholdQuerySerializer, request)
        households = selectors.household_list(scope=self.scope, **filters).prefetch_related("tags")
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(households, request, view=self)
        return paginator.get_paginated_response([household_row(h, distance="near" in filters) for h in page])

    @extend_schema(request=HouseholdInputSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        if not self.scope.has(CHANGE_HOUSEHOLDS):
            raise ApiError(_("You may not add households."), code="permission_denied", status_code=403)
        data = HouseholdInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values.pop("crs", None)
        household = services.household_create(scope=self.scope, **values)
        household = selectors.household_get(scope=self.scope, household_id=household.pk)
        return Response(household_body(self, household), status=status.HTTP_201_CREATED)


WITH_RESIDENTS = OpenApiParameter(
    "residents", bool, description="false: the household alone, without its residents (and their personal data)"
)


def household_body(view, household) -> dict:
    """The household with its residents; with ?residents=false the household alone (nothing personal to audit)."""
    if view.request.query_params.get("residents", "").lower() == "false":
        return household_row(household)
    residents = list(household.residents.all())
    reveal = reveal_personal_data(view, records=residents, label=f"household {household.pk}")
    return {**household_row(household), "residents": [resident_row(r, reveal=reveal) for r in residents]}


class HouseholdDetailApi(ScopedAPIView):
    """One household with its residents (ID and phone numbers masked unless the role may see them)."""

    required_permission = VIEW_HOUSEHOLDS

    def _get(self, household_id):
        household = selectors.household_get(scope=self.scope, household_id=household_id)
        if household is None:
            raise ApiError(_("No such household."), code="not_found", status_code=404)
        return household

    @extend_schema(parameters=[WITH_RESIDENTS], responses={200: OpenApiTypes.OBJECT})
    def get(self, request, household_id: int):
        return Response(household_body(self, self._get(household_id)))

    @extend_schema(parameters=[WITH_RESIDENTS], request=HouseholdInputSerializer, responses={200: OpenApiTypes.OBJECT})
    def patch(self, request, household_id: int):
        household = self._get(household_id)
        if not self.scope.has(CHANGE_HOUSEHOLDS):
            raise ApiError(_("You may not change households."), code="permission_denied", status_code=403)
        data = HouseholdInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values.pop("crs", None)
        services.household_update(scope=self.scope, household=household, **values)
        return Response(household_body(self, self._get(household_id)))

    @extend_schema(responses={204: None})
    def delete(self, request, household_id: int):
        household = self._get(household_id)
        if not self.scope.has("residents.delete_household"):
            raise ApiError(_("You may not delete households."), code="permission_denied", status_code=403)
        services.household_delete(scope=self.scope, household=household)
        return Response(status=status.HTTP_204_NO_CONTENT)


class HouseholdAtApi(ScopedAPIView):
    """Which household is here: the households within a few metres of a clicked point, nearest first."""

    required_permission = VIEW_HOUSEHOLDS

    @extend_schema(
        parameters=[
            OpenApiParameter("lon", float, required=True),
            OpenApiParameter("lat", float, required=True),
            OpenApiParameter("tolerance", float, description="metres, default 30"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        try:
            lon, lat = parse_lon_lat(
                request.query_params.get("lon"),
                request.query_params.get("lat"),
                crs=request.query_params.get("crs") or "wgs84",
            )
            tolerance = float(request.query_params.get("tolerance") or 30)
        except CoordinateError as exc:
            raise ApiError(exc.message, code=exc.code, fields={exc.field: [str(exc.message)]}) from None
        except ValueError:
            raise ApiError(
                _("tolerance must be a number of metres."), fields={"tolerance": [_("Not a number.")]}
            ) from None
        tolerance = min(max(tolerance, 1.0), 500.0)
        households = selectors.household_at(
            scope=self.scope, point=Point(lon, lat, srid=4326), tolerance_m=tolerance
        ).prefetch_related("tags")[:50]
        return Response({"results": [household_row(h, distance=True) for h in households]})


class ResidentListApi(ScopedAPIView):
    required_permission = VIEW_RESIDENTS

    @extend_schema(
        parameters=[
            OpenApiParameter(n, str)
            for n in (
                "under",
                "tags",
                "residence_status",
                "gender",
                "relation",
                "age_band",
                "name",
                "id_number",
                "phone",
            )
        ]
        + [OpenApiParameter(n, int) for n in ("household", "age_min", "age_max", "page", "page_size")],
        responses={200: OpenApiTypes.OBJECT},
        operation_id="residents_list",
    )
    def get(self, request):
        filters = _query(ResidentQuerySerializer, request)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(selectors.resident_list(scope=self.scope, **filters), request, view=self)
        reveal = reveal_personal_data(self, records=page, label="residents")
        return paginator.get_paginated_response([resident_row(r, reveal=reveal) for r in page])

    @extend_schema(request=ResidentInputSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        if not self.scope.has(CHANGE_RESIDENTS):
            raise ApiError(_("You may not add residents."), code="permission_denied", status_code=403)
        data = ResidentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        household_id = values.pop("household", None)
        household = selectors.household_get(scope=self.scope, household_id=household_id) if household_id else None
        if household is None:
            raise ApiError(_("No such household."), fields={"household": [_("Unknown or out of reach.")]})
        resident = services.resident_create(scope=self.scope, household=household, **values)
        resident = selectors.resident_get(scope=self.scope, resident_id=resident.pk)
        reveal = self.scope.has("accounts.view_personal_data")
        return Response(resident_row(resident, reveal=reveal), status=status.HTTP_201_CREATED)


class ResidentDetailApi(ScopedAPIView):
    required_permission = VIEW_RESIDENTS

    def _get(self, resident_id):
        resident = selectors.resident_get(scope=self.scope, resident_id=resident_id)
        if resident is None:
            raise ApiError(_("No such resident."), code="not_found", status_code=404)
        return resident

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, resident_id: int):
        resident = self._get(resident_id)
        reveal = reveal_personal_data(self, records=[resident], label="resident")
        return Response(resident_row(resident, reveal=reveal))

    @extend_schema(request=ResidentInputSerializer, responses={200: OpenApiTypes.OBJECT})
    def patch(self, request, resident_id: int):
        resident = self._get(resident_id)
        if not self.scope.has(CHANGE_RESIDENTS):
            raise ApiError(_("You may not change residents."), code="permission_denied", status_code=403)
        data = ResidentInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values.pop("household", None)
        services.resident_update(scope=self.scope, resident=resident, **values)
        resident = self._get(resident_id)
        return Response(resident_row(resident, reveal=self.scope.has("accounts.view_personal_data")))

    @extend_schema(responses={204: None})
    def delete(self, request, resident_id: int):
        resident = self._get(resident_id)
        if not self.scope.has("residents.delete_resident"):
            raise ApiError(_("You may not delete residents."), code="permission_denied", status_code=403)
        services.resident_delete(scope=self.scope, resident=resident)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UnitStatsApi(ScopedAPIView):
    """Statistics of a unit's subtree: households, residents, tags, sex, age, status, density, completeness."""

    required_permission = VIEW_HOUSEHOLDS

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, operation_id="units_stats")
    def get(self, request, code: str):
        unit = unit_get(scope=self.scope, code=code, generation=generation_get())
        stats = selectors.unit_stats(scope=self.scope, code=unit.code, area_m2=unit.area_m2)
        return Response({"code": unit.code, "name": unit.name, **stats})


class BuildingListApi(ScopedAPIView):
    """The address gazetteer: buildings in scope, searched by address."""

    required_permission = VIEW_HOUSEHOLDS

    @extend_schema(
        parameters=[OpenApiParameter("q", str), OpenApiParameter("bbox", str), *PAGE_PARAMETERS],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        bbox = None
        if request.query_params.get("bbox"):
            field = BboxField()
            try:
                bbox = field.to_internal_value(request.query_params["bbox"])
            except serializers.ValidationError as exc:
                raise ApiError(str(exc.detail[0]), fields={"bbox": [str(exc.detail[0])]}) from None
        buildings = selectors.building_list(scope=self.scope, q=request.query_params.get("q"), bbox=bbox)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(buildings, request, view=self)
        return paginator.get_paginated_response(
            [
                {
                    "id": b.pk,
                    "ref": b.ref,
                    "address": b.address,
                    "floors": b.floors,
                    "units": b.units,
                    "households": b.household_count,
                    "grid_code": b.grid_code,
                    "location": {"lon": round(b.location.x, 7), "lat": round(b.location.y, 7)},
                }
                for b in page
            ]
        )


class TagListApi(ScopedAPIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response(
            {
                "results": [
                    {"code": t.code, "name": t.name, "applies_to": t.applies_to, "description": t.description}
                    for t in selectors.tag_list(applies_to=request.query_params.get("applies_to"))
                ]
            }
        )


def _export_response(view, *, what: str, file_format: str, columns, rows, features=None, count: int):
    audit_event(
        event="export",
        actor=view.request.user,
        target_label=what,
        remote_addr=client_ip(view.request),
        data={"format": file_format, "rows": count, "filters": dict(view.request.query_params.items())},
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    filename = f"{what}-{stamp}.{file_format}"
    if file_format == "csv":
        response = StreamingHttpResponse(exports.csv_chunks(columns, rows), content_type="text/csv; charset=utf-8")
    elif file_format == "xlsx":
        response = HttpResponse(
            exports.xlsx_bytes(columns, rows, what),
            content_type=exports.XLSX_CONTENT_TYPE,
        )
    else:
        response = feature_collection_response(features.iterator(chunk_size=2000), {"count": count}, stream=True)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _format_parameter(*formats: str) -> OpenApiParameter:
    return OpenApiParameter("file_format", str, OpenApiParameter.PATH, enum=list(formats))


class HouseholdExportApi(ScopedAPIView):
    """Households in scope (with the list's filters) as CSV, XLSX or GeoJSON; the export is audited."""

    required_permission = "residents.export_household"

    @extend_schema(
        parameters=[*HOUSEHOLD_FILTERS, _format_parameter("csv", "xlsx", "geojson")],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, exports.XLSX_CONTENT_TYPE): OpenApiTypes.BINARY,
            (200, GEOJSON_CONTENT_TYPE): OpenApiTypes.OBJECT,
        },
    )
    def get(self, request, file_format: str):
        filters = _query(HouseholdQuerySerializer, request)
        households = selectors.household_list(scope=self.scope, **filters)
        count = households.count()
        return _export_response(
            self,
            what="households",
            file_format=file_format,
            columns=exports.HOUSEHOLD_COLUMNS,
            rows=exports.household_rows(households),
            features=exports.household_features(households),
            count=count,
        )


class ResidentExportApi(ScopedAPIView):
    """Residents in scope as CSV or XLSX; ID and phone numbers masked unless the role may see them."""

    required_permission = "residents.export_household"

    @extend_schema(
        parameters=[_format_parameter("csv", "xlsx")],
        responses={(200, "text/csv"): OpenApiTypes.BINARY, (200, exports.XLSX_CONTENT_TYPE): OpenApiTypes.BINARY},
    )
    def get(self, request, file_format: str):
        if file_format == "geojson":
            raise ApiError(_("Residents are exported as CSV or XLSX."), code="not_found", status_code=404)
        filters = _query(ResidentQuerySerializer, request)
        residents = selectors.resident_list(scope=self.scope, **filters)
        count = residents.count()
        reveal = self.scope.has("accounts.view_personal_data")
        if reveal:
            audit_event(
                event="personal_data_viewed",
                actor=request.user,
                target_label="residents export",
                remote_addr=client_ip(request),
                data={"rows": count},
            )
        return _export_response(
            self,
            what="residents",
            file_format=file_format,
            columns=exports.RESIDENT_COLUMNS,
            rows=exports.resident_rows(residents, reveal=reveal),
            count=count,
        )


class ImportUploadSerializer(SingleValuedForm):
    file = serializers.FileField()
    columns = serializers.JSONField(required=False, help_text='{"address": "地址", ...}: canonical name -> header')
    crs = serializers.ChoiceField(choices=SUPPORTED_CRS, required=False)
    encoding = serializers.CharField(required=False, max_length=20)
    geocode = serializers.BooleanField(required=False, default=False)
    skip_bad = serializers.BooleanField(required=False, default=False)
    commit = serializers.BooleanField(required=False, default=False)

    def validate_columns(self, value):
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise serializers.ValidationError(_("columns must map names to headers."))
        return value


def import_job_body(job, *, live: dict | None = None, full: bool = True) -> dict:
    """A job as the API shows it; `full` with its whole report, else the report's summary (lists)."""
    if live is None and job.status == job.Status.RUNNING:
        live = cache.get(progress_key(job.pk))
    stage, done, total = (live["stage"], live["done"], live["total"]) if live else (job.stage, job.done, job.total)
    report = job.report
    if report is not None and not full:
        report = {key: value for key, value in report.items() if key not in ("errors", "warnings")}
        # Reports written before the counts were kept list their problems only (1,000 at most).
        report.setdefault("error_count", len(job.report.get("errors", [])))
        report.setdefault("warning_count", len(job.report.get("warnings", [])))
    return {
        "id": job.pk,
        "file_name": job.file_name,
        "status": job.status,
        "stage": stage,
        "progress": {"done": done, "total": total},
        "options": job.options,
        "report": report,
        "rejects": bool(job.rejects_path),
        "created_by": job.created_by.username,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


class ImportCreateApi(ScopedAPIView):
    """
    GET: the caller's household imports, newest first, each with its progress and its report's
    counts. POST: uploads a household file and starts its import (a dry run unless commit=true);
    poll the job.
    """

    required_permission = "residents.import_household"
    parser_classes = [MultiPartParser]

    @extend_schema(parameters=PAGE_PARAMETERS, responses={200: OpenApiTypes.OBJECT}, operation_id="imports_list")
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(selectors.import_job_list(user=request.user), request, view=self)
        running = [job.pk for job in page if job.status == job.Status.RUNNING]
        live = cache.get_many([progress_key(pk) for pk in running]) if running else {}
        return paginator.get_paginated_response(
            [import_job_body(job, live=live.get(progress_key(job.pk)), full=False) for job in page]
        )

    @extend_schema(request={"multipart/form-data": ImportUploadSerializer}, responses={202: OpenApiTypes.OBJECT})
    def post(self, request):
        data = ImportUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        upload = values.pop("file")
        job = services.import_job_create(scope=self.scope, actor=request.user, upload=upload, options=values)
        job.refresh_from_db()
        return Response(import_job_body(job), status=status.HTTP_202_ACCEPTED)


class ImportDetailApi(ScopedAPIView):
    required_permission = "residents.import_household"

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, job_id: int):
        job = selectors.import_job_get(user=request.user, job_id=job_id)
        if job is None:
            raise ApiError(_("No such import."), code="not_found", status_code=404)
        return Response(import_job_body(job))


class ImportRejectsApi(ScopedAPIView):
    """The rejected rows of an import as CSV, with a column naming what is wrong: fix and upload again."""

    required_permission = "residents.import_household"

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.BINARY})
    def get(self, request, job_id: int):
        job = selectors.import_job_get(user=request.user, job_id=job_id)
        if job is None or not job.rejects_path:
            raise ApiError(_("No rejected rows."), code="not_found", status_code=404)
        # FileResponse closes the file when the response is done.
        rejects = open(job.rejects_path, "rb")  # noqa: SIM115
        return FileResponse(
            rejects, content_type="text/csv; charset=utf-8", as_attachment=True, filename=f"rejects-{job.pk}.csv"
        )
