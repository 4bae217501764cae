"""HTTP endpoints of the SMS platform: the gateway's inbound and delivery-report posts, and the staff API."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from accounts.auth import ClientAddressThrottle, ScopedAPIView
from core.errors import ApiError, error_body
from core.pagination import PAGE_PARAMETERS, PageNumberPagination
from core.personal import mask_phone
from messaging import selectors, services
from messaging.models import Broadcast, Message

TIMESTAMP_HEADER = "HTTP_X_SMS_TIMESTAMP"
SIGNATURE_HEADER = "HTTP_X_SMS_SIGNATURE"


class GatewayThrottle(ClientAddressThrottle, SimpleRateThrottle):
    """The gateway's posts, by address: a flood is refused before any signature is computed."""

    scope = "sms_gateway"

    def get_rate(self):
        return settings.GEOGRID_SMS_GATEWAY_RATE

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def _signed_json(request):
    """The request's JSON body once its signature is checked; or the JsonResponse refusing it."""
    throttle = GatewayThrottle()
    if not throttle.allow_request(request, None):
        response = JsonResponse(error_body("throttled", _("Too many requests; try again later.")), status=429)
        response["Retry-After"] = str(int(throttle.wait() or 0) + 1)
        return None, response
    try:
        services.signature_check(
            timestamp=request.META.get(TIMESTAMP_HEADER),
            signature=request.META.get(SIGNATURE_HEADER),
            body=request.body,
        )
    except services.SignatureError as exc:
        return None, JsonResponse(error_body(exc.code, exc), status=401 if exc.code != "not_configured" else 503)
    try:
        payload = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, JsonResponse(error_body("invalid", _("The body is not JSON.")), status=400)
    if not isinstance(payload, dict):
        return None, JsonResponse(error_body("invalid", _("The body is not a JSON object.")), status=400)
    return payload, None


def _invalid(exc: ValidationError) -> JsonResponse:
    fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    first = next(iter(fields.items()))
    message = _("Invalid input: %(field)s: %(reason)s") % {"field": first[0], "reason": first[1][0]}
    return JsonResponse(error_body("invalid", message, fields), status=400)


def _int(value, default: int = 1) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        raise ValidationError({"parts": [_("Part numbers are whole numbers.")]}) from None


@csrf_exempt
@require_POST
def inbound(request):
    """
    POST /sms/inbound/ from the gateway: {"id", "from", "text"} (or "data" as hex with "encoding"),
    and for a part of a concatenated SMS "ref", "parts" and "part" (or "udh": {"ref", "total", "index"}).
    """
    payload, refusal = _signed_json(request)
    if refusal is not None:
        return refusal
    udh = payload.get("udh") if isinstance(payload.get("udh"), dict) else {}
    try:
        result = services.inbound_receive(
            provider_id=str(payload.get("id") or ""),
            phone=str(payload.get("from") or ""),
            text=payload.get("text") if isinstance(payload.get("text"), str) else None,
            data_hex=payload.get("data") if isinstance(payload.get("data"), str) else None,
            encoding=str(payload.get("encoding") or ""),
            parts_ref=str(udh.get("ref", payload.get("ref", "")) or ""),
            parts_total=_int(udh.get("total", payload.get("parts"))),
            part_index=_int(udh.get("index", payload.get("part"))),
        )
    except ValidationError as exc:
        return _invalid(exc)
    return JsonResponse(
        {
            "id": result.message.provider_id,
            "state": result.message.state,
            "duplicate": result.duplicate,
            "reply": result.reply.text if result.reply else None,
            "case": result.message.incident.number if result.message.incident_id else None,
        }
    )


@csrf_exempt
@require_POST
def status_report(request):
    """POST /sms/status/ from the gateway: {"id": <the provider's message id>, "status": "delivered" | "failed" ...}."""
    payload, refusal = _signed_json(request)
    if refusal is not None:
        return refusal
    try:
        message = services.delivery_report(provider_id=str(payload.get("id") or ""), status=str(payload.get("status")))
    except ValidationError as exc:
        return _invalid(exc)
    except ApiError as exc:
        return JsonResponse(error_body(exc.error_code, exc.detail), status=exc.status_code)
    return JsonResponse({"id": message.provider_id, "state": message.state})


def message_row(message: Message) -> dict:
    return {
        "id": message.pk,
        "direction": message.direction,
        "kind": message.kind,
        "phone": mask_phone(message.phone),
        "text": message.text,
        "parts": message.parts_total,
        "part": message.part_index,
        "state": message.state,
        "attempts": message.attempts,
        "error": message.error,
        "unit_code": message.unit_code,
        "case": message.incident.number if message.incident_id else None,
        "broadcast": message.broadcast_id,
        "created_at": message.created_at,
        "sent_at": message.sent_at,
        "delivered_at": message.delivered_at,
    }


