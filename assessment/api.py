"""HTTP API of assessment: indicator tables, a unit's report, people, scheme scores, exports, refresh."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts.auth import ScopedAPIView, client_ip
from accounts.services import audit_event
from assessment import exports, selectors, services
from assessment.indicators import INDICATORS, indicators_for
from assessment.periods import Period, parse_period
from boundaries.models import Level
from core.errors import ApiError
from core.pagination import PAGE_PARAMETERS, JsonTextPagination
from residents.exports import XLSX_CONTENT_TYPE

VIEW = "assessment.view_kpivalue"
PERIOD = OpenApiParameter("period", str, description="month:2026-10, week:2026-W43, quarter:2026-Q4, year:2026")
BACKGROUND = OpenApiParameter("background", bool, description="true: refresh on a worker, answer 202 at once")


def _period(request) -> Period:
    try:
        return parse_period(request.query_params.get("period"))
    except ValueError as exc:
        raise ApiError(str(exc), fields={"period": [str(exc)]}) from None


def _level(request) -> int | None:
    raw = request.query_params.get("level")
    if not raw:
        return None
    try:
        return Level.from_name(raw)
    except ValueError:
        raise ApiError(
            _("Unknown level."), fields={"level": [_("Use city, district, street, community or grid.")]}
        ) from None


def indicator_body(indicator) -> dict:
    return {
        "key": indicator.key,
        "name": str(indicator.name),
        "unit": indicator.unit,
        "direction": indicator.direction,
        "subjects": list(indicator.subjects),
        "formula": str(indicator.formula),
        "group": indicator.group,
    }


class IndicatorListApi(ScopedAPIView):
    """The registry: every indicator's name, unit, direction (higher or lower is better) and formula."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response({"results": [indicator_body(i) for i in INDICATORS.values()]})


class UnitKpiListApi(ScopedAPIView):
    """Indicator values of the units in scope for a period (filters: level, under)."""

    required_permission = VIEW

    @extend_schema(
        parameters=[
            PERIOD,
            OpenApiParameter("level", str),
            OpenApiParameter("under", str),
            *PAGE_PARAMETERS,
        ],
        responses={200: OpenApiTypes.OBJECT},
        operation_id="kpi_units_list",
    )
    def get(self, request):
        period = _period(request)
        rows = selectors.kpi_table(
            scope=self.scope, period=period, level=_level(request), under=request.query_params.get("under")
        )
        paginator = JsonTextPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(page, period=str(period))


class UnitKpiDetailApi(ScopedAPIView):
    """One unit: its indicators, the previous period's, the change, and its rank among its siblings."""

    required_permission = VIEW

    @extend_schema(parameters=[PERIOD], responses={200: OpenApiTypes.OBJECT}, operation_id="kpi_units_detail")
    def get(self, request, code: str):
        report = selectors.unit_report(scope=self.scope, code=code, period=_period(request))
        if report is None:
            raise ApiError(_("No indicators for this unit and period."), code="not_found", status_code=404)
        return Response(
            {
                "code": report.code,
                "name": report.name,
                "level": Level(report.level).slug,
                "period": str(report.period),
                "peers": report.peers,
                "indicators": [
                    {
                        **indicator_body(INDICATORS[key]),
                        "value": report.values.get(key),
                        "previous": report.previous.get(key),
                        "rank": report.ranks.get(key),
                    }
                    for key in INDICATORS
                    if key in report.values
                ],
            }
        )


