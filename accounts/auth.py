"""Authentication and the scoped base view every API view of GeoGrid derives from."""

from __future__ import annotations

import ipaddress

from auditlog.context import auditlog_value
from auditlog.middleware import AuditlogMiddleware
from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from rest_framework import exceptions, throttling
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.views import APIView

from accounts.selectors import scope_for_user
from core.errors import error_body
from core.scope import Scope


def client_ip(request) -> str | None:
    """The caller's address; X-Forwarded-For is believed only from a configured trusted proxy."""
    remote = request.META.get("REMOTE_ADDR")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if forwarded and remote in settings.GEOGRID_TRUSTED_PROXIES:
        candidate = forwarded.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            return remote
    return remote


class ClientAddressThrottle:
    """
    Mixed into DRF's throttles so that they count callers by client_ip: DRF's own get_ident believes any
    X-Forwarded-For, which a client could change at every request to escape the rate.
    """

    def get_ident(self, request):
        return client_ip(request) or ""


class ScopedRateThrottle(ClientAddressThrottle, throttling.ScopedRateThrottle):
    pass


class AnonRateThrottle(ClientAddressThrottle, throttling.AnonRateThrottle):
    pass


class AuditMiddleware(AuditlogMiddleware):
    """django-auditlog's middleware with the caller's address taken from client_ip (not a spoofable header)."""

    @staticmethod
    def _get_remote_addr(request):
        return client_ip(request)

    def __call__(self, request):
        # Tiles write no records, and setting up the audit context (signal receivers, the caller) cost
        # about 0.5 ms of a small tile's few milliseconds.
        if request.path_info.startswith("/tiles/"):
            return self.get_response(request)
        return super().__call__(request)


class HasRequiredPermission(BasePermission):
    """The view's `required_permission` (a permission of the caller's roles), when it names one."""

    def has_permission(self, request, view):
        needed = getattr(view, "required_permission", None)
        return needed is None or view.scope.has(needed)


class ScopedAPIView(APIView):
    """
    An API view that knows the caller's scope (`self.scope`) and hands it to selectors and services.
    Authentication is required, and the view's `required_permission` is checked; which records the
    caller reaches is decided by the selectors from the scope, never by the view.
    """

    permission_classes = [IsAuthenticated, HasRequiredPermission]
    required_permission: str | None = None

    @property
    def scope(self) -> Scope:
        if not hasattr(self, "_scope"):
            self._scope = scope_for_user(self.request.user)
        return self._scope

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Token-authenticated callers are known only now: let the audit log name them too.
        context = auditlog_value.get(None)
        if context is not None and context.get("actor") is None and request.user.is_authenticated:
            context["actor"] = request.user
        # PostgreSQL stores no NUL in text: a query value carrying one is refused before any view looks it up.
        refused = sorted({name for name, values in request.query_params.lists() if any("\x00" in v for v in values)})
        if refused:
            raise exceptions.ValidationError({name: [_("Null characters are not allowed.")] for name in refused})


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out sign-in: the API's JSON error, or the web page."""
    if request.path.startswith("/api/"):
        message = _("Too many failed sign-ins: this account is locked for a while. Try again later.")
        return JsonResponse(error_body("locked_out", message), status=429)
    return render(request, "accounts/locked_out.html", status=429)
