"""HTTP API of the grid: point lookup and grid units as GeoJSON built in PostGIS."""

from django.conf import settings
from django.contrib.gis.geos import Point, Polygon
from django.contrib.postgres.expressions import ArraySubquery
from django.core.cache import cache
from django.db.models import CharField, F, FloatField, Func, OuterRef, Value
from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from accounts.auth import ScopedAPIView
from accounts.roles import VIEW_UNITS
from boundaries.models import GridUnit, Level
from boundaries.selectors import (
    boundary_import_job_get,
    generation_extent,
    generation_get,
    unit_get,
    unit_list,
    units_for_point,
    valid_at_q,
)
from boundaries.services import EDIT_BOUNDARIES, boundary_import_job_create, boundary_import_upload
from boundaries.tasks import boundary_progress_key
from core.coords import SUPPORTED_CRS, CoordinateError, parse_lon_lat
from core.errors import ApiError, error_body
from core.geojson import GEOJSON_CONTENT_TYPE, FeatureCollectionPagination, features_of
from core.pagination import PAGE_PARAMETERS
from core.parsers import SingleValuedForm


class LevelField(serializers.Field):
    default_error_messages = {"invalid": _("Unknown level; use one of: city, district, street, community, grid.")}

    def to_internal_value(self, data):
        try:
            return Level.from_name(data)
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value):
        return Level(value).slug


class BboxField(serializers.CharField):
    """min_lon,min_lat,max_lon,max_lat in WGS-84."""

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        parts = text.split(",")
        if len(parts) != 4:
            raise serializers.ValidationError(_("Expected four numbers: min_lon,min_lat,max_lon,max_lat."))
        try:
            min_lon, min_lat = parse_lon_lat(parts[0], parts[1])
            max_lon, max_lat = parse_lon_lat(parts[2], parts[3])
        except CoordinateError as exc:
            raise serializers.ValidationError(str(exc.message)) from None
        if min_lon >= max_lon or min_lat >= max_lat:
            raise serializers.ValidationError(_("The minimum must be smaller than the maximum on both axes."))
        return Polygon.from_bbox((min_lon, min_lat, max_lon, max_lat))


GENERATION_PARAMETER = OpenApiParameter(
    "generation", int, description="Generation number; the active generation when omitted."
)


class _LevelSlug(Func):
    """The level's slug ('grid'...) computed in SQL, so features need no Python post-processing."""

    template = "(ARRAY['city','district','street','community','grid'])[%(expressions)s]"
    output_field = CharField()


class _LabelPoint(Func):
    template = "json_build_array(round(ST_X(%(expressions)s)::numeric, 7), round(ST_Y(%(expressions)s)::numeric, 7))"
    output_field = CharField()


class _RoundedArea(Func):
    template = "round(%(expressions)s::numeric, 1)"
    output_field = FloatField()


def _unit_properties(**extra):
    return {
        "code": "code",
        "name": "name",
        "level": _LevelSlug(F("level")),
        "parent_code": "parent_code",
        "area_m2": _RoundedArea(F("area_m2")),
        "label_point": _LabelPoint(F("label_point")),
        **extra,
    }


class UnitQuerySerializer(serializers.Serializer):
    level = LevelField(required=False)
    parent = serializers.RegexField(r"^\d{6,15}$", required=False)
    under = serializers.RegexField(r"^\d{6,15}$", required=False)
    bbox = BboxField(required=False)
    q = serializers.CharField(required=False, max_length=100)
    generation = serializers.IntegerField(required=False, min_value=1)