def broadcast_row(broadcast: Broadcast) -> dict:
    return {
        "id": broadcast.pk,
        "text": broadcast.text,
        "tag": broadcast.tag.code,
        "unit_code": broadcast.unit_code,
        "state": broadcast.state,
        "recipient_count": broadcast.recipient_count,
        "sent_count": broadcast.sent_count,
        "failed_count": broadcast.failed_count,
        "opted_out_count": broadcast.skipped_count,
        "created_by": broadcast.created_by.username,
        "approved_by": getattr(broadcast.approved_by, "username", None),
        "created_at": broadcast.created_at,
        "approved_at": broadcast.approved_at,
        "finished_at": broadcast.finished_at,
    }


class MessageListApi(ScopedAPIView):
    """The SMS log of the caller's jurisdiction, newest first; phone numbers masked."""

    @extend_schema(
        parameters=[
            *[OpenApiParameter(name, str) for name in ("direction", "kind", "state", "under", "broadcast")],
            *PAGE_PARAMETERS,
        ],
        responses={200: OpenApiTypes.OBJECT},
        operation_id="sms_messages_list",
    )
    def get(self, request):
        query = request.query_params
        messages = selectors.message_list(
            scope=self.scope,
            direction=query.get("direction"),
            kind=query.get("kind"),
            state=query.get("state"),
            under=query.get("under"),
            broadcast_id=int(query["broadcast"]) if query.get("broadcast", "").isdigit() else None,
        )
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(messages, request, view=self)
        return paginator.get_paginated_response([message_row(m) for m in page])


class BroadcastListApi(ScopedAPIView):
    """Broadcasts of the caller's jurisdiction; POST drafts one."""

    class BroadcastInputSerializer(serializers.Serializer):
        text = serializers.CharField(max_length=2000)
        tag = serializers.SlugField()
        unit_code = serializers.RegexField(r"^[0-9]{6,15}$")

    @extend_schema(parameters=PAGE_PARAMETERS, responses={200: OpenApiTypes.OBJECT}, operation_id="sms_broadcasts_list")
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(selectors.broadcast_list(scope=self.scope), request, view=self)
        return paginator.get_paginated_response([broadcast_row(b) for b in page])

    @extend_schema(
        request=BroadcastInputSerializer, responses={201: OpenApiTypes.OBJECT}, operation_id="sms_broadcasts_create"
    )
    def post(self, request):
        serializer = self.BroadcastInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        broadcast = services.broadcast_create(scope=self.scope, actor=request.user, **serializer.validated_data)
        return Response(broadcast_row(broadcast), status=status.HTTP_201_CREATED)


class BroadcastPreviewApi(ScopedAPIView):
    """How many numbers a broadcast to a tag under a unit would reach, before drafting it."""

    class QuerySerializer(serializers.Serializer):
        tag = serializers.SlugField()
        unit_code = serializers.RegexField(r"^[0-9]{6,15}$")

    @extend_schema(
        parameters=[QuerySerializer],
        responses={200: OpenApiTypes.OBJECT},
        operation_id="sms_broadcasts_preview",
    )
    def get(self, request):
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        preview = selectors.broadcast_preview(scope=self.scope, **query.validated_data)
        return Response(preview)


class BroadcastDetailApi(ScopedAPIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT}, operation_id="sms_broadcasts_retrieve")
    def get(self, request, broadcast_id: int):
        broadcast = selectors.broadcast_get(scope=self.scope, broadcast_id=broadcast_id)
        if broadcast is None:
            raise ApiError(_("Not found."), code="not_found", status_code=404)
        return Response(broadcast_row(broadcast))


STATE_CONFLICT = OpenApiResponse(description="Not possible in the broadcast's state, given in `error.fields.state`.")


class BroadcastApproveApi(ScopedAPIView):
    @extend_schema(
        request=None,
        responses={200: OpenApiTypes.OBJECT, 409: STATE_CONFLICT},
        operation_id="sms_broadcasts_approve",
    )
    def post(self, request, broadcast_id: int):
        broadcast = services.broadcast_approve(scope=self.scope, actor=request.user, broadcast_id=broadcast_id)
        return Response(broadcast_row(broadcast))


class BroadcastSendApi(ScopedAPIView):
    @extend_schema(
        request=None,
        responses={202: OpenApiTypes.OBJECT, 409: STATE_CONFLICT},
        operation_id="sms_broadcasts_send",
    )
    def post(self, request, broadcast_id: int):
        broadcast = services.broadcast_send(scope=self.scope, actor=request.user, broadcast_id=broadcast_id)
        broadcast.refresh_from_db()
        return Response(broadcast_row(broadcast), status=status.HTTP_202_ACCEPTED)
