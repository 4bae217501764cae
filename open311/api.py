"""The GeoReport v2 endpoints: thin views that parse the spec's parameters and answer in JSON or XML."""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator, URLValidator
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from accounts.auth import AnonRateThrottle
from core.coords import CoordinateError, parse_lon_lat
from core.errors import ApiError
from open311 import selectors, services
from open311.formats import render, render_errors, request_fields, service_definition_fields, service_fields
from open311.selectors import DEFAULT_WINDOW, STATUS_GROUPS

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When the endpoint last changed (discovery's `changeset`): bump it with any change clients should notice.
CHANGESET = "2026-11-27T00:00:00+08:00"
DESCRIPTION_MAX = 4000


class Open311Throttle(AnonRateThrottle):
    """Every caller, by address: the endpoints are public."""

    scope = "open311"

    def get_rate(self):
        return settings.GEOGRID_OPEN311_RATE


class Open311PostThrottle(Open311Throttle):
    """Posting a request opens a case for staff to handle: a tighter rate on top of the shared one."""

    scope = "open311_post"

    def get_rate(self):
        return settings.GEOGRID_OPEN311_POST_RATE

    def allow_request(self, request, view):
        return request.method != "POST" or super().allow_request(request, view)


class Open311Api(APIView):
    """No session, no token: reads are public, posting carries the client's api_key."""

    # Described by the GeoReport v2 specification and its discovery document, not by the platform's OpenAPI.
    schema = None
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (Open311Throttle, Open311PostThrottle)
    parser_classes = (FormParser, MultiPartParser)

    def handle_exception(self, exc):
        fmt = self.kwargs.get("fmt", "json")
        if isinstance(exc, DjangoValidationError):
            if hasattr(exc, "error_dict"):
                messages = [f"{field}: {m}" for field, ms in exc.message_dict.items() for m in ms]
            else:
                messages = exc.messages
            return render_errors(fmt, 400, messages)
        if isinstance(exc, CoordinateError):
            return render_errors(fmt, 400, [f"{exc.field}: {exc.message}"])
        if isinstance(exc, Http404):
            return render_errors(fmt, 404, [str(exc) or _("Not found.")])
        if isinstance(exc, ApiError):
            return render_errors(fmt, exc.status_code, [str(exc.detail)])
        if isinstance(exc, exceptions.APIException):
            response = render_errors(fmt, exc.status_code, [str(exc.detail)])
            if isinstance(exc, exceptions.Throttled) and exc.wait:
                response["Retry-After"] = str(int(exc.wait) + 1)
            return response
        return super().handle_exception(exc)


def _list_param(params, name: str) -> list[str]:
    return [part.strip() for part in params.get(name, "").split(",") if part.strip()]


def _datetime_param(params, name: str) -> dt.datetime | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    # An unescaped "+" of the offset arrives as a space: 2026-01-01T00:00:00 08:00.
    value = parse_datetime(re.sub(r" (\d{2}:?\d{2})$", r"+\1", raw))
    if value is None and (day := parse_date(raw)) is not None:
        value = dt.datetime.combine(day, dt.time())
    if value is None:
        raise DjangoValidationError({name: [_("Not a W3C date and time, e.g. 2026-01-01T00:00:00+08:00.")]})
    return value if timezone.is_aware(value) else timezone.make_aware(value)


class DiscoveryApi(Open311Api):
    def get(self, request, fmt):
        base = request.build_absolute_uri(request.path).rsplit("/", 1)[0] + "/"
        document = {
            "changeset": CHANGESET,
            "contact": getattr(settings, "GEOGRID_OPEN311_CONTACT", ""),
            "key_service": _("API keys for posting requests are issued by the platform's administrators."),
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": base,
                    "changeset": CHANGESET,
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        }
        return render(fmt, "discovery", document)


class ServiceListApi(Open311Api):
    def get(self, request, fmt):
        return render(fmt, "services", [service_fields(category) for category in selectors.service_list()])


class ServiceDefinitionApi(Open311Api):
    def get(self, request, service_code, fmt):
        category = selectors.service_get(service_code=service_code)
        if category is None:
            raise Http404(_("No service with the code %(code)s.") % {"code": service_code})
        return render(fmt, "service_definition", service_definition_fields(category))


class RequestListApi(Open311Api):
    def get(self, request, fmt):
        params = request.query_params
        statuses = _list_param(params, "status")
        unknown = [s for s in statuses if s not in STATUS_GROUPS]
        if unknown:
            raise DjangoValidationError({"status": [_("Use open or closed.")]})
        start, end = _datetime_param(params, "start_date"), _datetime_param(params, "end_date")
        if start and end and end - start > DEFAULT_WINDOW:
            raise DjangoValidationError({"end_date": [_("The range may span at most 90 days.")]})
        incidents = selectors.request_list(
            service_request_ids=_list_param(params, "service_request_id"),
            service_codes=_list_param(params, "service_code"),
            start=start,
            end=end,
            statuses=statuses,
            now=timezone.now(),
        )
        return self.answer(fmt, incidents)

    @staticmethod
    def answer(fmt, incidents):
        agencies = selectors.unit_names(i.assigned_unit_code for i in incidents if not i.assigned_department_id)
        return render(fmt, "service_requests", [request_fields(i, agencies) for i in incidents])

    def post(self, request, fmt):
        data = request.data
        client = selectors.client_for_key(key=data.get("api_key", "").strip())
        if client is None:
            raise ApiError(_("api_key was not provided or is invalid."), status_code=403)
        services.client_touch(client=client)
        service_code = data.get("service_code", "").strip()
        if not service_code:
            raise DjangoValidationError({"service_code": [_("Required.")]})
        category = selectors.service_get(service_code=service_code)
        if category is None:
            raise Http404(_("No service with the code %(code)s.") % {"code": service_code})
        lat, lon = data.get("lat", "").strip(), data.get("long", "").strip()
        address, address_id = data.get("address_string", "").strip(), data.get("address_id", "").strip()
        location = None
        if lat or lon:
            if not (lat and lon):
                raise DjangoValidationError({"lat": [_("Give both lat and long.")]})
            location = Point(*parse_lon_lat(lon, lat), srid=4326)
        elif not (address or address_id):
            raise DjangoValidationError({"lat": [_("Give lat and long, address_string or address_id.")]})
        description = data.get("description", "")
        if len(description) > DESCRIPTION_MAX:
            raise DjangoValidationError({"description": [_("At most 4000 characters.")]})
        email, media_url = data.get("email", "").strip(), data.get("media_url", "").strip()
        if email:
            EmailValidator(message=_("Not an e-mail address."))(email)
        if media_url:
            URLValidator(schemes=["http", "https"], message=_("Not an http(s) URL."))(media_url)
        incident, record = services.service_request_create(
            client=client,
            category=category,
            description=description,
            location=location,
            address_string=address,
            address_id=address_id,
            attributes=_attributes(data),
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            phone=data.get("phone", ""),
            media_url=media_url,
        )
        answer = {
            "service_request_id": incident.number,
            "token": incident.external_token,
            "service_notice": record.service_notice,
            "account_id": data.get("account_id", "").strip() or None,
        }
        return render(fmt, "service_requests", [answer], status=201)


def _attributes(data) -> dict[str, list[str]]:
    """`attribute[code]=value`, or `attribute[code][]=value` repeated for a multi-value list."""
    answers: dict[str, list[str]] = {}
    for key in data:
        if key.startswith("attribute[") and "]" in key:
            code = key[len("attribute[") : key.index("]")]
            answers.setdefault(code, []).extend(data.getlist(key))
    return answers


class RequestDetailApi(Open311Api):
    def get(self, request, service_request_id, fmt):
        incident = selectors.request_get(service_request_id=service_request_id)
        if incident is None:
            raise Http404(_("No request with the id %(id)s.") % {"id": service_request_id})
        return RequestListApi.answer(fmt, [incident])


class TokenApi(Open311Api):
    def get(self, request, token, fmt):
        incident = selectors.request_for_token(token=token)
        if incident is None:
            raise Http404(_("No request with this token."))
        return render(fmt, "service_requests", [{"service_request_id": incident.number, "token": token}])