class LocateApi(ScopedAPIView):
    """
    Which grid units cover a point: the chain from the city down to the grid cell. Any signed-in
    user gets the chain of codes and names; `in_scope` tells which units they may open.
    """

    @extend_schema(
        parameters=[
            OpenApiParameter("lon", float, required=True, description="Longitude"),
            OpenApiParameter("lat", float, required=True, description="Latitude"),
            OpenApiParameter("crs", str, enum=list(SUPPORTED_CRS), description="Datum of lon/lat (default wgs84)"),
            GENERATION_PARAMETER,
        ],
        responses={
            200: inline_serializer(
                "LocateResult",
                {
                    "lon": serializers.FloatField(),
                    "lat": serializers.FloatField(),
                    "generation": serializers.IntegerField(),
                    "units": inline_serializer(
                        "LocatedUnit",
                        {
                            "code": serializers.CharField(),
                            "name": serializers.CharField(),
                            "level": serializers.CharField(),
                        },
                        many=True,
                    ),
                },
            ),
            400: OpenApiResponse(description="Bad coordinates"),
            404: OpenApiResponse(description="The point is outside every grid unit"),
        },
    )
    def get(self, request):
        params = request.query_params
        try:
            lon, lat = parse_lon_lat(params.get("lon"), params.get("lat"), crs=params.get("crs") or "wgs84")
        except CoordinateError as exc:
            # A pair that looks swapped is wrong in both fields.
            names = ["lon", "lat"] if exc.field == "coordinates" else [exc.field]
            raise ApiError(exc.message, code=exc.code, fields={name: [str(exc.message)] for name in names}) from None
        generation = generation_get(generation_id=_int_param(params, "generation"))
        result = units_for_point(point=Point(lon, lat, srid=4326), generation=generation)
        if not result.chain:
            self._refuse_swapped(lon, lat, generation)
            raise ApiError(
                _("The point (%(lon)s, %(lat)s) lies outside every grid unit.") % {"lon": lon, "lat": lat},
                code="outside",
                status_code=404,
            )
        return Response(
            {
                "lon": lon,
                "lat": lat,
                "generation": generation.pk,
                "units": [
                    {"code": u.code, "name": u.name, "level": Level(u.level).slug, "in_scope": self.scope.sees(u.code)}
                    for u in result.chain
                ],
            }
        )

    @staticmethod
    def _refuse_swapped(lon: float, lat: float, generation) -> None:
        extent = generation_extent(generation=generation)
        if extent is None:
            return
        min_lon, min_lat, max_lon, max_lat = extent
        if min_lon <= lat <= max_lon and min_lat <= lon <= max_lat:
            message = _(
                "lon=%(lon)s, lat=%(lat)s is outside the grid, but swapped it would be inside: "
                "were lon and lat swapped?"
            ) % {"lon": lon, "lat": lat}
            raise ApiError(message, code="swapped", fields={"lon": [message], "lat": [message]})


def _int_param(params, name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError(
            _("%(name)s must be a whole number.") % {"name": name}, fields={name: [_("Not a number.")]}
        ) from None


def _unit_features(units):
    return features_of(units, id_field="code", geometry="geom", properties=_unit_properties())


class UnitListApi(ScopedAPIView):
    """Grid units in the caller's scope as a paginated GeoJSON FeatureCollection."""

    required_permission = VIEW_UNITS
    pagination_class = FeatureCollectionPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("level", str, enum=[level.slug for level in Level]),
            OpenApiParameter("parent", str, description="Direct children of this unit code"),
            OpenApiParameter("under", str, description="This unit and everything beneath it"),
            OpenApiParameter("bbox", str, description="min_lon,min_lat,max_lon,max_lat"),
            OpenApiParameter("q", str, description="Name contains, or code starts with"),
            *PAGE_PARAMETERS,
            GENERATION_PARAMETER,
        ],
        responses={(200, GEOJSON_CONTENT_TYPE): OpenApiTypes.OBJECT},
        operation_id="units_list",
    )
    def get(self, request):
        query = UnitQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = dict(query.validated_data)
        generation = generation_get(generation_id=filters.pop("generation", None))
        units = unit_list(scope=self.scope, generation=generation, **filters)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(_unit_features(units), request, view=self)
        return paginator.get_paginated_response(page)


class UnitDetailApi(ScopedAPIView):
    """One grid unit as a GeoJSON Feature, with its parent's and children's codes."""

    required_permission = VIEW_UNITS

    @extend_schema(
        parameters=[GENERATION_PARAMETER],
        responses={(200, GEOJSON_CONTENT_TYPE): OpenApiTypes.OBJECT},
        operation_id="units_detail",
    )
    def get(self, request, code: str):
        generation = generation_get(generation_id=_int_param(request.query_params, "generation"))
        unit = unit_get(scope=self.scope, code=code, generation=generation)
        children = GridUnit.objects.filter(valid_at_q(generation), parent_code=OuterRef("code")).order_by("code")
        feature = features_of(
            GridUnit.objects.filter(pk=unit.pk),
            id_field="code",
            geometry="geom",
            properties=_unit_properties(
                children=ArraySubquery(children.values("code")),
                generation=Value(generation.pk),
            ),
        ).get()
        return HttpResponse(feature, content_type=GEOJSON_CONTENT_TYPE)


