"""Page-number pagination with `page` and `page_size` (capped), for JSON lists and GeoJSON collections."""

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import exceptions, pagination
from rest_framework.response import Response

from core.errors import ApiError


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = settings.GEOGRID_MAX_PAGE_SIZE

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ApiError(_("page_size must be a whole number."), fields={"page_size": [_("Not a number.")]}) from None
        if size < 1 or size > self.max_page_size:
            raise ApiError(
                _("page_size must be between 1 and %(max)d.") % {"max": self.max_page_size},
                fields={"page_size": [_("Out of range.")]},
            )
        return size

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except exceptions.NotFound:  # a page past the end, or not a number
            raise ApiError(
                _("Page %(page)s does not exist.") % {"page": request.query_params.get(self.page_query_param)},
                code="not_found",
                fields={"page": [_("Invalid page.")]},
                status_code=404,
            ) from None

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.page.paginator.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )
