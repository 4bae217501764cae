"""OpenAPI generation: every operation also documents the error answers it can give, in the API's one error shape."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers
from rest_framework.permissions import AllowAny


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable reason, e.g. invalid, not_found, permission_denied.")
    message = serializers.CharField(help_text="What went wrong, in the caller's language.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="The fields at fault (dotted names for nested ones), each with its reasons.",
    )


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer: {"error": {"code", "message", "fields"}} (core.errors)."""

    error = ErrorDetailSerializer()


# Why each status can answer; which operations get which is decided in AutoSchema._error_statuses.
ERROR_DESCRIPTIONS = {
    "400": "Invalid input: `error.fields` names each field at fault and why.",
    "401": "No valid credentials: send `Authorization: Token <key>`.",
    "403": "The caller's roles do not allow this.",
    "404": "Not found, or outside the caller's scope (an unknown code in `under`, a page past the end...).",
    "413": "The body is larger than the limit for this kind of request.",
    "415": "The body is not of a content type this operation reads, or cannot be read as one.",
    "429": "Too many requests: wait for the time in `Retry-After`.",
}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's AutoSchema, adding the error responses that the operation's view can give."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        for parameter in operation.get("parameters", []):
            # DRF reads `?name=` as leaving an optional value out (the list's default, no filter).
            if parameter["in"] == "query" and not parameter.get("required"):
                parameter["allowEmptyValue"] = True
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation["responses"]
        for status in self._error_statuses(operation):
            responses.setdefault(status, {"description": ERROR_DESCRIPTIONS[status]})
        for status, response in responses.items():
            # An error documented by hand with a description only still answers in the one error shape.
            if status.startswith("4") and not response.get("content"):
                response["content"] = {"application/json": {"schema": error}}
        return operation

    def _error_statuses(self, operation) -> list[str]:
        view = self.view
        statuses = []
        if operation.get("parameters") or operation.get("requestBody"):
            statuses += ["400", "404"]  # bad values; unknown codes, ids, pages
        if operation.get("requestBody"):
            statuses += ["413", "415"]  # core.security's size limits; DRF's parsers
        if view.get_authenticators():
            statuses.append("401")  # a wrong or expired token is refused even where no sign-in is needed
        if any(not isinstance(permission, AllowAny) for permission in view.get_permissions()):
            statuses.append("403")
        if view.get_throttles():
            statuses.append("429")
        return statuses
