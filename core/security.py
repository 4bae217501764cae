"""Middleware guarding every request: bodies over the limits answer 413, HTML pages carry a Content-Security-Policy."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _

from core.errors import error_body

MB = 1024 * 1024


def body_limit(content_type: str) -> int:
    """The largest body a request of this content type may send, in bytes."""
    if content_type.startswith("multipart/form-data"):
        return (settings.GEOGRID_MAX_UPLOAD_MB + 1) * MB  # one MB more for the form's other fields
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class RequestSizeLimitMiddleware:
    """
    Refuses a request whose declared body is over the limit before anything reads it. Django keeps
    form fields under DATA_UPLOAD_MAX_MEMORY_SIZE but streams uploaded files to disk whatever their
    size, and DRF reads a JSON body whole without looking at it: here both are refused up front.
    A body without a Content-Length is read as empty by Django, so the declared length is what counts.
    Listed before CsrfViewMiddleware, the first to read a form.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0:
            return JsonResponse(error_body("invalid", _("The Content-Length header is not a number.")), status=400)
        limit = body_limit(request.META.get("CONTENT_TYPE", ""))
        if length > limit:
            message = _("The request body is larger than %(mb).1f MB.") % {"mb": limit / MB}
            return JsonResponse(error_body("too_large", message), status=413)
        return self.get_response(request)


def content_security_policy() -> str:
    """The policy from settings, with the base map's origin allowed where MapLibre loads its tiles."""
    policy = settings.GEOGRID_CONTENT_SECURITY_POLICY
    basemap = ""
    if settings.GEOGRID_BASEMAP_URL:
        parts = urlsplit(settings.GEOGRID_BASEMAP_URL.replace("{", "").replace("}", ""))
        if parts.scheme in ("http", "https") and parts.netloc:
            basemap = f"{parts.scheme}://{parts.netloc}"
    return " ".join(policy.replace("{basemap}", basemap).split())


class ContentSecurityPolicyMiddleware:
    """
    Adds the Content-Security-Policy header to HTML answers (the web pages, sign-in), except under the
    paths listed in GEOGRID_CONTENT_SECURITY_POLICY_EXEMPT, whose pages run inline scripts.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = content_security_policy()
        self.exempt = tuple(settings.GEOGRID_CONTENT_SECURITY_POLICY_EXEMPT)

    def __call__(self, request):
        response = self.get_response(request)
        if (
            self.policy
            and "Content-Security-Policy" not in response
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith(self.exempt)
        ):
            response["Content-Security-Policy"] = self.policy
        return response