class UnitChildrenApi(ScopedAPIView):
    """The direct children of a grid unit as a paginated GeoJSON FeatureCollection."""

    required_permission = VIEW_UNITS
    pagination_class = FeatureCollectionPagination

    @extend_schema(
        parameters=[*PAGE_PARAMETERS, GENERATION_PARAMETER],
        responses={(200, GEOJSON_CONTENT_TYPE): OpenApiTypes.OBJECT},
    )
    def get(self, request, code: str):
        generation = generation_get(generation_id=_int_param(request.query_params, "generation"))
        unit = unit_get(scope=self.scope, code=code, generation=generation)
        units = unit_list(scope=self.scope, generation=generation, parent=unit.code)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(_unit_features(units), request, view=self)
        return paginator.get_paginated_response(page)


class BoundaryImportSerializer(SingleValuedForm):
    file = serializers.FileField(help_text="A zipped Shapefile (.zip), a GeoPackage (.gpkg) or GeoJSON (.geojson)")
    level = serializers.ChoiceField(choices=[level.slug for level in Level])
    code_field = serializers.CharField(max_length=100)
    name_field = serializers.CharField(max_length=100)
    parent_field = serializers.CharField(max_length=100, required=False)
    layer = serializers.CharField(max_length=200, required=False)
    source_srid = serializers.IntegerField(min_value=1, max_value=999999, required=False)
    encoding = serializers.CharField(max_length=20, required=False)
    fix_invalid = serializers.BooleanField(required=False, default=False)
    tolerance_m2 = serializers.FloatField(min_value=0, required=False)
    commit = serializers.BooleanField(required=False, default=False)
    background = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Import as a background job (202, then poll the job). Default: for files above "
        "GEOGRID_BOUNDARY_UPLOAD_BACKGROUND_MB.",
    )


def boundary_job_body(job) -> dict:
    """A background boundary import as the API shows it: its stage while it runs, its report once done."""
    stage = job.stage
    if job.status == job.Status.RUNNING:
        stage = cache.get(boundary_progress_key(job.pk)) or stage
    return {
        "id": job.pk,
        "file_name": job.file_name,
        "status": job.status,
        "stage": stage,
        "options": job.options,
        "report": job.report,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


class BoundaryImportApi(ScopedAPIView):
    """
    Imports the grid units of one level from an uploaded boundary file, as `import_boundaries` does:
    a dry run unless commit=true, every check in the report, all or nothing. A planner may import
    units only inside the units they may edit. A large file (or `background=true`) is imported as a
    background job instead: 202 with the job, followed at `GET /api/v1/imports/boundaries/{id}/`.
    """

    required_permission = EDIT_BOUNDARIES
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": BoundaryImportSerializer},
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="A dry run: the report, nothing written."),
            201: OpenApiResponse(OpenApiTypes.OBJECT, description="Committed: the report."),
            202: OpenApiResponse(OpenApiTypes.OBJECT, description="A background job: poll it for the report."),
            400: OpenApiResponse(
                description="Invalid input, or a commit refused: the error `import_refused` with `report` beside it."
            ),
        },
    )
    def post(self, request):
        data = BoundaryImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        upload = values.pop("file")
        background = values.pop("background")
        if background is None:
            background = upload.size > settings.GEOGRID_BOUNDARY_UPLOAD_BACKGROUND_MB * 1024 * 1024
        if background:
            job = boundary_import_job_create(scope=self.scope, actor=request.user, upload=upload, options=values)
            job.refresh_from_db()
            return Response(boundary_job_body(job), status=status.HTTP_202_ACCEPTED)
        values["level"] = Level.from_name(values["level"])
        report = boundary_import_upload(scope=self.scope, actor=request.user, upload=upload, **values)
        body = report.as_dict()
        if report.committed:
            return Response(body, status=status.HTTP_201_CREATED)
        if values["commit"] and not report.ok:
            message = _("%(count)d errors; nothing was written.") % {"count": len(report.errors)}
            return Response({**error_body("import_refused", message), "report": body}, status=400)
        return Response(body)


class BoundaryImportJobApi(ScopedAPIView):
    """A background boundary import of the caller's: its status and stage, then its report."""

    required_permission = EDIT_BOUNDARIES

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, job_id: int):
        job = boundary_import_job_get(user=request.user, job_id=job_id)
        if job is None:
            raise ApiError(_("No such import."), code="not_found", status_code=404)
        return Response(boundary_job_body(job))
