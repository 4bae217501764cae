"""Page-number pagination with `page` and `page_size` (capped), for JSON lists and GeoJSON collections."""

import json

from django.conf import settings
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, pagination
from rest_framework.response import Response

from core.errors import ApiError


def estimated_count(queryset: QuerySet) -> int:
    """The planner's estimate of a queryset's rows: one EXPLAIN, however many rows match."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


# The query parameters of a paginated list, for the views whose OpenAPI description is written by hand.
PAGE_PARAMETERS = [
    OpenApiParameter("page", {"type": "integer", "minimum": 1}),
    OpenApiParameter("page_size", {"type": "integer", "minimum": 1, "maximum": settings.GEOGRID_MAX_PAGE_SIZE}),
]


class CountingPaginator(Paginator):
    """
    Counts exactly while the match is small; beyond GEOGRID_EXACT_COUNT_LIMIT rows (by the planner's
    estimate) it answers the estimate, since counting a few hundred thousand rows costs more than
    showing the page. `estimated` says which it did.
    """

    estimated = False

    @cached_property
    def count(self):
        limit = settings.GEOGRID_EXACT_COUNT_LIMIT
        if not (isinstance(self.object_list, QuerySet) and limit):
            return super().count
        # Counting stops one row past the limit, so a small match costs one exact count.
        capped = self.object_list.values("pk").order_by()[: limit + 1].count()
        if capped <= limit:
            return capped
        self.estimated = True
        return max(estimated_count(self.object_list), capped)

    def validate_number(self, number):
        if not (self.count and self.estimated):
            return super().validate_number(number)
        # An estimate may fall short of the real match: a page past it is served while it holds rows.
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(_("That page number is not an integer")) from None
        if number < 1:
            raise EmptyPage(_("That page number is less than 1"))
        return number

    def page(self, number):
        number = self.validate_number(number)
        if not self.estimated:
            return super().page(number)
        # One row more than the page tells whether another page follows, whatever the estimate says.
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage(_("That page contains no results"))
        return _Page(rows[: self.per_page], number, self, more=len(rows) > self.per_page)


class _Page(Page):
    """A page of a list whose count is an estimate: whether more rows follow was looked up."""

    def __init__(self, object_list, number, paginator, *, more: bool):
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self):
        return self.more


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = settings.GEOGRID_MAX_PAGE_SIZE
    django_paginator_class = CountingPaginator

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):  # empty, like leaving it out (as DRF reads `page=`)
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
        body = {
            "count": self.page.paginator.count,
            "next": self.get_next_link(),
            "previous": self.get_previous_link(),
            "results": data,
        }
        if self.page.paginator.estimated:
            body["count_estimated"] = True
        return Response(body)

    def get_paginated_response_schema(self, schema):
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["count_estimated"] = {
            "type": "boolean",
            "description": "Present (true) when count is the planner's estimate of a large match.",
        }
        return paginated

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["maximum"] = self.max_page_size
        return parameters


class JsonTextPagination(PageNumberPagination):
    """Paginates a queryset of JSON strings built by the database; the page is joined, never parsed."""

    def get_paginated_response(self, data, **members):
        head = {
            "count": self.page.paginator.count,
            "next": self.get_next_link(),
            "previous": self.get_previous_link(),
            **members,
        }
        if self.page.paginator.estimated:
            head["count_estimated"] = True
        body = json.dumps(head, ensure_ascii=False)[:-1] + ', "results": [' + ",".join(data) + "]}"
        return HttpResponse(body, content_type="application/json")
