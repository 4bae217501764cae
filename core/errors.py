"""One JSON error shape for the whole API: {"error": {"code", "message", "fields"}}."""

import sys

import psycopg
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApiError(exceptions.APIException):
    """An error a service or selector raises with its own code, message, fields and HTTP status."""

    def __init__(self, message, *, code: str = "invalid", fields: dict | None = None, status_code: int = 400):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.fields = fields or {}


def error_body(code: str, message, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": str(message), "fields": fields or {}}}


def _flatten(detail) -> dict:
    """DRF's nested error details as {field: [message, ...]}, with dotted names for nested fields."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list) and value and not isinstance(value[0], str | exceptions.ErrorDetail):
            for index, sub in enumerate(value):
                walk(f"{prefix}.{index}" if prefix else str(index), sub)
        else:
            messages = value if isinstance(value, list) else [value]
            flat.setdefault(prefix or "non_field_errors", []).extend(str(m) for m in messages)

    walk("", detail)
    return flat


def api_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        body = error_body(exc.error_code, exc.detail, exc.fields)
    elif isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first = next(iter(fields.items()), ("", [_("Invalid input.")]))
        message = _("Invalid input: %(field)s: %(reason)s") % {"field": first[0], "reason": first[1][0]}
        body = error_body("invalid", message, fields)
    else:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
        body = error_body(code, exc.detail if isinstance(exc.detail, str) else _("Request failed."))
    return Response(body, status=response.status_code, headers=_kept_headers(response))


def _kept_headers(response) -> dict:
    return {key: response[key] for key in ("WWW-Authenticate", "Retry-After", "Allow") if key in response}


def json_not_found(request, exception=None):
    """handler404 for URLs outside any view: the same JSON shape as the API's errors."""
    return JsonResponse(error_body("not_found", _("Not found.")), status=status.HTTP_404_NOT_FOUND)


def json_server_error(request):
    """handler500: a lost database connection (raised outside a view, e.g. in a middleware) is a 503 too."""
    if database_unavailable(sys.exc_info()[1]):
        return database_unavailable_response()
    return JsonResponse(error_body("server_error", _("Server error.")), status=status.HTTP_500_INTERNAL_SERVER_ERROR)


# SQLSTATEs meaning the server cannot serve this connection now: the connection exception class (08),
# the server shutting down or restarting (57P01-57P03), too many connections (53300).
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")
# Seconds a client is asked to wait before trying again: a restarting server is back within seconds.
DATABASE_RETRY_AFTER = 5


def database_unavailable(exc: BaseException | None) -> bool:
    """
    Whether `exc` says the database server cannot be reached (down, restarting, the connection cut):
    a condition that passes, unlike a bug. Deadlocks, cancelled statements and the like are not it.
    """
    if isinstance(exc, InterfaceError | psycopg.InterfaceError):
        return True
    if not isinstance(exc, OperationalError | psycopg.OperationalError):
        return False
    cause = exc if isinstance(exc, psycopg.Error) else exc.__cause__
    state = getattr(cause, "sqlstate", None)
    # No SQLSTATE: the client library itself lost or could not open the connection.
    return state is None or state.startswith(_UNAVAILABLE_STATES)


def database_unavailable_response() -> JsonResponse:
    response = JsonResponse(
        error_body("database_unavailable", _("The database cannot be reached at the moment; try again shortly.")),
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
    )
    response["Retry-After"] = str(DATABASE_RETRY_AFTER)
    return response
