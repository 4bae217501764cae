"""HTTP API of accounts: sign-in with tokens, the caller's profile, users in scope, the audit log."""

from __future__ import annotations

import csv
import datetime as dt
import json

from django.contrib.auth import authenticate
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from accounts.auth import ScopedAPIView, ScopedRateThrottle, client_ip
from accounts.models import ApiToken, Department, User
from accounts.roles import PERSONAL_DATA, ROLES
from accounts.selectors import audit_action_name, audit_list, token_list, user_get, user_list
from accounts.services import audit_event, token_create, token_revoke, user_create
from boundaries.models import GridUnit, Level
from boundaries.selectors import generation_active, valid_at_q
from core.errors import ApiError
from core.pagination import PageNumberPagination
from core.personal import mask_phone
from core.scope import Scope


def reveal_personal_data(view, *, records: list, label: str) -> bool:
    """True when the caller may see personal data unmasked; each such view is written to the audit log."""
    if not view.scope.has(PERSONAL_DATA) or not records:
        return False
    audit_event(
        event="personal_data_viewed",
        actor=view.request.user,
        target_label=label,
        remote_addr=client_ip(view.request),
        data={"records": [str(getattr(r, "pk", r)) for r in records][:1000]},
    )
    return True


class TokenOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["token_key", "name", "created", "expiry", "last_used_at"]


class TokenCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    expires_in_days = serializers.IntegerField(min_value=1, max_value=3650, required=False, allow_null=True)


class LoginInputSerializer(TokenCreateInputSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=200, trim_whitespace=False)


