"""HTTP API of incidents: intake, the workflow's actions, queries, progress, exports, visit logs, notifications."""

from __future__ import annotations

import datetime as dt

from django.http import FileResponse, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from accounts.api import reveal_personal_data
from accounts.auth import ScopedAPIView, client_ip
from accounts.models import Department, User
from accounts.services import audit_event
from boundaries.selectors import generation_get, unit_get
from core.errors import ApiError
from core.files import SIGNATURES
from core.pagination import PAGE_PARAMETERS, PageNumberPagination
from core.parsers import JSONParser
from core.personal import mask_phone
from incidents import selectors, services
from incidents.models import Attachment, Category, Incident, Priority, Source, Status, VisitLog
from incidents.workflow import ACTIONS, actions_for
from residents.api import CodeListField, NearField, PointInputField
from residents.exports import XLSX_CONTENT_TYPE, xlsx_bytes
from residents.models import Household, Resident

VIEW = "incidents.view_incident"
REPORT = "incidents.add_incident"


def _category(code: str) -> Category:
    category = Category.objects.select_related("parent").filter(code=code).first()
    if category is None:
        raise ApiError(_("Unknown category %(code)s.") % {"code": code}, fields={"category": [_("Unknown category.")]})
    return category


def incident_row(incident: Incident, *, now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    return {
        "id": incident.pk,
        "number": incident.number,
        "title": incident.title,
        "category": incident.category.code,
        "category_name": incident.category.name,
        "source": incident.source,
        "priority": incident.priority,
        "status": incident.status,
        "location": {"lon": round(incident.location.x, 7), "lat": round(incident.location.y, 7)},
        "address": incident.address,
        "grid_code": incident.grid_code,
        "unit_code": incident.unit_code,
        "assigned_unit_code": incident.assigned_unit_code,
        "assigned_department": getattr(incident.assigned_department, "code", None),
        "assignee": getattr(incident.assignee, "username", None),
        "supervised": incident.supervised,
        "escalation_level": incident.escalation_level,
        "reported_at": incident.reported_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "due_at": incident.due_at.isoformat() if incident.due_at else None,
        "overdue": bool(incident.due_at and incident.due_at < now and incident.status in ACTIVE),
        "satisfaction": incident.satisfaction,
        "version": incident.version,
    }


ACTIVE = {s for s in Status.values if s not in ("rejected", "merged", "closed", "resolved", "evaluated")}


def _attachment_row(attachment: Attachment) -> dict:
    return {
        "token": attachment.token,
        "name": attachment.name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "url": f"/api/v1/attachments/{attachment.token}/",
    }


def incident_detail(view, incident: Incident) -> dict:
    reveal = (
        reveal_personal_data(view, records=[incident], label=f"incident {incident.number}")
        if (incident.reporter_phone)
        else False
    )
    duplicates = selectors.incident_duplicates(
        scope=view.scope,
        category=incident.category,
        location=incident.location,
        at=incident.reported_at,
        exclude_id=incident.pk,
    )[:10]
    return {
        **incident_row(incident),
        "description": incident.description,
        "reporter": {
            "user": getattr(incident.reporter_user, "username", None),
            "resident": incident.reporter_resident_id,
            "name": incident.reporter_name,
            "phone": incident.reporter_phone if reveal else mask_phone(incident.reporter_phone),
        },
        "merged_into": getattr(incident.merged_into, "number", None),
        "visit_log": incident.visit_log_id,
        "evaluation": {"satisfaction": incident.satisfaction, "comment": incident.evaluation_comment},
        "timeline": [
            {
                "action": e.action,
                "from": e.from_status,
                "to": e.to_status,
                "actor": getattr(e.actor, "username", None),
                "at": e.at.isoformat(),
                "note": e.note,
                "data": e.data,
                "attachments": [_attachment_row(a) for a in e.attachments.all()],
            }
            for e in incident.events.all()
        ],
        "attachments": [_attachment_row(a) for a in incident.attachments.all()],
        "duplicates": [
            {"id": d.pk, "number": d.number, "title": d.title, "status": d.status, "distance_m": round(d.distance, 1)}
            for d in duplicates
        ],
        "actions": actions_for(view.scope, view.request.user, incident),
    }


class IncidentCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField()
    category = serializers.CharField(max_length=20)
    location = PointInputField()
    address = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    source = serializers.ChoiceField(choices=Source.choices, default=Source.WEB)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    reporter_name = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    reporter_phone = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    reporter_resident = serializers.IntegerField(required=False)
    files = serializers.ListField(child=serializers.FileField(), required=False, default=list)


class IncidentQuerySerializer(serializers.Serializer):
    category = serializers.CharField(required=False, max_length=20)
    status = CodeListField(required=False)
    source = serializers.ChoiceField(choices=Source.choices, required=False)
    under = serializers.RegexField(r"^\d{6,15}$", required=False)
    department = serializers.SlugField(required=False)
    assignee = serializers.IntegerField(required=False)
    reporter = serializers.IntegerField(required=False)
    overdue = serializers.BooleanField(required=False, allow_null=True, default=None)
    supervised = serializers.BooleanField(required=False, allow_null=True, default=None)
    reported_after = serializers.DateTimeField(required=False)
    reported_before = serializers.DateTimeField(required=False)
    resolved_after = serializers.DateTimeField(required=False)
    resolved_before = serializers.DateTimeField(required=False)
    q = serializers.CharField(required=False, max_length=100)
    sort = serializers.ChoiceField(
        choices=["-reported_at", "reported_at", "due_at", "-priority", "-updated_at"], default="-reported_at"
    )

    def validate_status(self, value):
        unknown = sorted(set(value) - set(Status.values))
        if unknown:
            raise serializers.ValidationError(_("Unknown status %(names)s.") % {"names": ", ".join(unknown)})
        return value


def _filters(request) -> dict:
    query = IncidentQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return {k: v for k, v in query.validated_data.items() if v not in (None, "", [])}


INCIDENT_FILTERS = (
    [
        OpenApiParameter(n, str)
        for n in (
            "category",
            "status",
            "source",
            "under",
            "department",
            "q",
            "sort",
            "reported_after",
            "reported_before",
            "resolved_after",
            "resolved_before",
        )
    ]
    + [OpenApiParameter(n, int) for n in ("assignee", "reporter")]
    + [OpenApiParameter("overdue", bool), OpenApiParameter("supervised", bool)]
)
INCIDENT_PARAMETERS = [*INCIDENT_FILTERS, *PAGE_PARAMETERS]


class IncidentListApi(ScopedAPIView):
    """Incidents in scope, filtered and sorted; reporting a new one (JSON or multipart with photos)."""

    required_permission = VIEW
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(parameters=INCIDENT_PARAMETERS, responses={200: OpenApiTypes.OBJECT}, operation_id="incidents_list")
    def get(self, request):
        incidents = selectors.incident_list(scope=self.scope, **_filters(request))
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(incidents, request, view=self)
        now = timezone.now()
        return paginator.get_paginated_response([incident_row(i, now=now) for i in page])

    @extend_schema(
        request={"application/json": IncidentCreateSerializer, "multipart/form-data": IncidentCreateSerializer},
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        if not self.scope.has(REPORT):
            raise ApiError(_("Your role may not report incidents."), code="permission_denied", status_code=403)
        data = IncidentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values["category"] = _category(values["category"])
        resident_id = values.pop("reporter_resident", None)
        if resident_id is not None:
            values["reporter_resident"] = Resident.objects.filter(self.scope.q("unit_code"), pk=resident_id).first()
            if values["reporter_resident"] is None:
                raise ApiError(_("No such resident."), fields={"reporter_resident": [_("Unknown or out of reach.")]})
        incident = services.incident_create(scope=self.scope, actor=request.user, **values)
        return Response(
            incident_detail(self, selectors.incident_get(scope=self.scope, incident_id=incident.pk)),
            status=status.HTTP_201_CREATED,
        )


class IncidentDetailApi(ScopedAPIView):
    """One incident: its timeline, photos, likely duplicates, and the actions the caller may take."""

    required_permission = VIEW

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, incident_id: int):
        incident = selectors.incident_get(scope=self.scope, incident_id=incident_id)
        if incident is None:
            raise ApiError(_("No such incident."), code="not_found", status_code=404)
        return Response(incident_detail(self, incident))


class ActionSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False, help_text=_("The version you saw; 409 if it changed."))
    note = serializers.CharField(required=False, allow_blank=True, default="")
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    target = serializers.CharField(required=False, help_text=_("Case number to merge into."))
    unit = serializers.RegexField(r"^\d{6,15}$", required=False)
    department = serializers.SlugRelatedField(slug_field="code", queryset=Department.objects.all(), required=False)
    assignee = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True), required=False
    )
    satisfaction = serializers.IntegerField(required=False, min_value=1, max_value=5)
    files = serializers.ListField(child=serializers.FileField(), required=False, default=list)