class PersonKpiListApi(ScopedAPIView):
    """Indicator values of the grid workers in scope for a period, with their rank among their street's."""

    required_permission = VIEW

    @extend_schema(parameters=[PERIOD, OpenApiParameter("under", str)], responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        period = _period(request)
        rows = list(
            selectors.kpi_rows(
                scope=self.scope, period=period, subject_kind="person", under=request.query_params.get("under")
            )
        )
        names = selectors.person_names(r.subject for r in rows)
        keys = [i.key for i in indicators_for("person")]
        peer_rows = list(
            selectors.KpiValue.objects.filter(
                period_kind=period.kind,
                period_start=period.start,
                subject_kind="person",
                parent__in={r.parent for r in rows},
            )
        )
        ranks = {key: selectors.ranks(peer_rows, key) for key in keys}
        return Response(
            {
                "period": str(period),
                "results": [
                    {
                        "user": names.get(r.subject, ("", ""))[0],
                        "name": names.get(r.subject, ("", ""))[1],
                        "unit_code": r.unit_code,
                        "peer_group": r.parent,
                        "values": r.values,
                        "ranks": {key: ranks[key].get(r.subject) for key in keys},
                    }
                    for r in rows
                ],
            }
        )


def score_body(score, names) -> dict:
    return {
        "subject": score.subject,
        "name": names.get(score.subject, ""),
        "unit_code": score.unit_code,
        "score": score.score,
        "previous": score.previous,
        "trend": score.trend,
        "rank": score.rank,
        "peers": score.peers,
        "items": score.items,
        "explanation": [
            {
                "indicator": item["indicator"],
                "name": str(INDICATORS[item["indicator"]].name),
                "value": item["value"],
                "score": item["score"],
                "points_lost": item["lost"],
            }
            for item in score.explanation()
        ],
    }


class SchemeListApi(ScopedAPIView):
    required_permission = VIEW

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response(
            {
                "results": [
                    {
                        "id": s.pk,
                        "name": s.name,
                        "subject": s.subject_kind,
                        "level": Level(s.level).slug if s.level else None,
                        "role": s.role,
                        "period": s.period_kind,
                        "description": s.description,
                        "items": [
                            {"indicator": i.indicator, "weight": i.weight, "floor": i.floor, "target": i.target}
                            for i in s.items.all()
                        ],
                    }
                    for s in selectors.scheme_list()
                ]
            }
        )


class SchemeScoreApi(ScopedAPIView):
    """Scores of a scheme for a period: rank among peers, trend against the previous period, and why."""

    required_permission = VIEW

    @extend_schema(parameters=[PERIOD, OpenApiParameter("under", str)], responses={200: OpenApiTypes.OBJECT})
    def get(self, request, scheme_id: int):
        scheme = selectors.scheme_list().filter(pk=scheme_id).first()
        if scheme is None:
            raise ApiError(_("No such scheme."), code="not_found", status_code=404)
        period = (
            parse_period(request.query_params.get("period"), default_kind=scheme.period_kind)
            if not request.query_params.get("period")
            else _period(request)
        )
        scores = selectors.scheme_scores(
            scope=self.scope, scheme=scheme, period=period, under=request.query_params.get("under")
        )
        if scheme.subject_kind == "unit":
            names = selectors.unit_names(s.subject for s in scores)
        else:
            names = {k: v[1] or v[0] for k, v in selectors.person_names(s.subject for s in scores).items()}
        ordered = sorted(scores, key=lambda s: (s.parent, s.rank or 10**6, s.subject))
        return Response(
            {"scheme": scheme.name, "period": str(period), "results": [score_body(s, names) for s in ordered]}
        )


class UnitKpiExportApi(ScopedAPIView):
    """The units' indicators as XLSX, with a chart per indicator; audited."""

    required_permission = VIEW

    @extend_schema(
        parameters=[PERIOD, OpenApiParameter("level", str), OpenApiParameter("under", str)],
        responses={(200, XLSX_CONTENT_TYPE): OpenApiTypes.BINARY},
    )
    def get(self, request):
        period = _period(request)
        rows = list(
            selectors.kpi_rows(
                scope=self.scope, period=period, level=_level(request), under=request.query_params.get("under")
            )[:5000]
        )
        content = exports.kpi_workbook(rows, selectors.unit_names(r.subject for r in rows), period)
        audit_event(
            event="export",
            actor=request.user,
            target_label="kpi",
            remote_addr=client_ip(request),
            data={"period": str(period), "rows": len(rows)},
        )
        response = HttpResponse(content, content_type=XLSX_CONTENT_TYPE)
        response["Content-Disposition"] = f'attachment; filename="kpi-{period.label}.xlsx"'
        return response


class UnitReportPdfApi(ScopedAPIView):
    """A one-page PDF report of a unit for a period: figures, trends against the previous period, ranks."""

    required_permission = VIEW

    @extend_schema(parameters=[PERIOD], responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, code: str):
        report = selectors.unit_report(scope=self.scope, code=code, period=_period(request))
        if report is None:
            raise ApiError(_("No indicators for this unit and period."), code="not_found", status_code=404)
        history = list(
            selectors.KpiValue.objects.filter(
                subject_kind="unit", subject=code, period_kind=report.period.kind, period_start__lte=report.period.start
            ).order_by("-period_start")[:12]
        )[::-1]
        audit_event(
            event="export",
            actor=request.user,
            target_label=f"kpi report {code}",
            remote_addr=client_ip(request),
            data={"period": str(report.period)},
        )
        response = HttpResponse(exports.unit_report_pdf(report, history), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="report-{code}-{report.period.label}.pdf"'
        return response


class _RefreshQuerySerializer(serializers.Serializer):
    background = serializers.BooleanField(required=False, default=False)


class KpiRefreshApi(ScopedAPIView):
    """Recomputes the indicators now (administrators); the periodic job does it every five minutes."""

    required_permission = "assessment.change_kpivalue"

    @extend_schema(
        request=None,
        parameters=[PERIOD, BACKGROUND],
        responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        query = _RefreshQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if query.validated_data["background"]:
            services.kpi_refresh_later()
            return Response({"status": "queued"}, status=202)
        if request.query_params.get("period"):
            period = _period(request)
            return Response({"refreshed": {str(period): services.kpi_refresh_period(period)}})
        started = timezone.now()
        refreshed = services.kpi_refresh()
        return Response({"refreshed": refreshed, "seconds": round((timezone.now() - started).total_seconds(), 2)})