class LoginApi(ScopedAPIView):
    """Exchanges a username and password for a new API token (throttled; locked out after repeated failures)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(
        request=LoginInputSerializer,
        responses={201: TokenOutputSerializer, 401: OpenApiResponse(description="Wrong username or password.")},
    )
    def post(self, request):
        data = LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        user = authenticate(request._request, username=values["username"], password=values["password"])
        if getattr(request._request, "axes_locked_out", False):
            raise ApiError(
                _("Too many failed sign-ins: this account is locked for a while. Try again later."),
                code="locked_out",
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            )
        if user is None:
            raise ApiError(_("Wrong username or password."), code="authentication_failed", status_code=401)
        days = values.get("expires_in_days")
        token, key = token_create(user=user, name=values["name"], expires_in=dt.timedelta(days=days or 30))
        audit_event(
            event="login", actor=user, remote_addr=client_ip(request), data={"via": "api", "token": token.token_key}
        )
        return Response({"token": key, **TokenOutputSerializer(token).data}, status=status.HTTP_201_CREATED)


class LogoutApi(ScopedAPIView):
    """Revokes the token this request was made with."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        if isinstance(request.auth, ApiToken):
            token_revoke(user=request.user, token_key=request.auth.token_key)
            audit_event(
                event="token_revoked",
                actor=request.user,
                remote_addr=client_ip(request),
                data={"token": request.auth.token_key},
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenListApi(ScopedAPIView):
    """The caller's own API tokens (never their keys), and creating a new one."""

    pagination_class = PageNumberPagination

    @extend_schema(responses={200: TokenOutputSerializer(many=True)})
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(token_list(user=request.user), request, view=self)
        return paginator.get_paginated_response(TokenOutputSerializer(page, many=True).data)

    @extend_schema(request=TokenCreateInputSerializer, responses={201: TokenOutputSerializer})
    def post(self, request):
        data = TokenCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        days = data.validated_data.get("expires_in_days")
        token, key = token_create(
            user=request.user, name=data.validated_data["name"], expires_in=dt.timedelta(days=days) if days else None
        )
        audit_event(
            event="token_created", actor=request.user, remote_addr=client_ip(request), data={"token": token.token_key}
        )
        return Response({"token": key, **TokenOutputSerializer(token).data}, status=status.HTTP_201_CREATED)


class TokenRevokeApi(ScopedAPIView):
    @extend_schema(responses={204: None})
    def delete(self, request, token_key: str):
        if not token_revoke(user=request.user, token_key=token_key):
            raise ApiError(_("No such token."), code="not_found", status_code=404)
        audit_event(
            event="token_revoked", actor=request.user, remote_addr=client_ip(request), data={"token": token_key}
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


def _binding_rows(users: list[User]) -> dict[str, dict]:
    """Name and level of every unit the users are bound to, in one query."""
    codes = {b.unit_code for user in users for b in user.bindings.all()}
    generation = generation_active()
    if not codes or generation is None:
        return {}
    units = GridUnit.objects.filter(valid_at_q(generation), code__in=codes).values("code", "name", "level")
    return {u["code"]: {"name": u["name"], "level": Level(u["level"]).slug} for u in units}


class UserOutputSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(source="first_name")
    roles = serializers.SerializerMethodField()
    units = serializers.SerializerMethodField()
    phone = serializers.SerializerMethodField()
    department = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "full_name",
            "email",
            "phone",
            "department",
            "roles",
            "units",
            "is_active",
            "last_login",
        ]

    def get_roles(self, user) -> list[str]:
        return sorted(group.name for group in user.groups.all())

    def get_units(self, user) -> list[dict]:
        names = self.context.get("units", {})
        return [
            {"code": b.unit_code, "kind": b.kind, **names.get(b.unit_code, {"name": None, "level": None})}
            for b in user.bindings.all()
        ]

    def get_phone(self, user) -> str:
        return user.phone if self.context.get("reveal") else mask_phone(user.phone)


class MeApi(ScopedAPIView):
    """The caller: roles, jurisdiction (bound units), permissions."""

    @extend_schema(responses={200: UserOutputSerializer})
    def get(self, request):
        user = user_list(scope=Scope.everything()).get(pk=request.user.pk)
        context = {"units": _binding_rows([user]), "reveal": True}
        body = UserOutputSerializer(user, context=context).data
        body["permissions"] = sorted(self.scope.permissions)
        body["is_global"] = self.scope.is_global
        return Response(body)


class UserQuerySerializer(serializers.Serializer):
    q = serializers.CharField(required=False, max_length=100)
    role = serializers.ChoiceField(choices=sorted(ROLES), required=False)


class UserListApi(ScopedAPIView):
    """Users whose jurisdiction lies in the caller's scope; creating users there."""

    required_permission = "accounts.manage_users"
    pagination_class = PageNumberPagination

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "UserCreate"

        username = serializers.RegexField(r"^[\w.@+-]{3,150}$")
        password = serializers.CharField(max_length=200, trim_whitespace=False)
        full_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
        email = serializers.EmailField(required=False, allow_blank=True, default="")
        phone = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
        department = serializers.SlugRelatedField(
            slug_field="code", queryset=Department.objects.all(), required=False, allow_null=True
        )
        roles = serializers.ListField(child=serializers.ChoiceField(choices=sorted(ROLES)), min_length=1)
        units = serializers.ListField(child=serializers.RegexField(r"^\d{6,15}$"), min_length=1)

    @extend_schema(
        parameters=[UserQuerySerializer],
        responses={200: UserOutputSerializer(many=True)},
    )
    def get(self, request):
        query = UserQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        users = user_list(scope=self.scope, **query.validated_data)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(users, request, view=self)
        context = {"units": _binding_rows(page), "reveal": reveal_personal_data(self, records=page, label="users")}
        return paginator.get_paginated_response(UserOutputSerializer(page, many=True, context=context).data)

    @extend_schema(request=InputSerializer, responses={201: UserOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_create(scope=self.scope, **data.validated_data)
        user = user_list(scope=Scope.everything()).get(pk=user.pk)
        context = {"units": _binding_rows([user]), "reveal": self.scope.has(PERSONAL_DATA)}
        return Response(UserOutputSerializer(user, context=context).data, status=status.HTTP_201_CREATED)


class UserDetailApi(ScopedAPIView):
    required_permission = "accounts.manage_users"

    @extend_schema(responses={200: UserOutputSerializer})
    def get(self, request, user_id: int):
        user = user_get(scope=self.scope, user_id=user_id)
        if user is None:
            raise ApiError(_("No such user."), code="not_found", status_code=404)
        context = {"units": _binding_rows([user]), "reveal": reveal_personal_data(self, records=[user], label="user")}
        return Response(UserOutputSerializer(user, context=context).data)


class AuditQuerySerializer(serializers.Serializer):
    user = serializers.IntegerField(required=False, source="user_id")
    model = serializers.RegexField(r"^[a-z_]+\.[a-z_]+$", required=False, help_text="app_label.model")
    object = serializers.CharField(required=False, source="object_pk", max_length=255)
    action = serializers.CharField(required=False, max_length=40)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


def _audit_row(entry) -> dict:
    return {
        "id": entry.pk,
        "timestamp": entry.timestamp.isoformat(),
        "actor": entry.actor.username if entry.actor else None,
        "action": audit_action_name(entry),
        "model": f"{entry.content_type.app_label}.{entry.content_type.model}",
        "object": entry.object_pk,
        "object_repr": entry.object_repr,
        "remote_addr": entry.remote_addr,
        "changes": entry.changes,
        "data": entry.additional_data,
    }


class AuditEntrySerializer(serializers.Serializer):
    """The shape of one audit entry in the API (documentation of _audit_row)."""

    id = serializers.IntegerField()
    timestamp = serializers.DateTimeField()
    actor = serializers.CharField(allow_null=True)
    action = serializers.CharField()
    model = serializers.CharField()
    object = serializers.CharField()
    object_repr = serializers.CharField()
    remote_addr = serializers.IPAddressField(allow_null=True)
    changes = serializers.JSONField(allow_null=True)
    data = serializers.JSONField(allow_null=True)


AUDIT_PARAMETERS = [
    OpenApiParameter("user", int),
    OpenApiParameter("model", str, description="app_label.model, e.g. accounts.user"),
    OpenApiParameter("object", str),
    OpenApiParameter("action", str, description="create, update, delete, login, login_failed, export..."),
    OpenApiParameter("since", str),
    OpenApiParameter("until", str),
]


class AuditListApi(ScopedAPIView):
    """The audit log (administrators): who did what, when and from where."""

    required_permission = "accounts.view_audit_log"
    pagination_class = PageNumberPagination

    @extend_schema(parameters=AUDIT_PARAMETERS, responses={200: AuditEntrySerializer(many=True)})
    def get(self, request):
        query = AuditQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(audit_list(**query.validated_data), request, view=self)
        return paginator.get_paginated_response([_audit_row(entry) for entry in page])


class _Echo:
    def write(self, value):
        return value


class AuditExportApi(ScopedAPIView):
    """The filtered audit log as CSV; the export itself is audited."""

    required_permission = "accounts.view_audit_log"

    @extend_schema(parameters=AUDIT_PARAMETERS, responses={(200, "text/csv"): str})
    def get(self, request):
        query = AuditQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        export = audit_event(
            event="export",
            actor=request.user,
            target_label="audit log",
            remote_addr=client_ip(request),
            data={"filters": {k: str(v) for k, v in query.validated_data.items()}},
        )
        entries = audit_list(**query.validated_data).exclude(pk=export.pk)
        writer = csv.writer(_Echo())
        columns = [
            "id",
            "timestamp",
            "actor",
            "action",
            "model",
            "object",
            "object_repr",
            "remote_addr",
            "changes",
            "data",
        ]

        def rows():
            yield "\ufeff" + writer.writerow(columns)  # the BOM lets Excel read the UTF-8 names
            for entry in entries.iterator(chunk_size=2000):
                row = _audit_row(entry)
                yield writer.writerow([row[c] if not isinstance(row[c], dict) else _json(row[c]) for c in columns])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
        return response


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)