class IncidentActionApi(ScopedAPIView):
    """Takes one action of the workflow (accept, dispatch, resolve...); 409 with the allowed ones if not possible."""

    required_permission = VIEW
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        request=ActionSerializer,
        responses={
            200: OpenApiTypes.OBJECT,
            409: OpenApiResponse(
                description="Not possible now: `error.fields` gives the status, version and allowed actions."
            ),
        },
    )
    def post(self, request, incident_id: int, action: str):
        if action not in ACTIONS:
            raise ApiError(_("Unknown action %(name)s.") % {"name": action}, code="not_found", status_code=404)
        # Only whether the case is in scope: the transition locks and reads the row itself.
        if not selectors.incident_exists(scope=self.scope, incident_id=incident_id):
            raise ApiError(_("No such incident."), code="not_found", status_code=404)
        data = ActionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        target = None
        if values.get("target"):
            target = selectors.incident_get_by_number(scope=self.scope, number=values["target"])
            if target is None:
                raise ApiError(_("No such incident to merge into."), fields={"target": [_("Unknown case number.")]})
        services.incident_transition(
            scope=self.scope,
            actor=request.user,
            incident_id=incident_id,
            action=action,
            version=values.get("version"),
            note=values["note"],
            reason=values["reason"],
            target=target,
            unit_code=values.get("unit"),
            department=values.get("department"),
            assignee=values.get("assignee"),
            satisfaction=values.get("satisfaction"),
            files=values["files"],
        )
        return Response(incident_detail(self, selectors.incident_get(scope=self.scope, incident_id=incident_id)))


