"""The API's JSON parser: DRF's, with bad bodies (nested too deeply to walk safely) refused as 400."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import parsers, serializers
from rest_framework.exceptions import ParseError


def nesting_depth(value, limit: int) -> int:
    """How deeply arrays and objects nest in `value` (1 for a flat list), counted without recursion, up to limit + 1."""
    deepest = 0
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def too_deep_message() -> str:
    return _("The JSON body nests arrays and objects more than %(limit)d deep.") % {
        "limit": settings.GEOGRID_MAX_NESTING_DEPTH
    }


class JSONParser(parsers.JSONParser):
    """
    Python's JSON decoder recurses once per level: thousands of `[` would end in a RecursionError (a
    500) instead of an answer. Nothing the API takes nests deeper than a GeoJSON geometry collection.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(too_deep_message()) from None
        if nesting_depth(data, settings.GEOGRID_MAX_NESTING_DEPTH) > settings.GEOGRID_MAX_NESTING_DEPTH:
            raise ParseError(too_deep_message())
        return data


class SingleValuedForm(serializers.Serializer):
    """
    A serializer of a multipart form whose fields each take one value: a field sent twice is refused
    (400) rather than one of its values taken silently, as a form would otherwise have it.
    """

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):
            repeated = {
                name: [_("Send %(name)s once.") % {"name": name}]
                for name, field in self.fields.items()
                if not isinstance(field, serializers.ListField) and len(data.getlist(name)) > 1
            }
            if repeated:
                raise serializers.ValidationError(repeated)
        return super().to_internal_value(data)