class DuplicateQuerySerializer(serializers.Serializer):
    category = serializers.CharField(max_length=20)
    near = NearField(help_text="lon,lat")


class IncidentDuplicatesApi(ScopedAPIView):
    """At intake: open cases of the same category within 50 m and 7 days."""

    required_permission = VIEW

    @extend_schema(
        parameters=[OpenApiParameter("category", str, required=True), OpenApiParameter("near", str, required=True)],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        query = DuplicateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        duplicates = selectors.incident_duplicates(
            scope=self.scope,
            category=_category(query.validated_data["category"]),
            location=query.validated_data["near"],
        )[:20]
        return Response({"results": [{**incident_row(d), "distance_m": round(d.distance, 1)} for d in duplicates]})


class IncidentProgressApi(ScopedAPIView):
    """Progress for leaders: each child unit's counts by status, overdue, median hours to resolve, satisfaction."""

    required_permission = VIEW

    @extend_schema(
        parameters=[
            OpenApiParameter("unit", str, required=True),
            OpenApiParameter("since", str),
            OpenApiParameter("until", str),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        query = _PeriodSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        unit = unit_get(scope=self.scope, code=query.validated_data["unit"], generation=generation_get())
        rows = selectors.incident_progress(
            scope=self.scope,
            unit_code=unit.code,
            since=query.validated_data.get("since"),
            until=query.validated_data.get("until"),
        )
        return Response({"unit": unit.code, "name": unit.name, "children": rows})


class _PeriodSerializer(serializers.Serializer):
    unit = serializers.RegexField(r"^\d{6,15}$")
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


EXPORT_COLUMNS = [
    ("number", _("case number")),
    ("title", _("title")),
    ("category", _("category")),
    ("status", _("status")),
    ("source", _("source")),
    ("priority", _("priority")),
    ("unit_code", _("unit")),
    ("assigned_unit_code", _("handled by unit")),
    ("assigned_department", _("handled by department")),
    ("reported_at", _("reported at")),
    ("due_at", _("due at")),
    ("resolved_at", _("resolved at")),
    ("satisfaction", _("satisfaction")),
    ("lon", _("longitude")),
    ("lat", _("latitude")),
]


class IncidentExportApi(ScopedAPIView):
    """The filtered list as XLSX (no personal data); the export is audited."""

    required_permission = "incidents.export_incident"

    @extend_schema(parameters=INCIDENT_FILTERS, responses={(200, XLSX_CONTENT_TYPE): OpenApiTypes.BINARY})
    def get(self, request):
        filters = _filters(request)
        incidents = selectors.incident_list(scope=self.scope, **filters)

        def rows():
            for i in incidents.iterator(chunk_size=2000):
                yield [
                    i.number,
                    i.title,
                    i.category.code,
                    i.status,
                    i.source,
                    i.priority,
                    i.unit_code,
                    i.assigned_unit_code,
                    getattr(i.assigned_department, "code", ""),
                    timezone.localtime(i.reported_at).replace(tzinfo=None),
                    timezone.localtime(i.due_at).replace(tzinfo=None) if i.due_at else None,
                    timezone.localtime(i.resolved_at).replace(tzinfo=None) if i.resolved_at else None,
                    i.satisfaction,
                    round(i.location.x, 7),
                    round(i.location.y, 7),
                ]

        content = xlsx_bytes(EXPORT_COLUMNS, rows(), "incidents")
        audit_event(
            event="export",
            actor=request.user,
            target_label="incidents",
            remote_addr=client_ip(request),
            data={"format": "xlsx", "filters": {k: str(v) for k, v in filters.items()}},
        )
        response = HttpResponse(content, content_type=XLSX_CONTENT_TYPE)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="incidents-{stamp}.xlsx"'
        return response


class AttachmentApi(ScopedAPIView):
    """A photo or file, for those who may see its incident or visit log."""

    @extend_schema(responses={(200, content_type): OpenApiTypes.BINARY for _head, content_type, _ext in SIGNATURES})
    def get(self, request, token: str):
        attachment = Attachment.objects.filter(token=token).select_related("incident", "visit_log").first()
        visible = attachment is not None and (
            (attachment.incident_id and selectors.incident_get(scope=self.scope, incident_id=attachment.incident_id))
            or (attachment.visit_log_id and self.scope.sees(attachment.visit_log.unit_code))
        )
        if not visible:
            raise ApiError(_("No such file."), code="not_found", status_code=404)
        response = FileResponse(attachment.file.open("rb"), content_type=attachment.content_type)
        response["Content-Disposition"] = "inline"
        response["X-Content-Type-Options"] = "nosniff"
        return response


class CategoryListApi(ScopedAPIView):
    class QuerySerializer(serializers.Serializer):
        family = serializers.ChoiceField(choices=["event", "component"], required=False)

    @extend_schema(parameters=[QuerySerializer], responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(
            {
                "results": [
                    {
                        "code": c.code,
                        "name": c.name,
                        "family": c.family,
                        "parent": getattr(c.parent, "code", None),
                        "accept_hours": c.accept_hours,
                        "dispatch_hours": c.dispatch_hours,
                        "resolve_hours": c.resolve_hours,
                        "default_priority": c.default_priority,
                        "default_department": getattr(c.default_department, "code", None),
                    }
                    for c in selectors.category_list(family=query.validated_data.get("family"))
                ]
            }
        )


class NotificationListApi(ScopedAPIView):
    """The caller's notifications, newest first; POST marks them read."""

    class QuerySerializer(serializers.Serializer):
        unread = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema(parameters=[QuerySerializer, *PAGE_PARAMETERS], responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        notifications = selectors.notification_list(user=request.user, unread=query.validated_data["unread"])
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(notifications, request, view=self)
        return paginator.get_paginated_response(
            [
                {
                    "id": n.pk,
                    "kind": n.kind,
                    "message": n.message,
                    "incident": n.incident_id,
                    "number": getattr(n.incident, "number", None),
                    "created_at": n.created_at.isoformat(),
                    "read": n.read_at is not None,
                }
                for n in page
            ]
        )

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request):
        ids = request.data.get("ids") if isinstance(request.data, dict) else None
        if ids is not None and not (isinstance(ids, list) and all(isinstance(i, int) for i in ids)):
            raise ApiError(_("ids must be a list of numbers."), fields={"ids": [_("Not a list of numbers.")]})
        return Response({"marked": services.notification_mark_read(user=request.user, ids=ids)})


class VisitLogSerializer(serializers.Serializer):
    visited_at = serializers.DateTimeField(required=False)
    location = PointInputField()
    discussion = serializers.CharField()
    sentiment = serializers.ChoiceField(choices=VisitLog.Sentiment.choices, default=VisitLog.Sentiment.NEUTRAL)
    problems = serializers.CharField(required=False, allow_blank=True, default="")
    households = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    residents = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    files = serializers.ListField(child=serializers.FileField(), required=False, default=list)


def visit_log_row(log: VisitLog) -> dict:
    return {
        "id": log.pk,
        "worker": log.worker.username,
        "visited_at": log.visited_at.isoformat(),
        "location": {"lon": round(log.location.x, 7), "lat": round(log.location.y, 7)},
        "grid_code": log.grid_code,
        "unit_code": log.unit_code,
        "sentiment": log.sentiment,
        "discussion": log.discussion,
        "problems": log.problems,
        "households": [h.pk for h in log.households.all()],
        "incidents": [
            {
                "id": i.pk,
                "number": i.number,
                "status": i.status,
                "satisfaction": i.satisfaction,
                "evaluation": i.evaluation_comment,
            }
            for i in log.incidents.all()
        ],
    }


class VisitLogListApi(ScopedAPIView):
    """Visit logs in scope; a grid worker records a visit in their cells."""

    required_permission = "incidents.view_visitlog"
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        parameters=[
            OpenApiParameter("worker", int),
            OpenApiParameter("under", str),
            OpenApiParameter("since", str),
            OpenApiParameter("until", str),
            *PAGE_PARAMETERS,
        ],
        responses={200: OpenApiTypes.OBJECT},
        operation_id="visit_logs_list",
    )
    def get(self, request):
        query = _LogQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        logs = selectors.visit_log_list(scope=self.scope, **query.validated_data)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(logs, request, view=self)
        return paginator.get_paginated_response([visit_log_row(log) for log in page])

    @extend_schema(request=VisitLogSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        if not self.scope.has("incidents.add_visitlog"):
            raise ApiError(_("Your role may not write visit logs."), code="permission_denied", status_code=403)
        data = VisitLogSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        households = list(Household.objects.filter(pk__in=values.pop("households")))
        residents = list(Resident.objects.filter(pk__in=values.pop("residents")))
        log = services.visit_log_create(
            scope=self.scope,
            worker=request.user,
            visited_at=values.pop("visited_at", None) or timezone.now(),
            households=households,
            residents=residents,
            **values,
        )
        return Response(
            visit_log_row(selectors.visit_log_get(scope=self.scope, log_id=log.pk)), status=status.HTTP_201_CREATED
        )


class _LogQuerySerializer(serializers.Serializer):
    worker = serializers.IntegerField(required=False)
    under = serializers.RegexField(r"^\d{6,15}$", required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class VisitLogDetailApi(ScopedAPIView):
    required_permission = "incidents.view_visitlog"

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, log_id: int):
        log = selectors.visit_log_get(scope=self.scope, log_id=log_id)
        if log is None:
            raise ApiError(_("No such visit log."), code="not_found", status_code=404)
        return Response(
            {
                **visit_log_row(log),
                "residents": [r.pk for r in log.residents.all()],
                "attachments": [_attachment_row(a) for a in log.attachments.all()],
            }
        )


class VisitLogIncidentApi(ScopedAPIView):
    """Turns a problem found on a visit into an incident linked to the log."""

    required_permission = REPORT

    class InputSerializer(serializers.Serializer):
        category = serializers.CharField(max_length=20)
        title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        description = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, log_id: int):
        log = selectors.visit_log_get(scope=self.scope, log_id=log_id)
        if log is None:
            raise ApiError(_("No such visit log."), code="not_found", status_code=404)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.visit_log_to_incident(
            scope=self.scope,
            actor=request.user,
            log=log,
            category=_category(data.validated_data["category"]),
            title=data.validated_data["title"],
            description=data.validated_data["description"],
        )
        return Response(
            incident_detail(self, selectors.incident_get(scope=self.scope, incident_id=incident.pk)),
            status=status.HTTP_201_CREATED,
        )


class CoverageSerializer(serializers.Serializer):
    under = serializers.RegexField(r"^\d{6,15}$")
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    by = serializers.ChoiceField(choices=["cell", "worker"], default="cell")


class VisitCoverageApi(ScopedAPIView):
    """Visit frequency and coverage (households visited / households there) per cell or per worker."""

    required_permission = "incidents.view_visitlog"

    @extend_schema(
        parameters=[OpenApiParameter(n, str, required=n != "by") for n in ("under", "since", "until", "by")],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        query = CoverageSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response({"results": selectors.visit_coverage(scope=self.scope, **query.validated_data)})
