"""Reading indicators: tables of units and people, one unit with its trend and ranks, scheme scores."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import CharField, F, Func, Value

from assessment.indicators import HIGHER, INDICATORS, LOWER
from assessment.models import KpiValue, Scheme
from assessment.periods import Period
from boundaries.models import GridUnit, Level
from boundaries.selectors import generation_active, valid_at_q
from core.geojson import JSONBuildObject
from core.scope import Scope, subtree_prefix


def kpi_rows(
    *, scope: Scope, period: Period, subject_kind: str = "unit", level: int | None = None, under: str | None = None
):
    """The stored values of every subject in scope for a period (one row per unit or person)."""
    rows = KpiValue.objects.filter(period_kind=period.kind, period_start=period.start, subject_kind=subject_kind)
    rows = rows.filter(scope.q("unit_code"))
    if level is not None:
        rows = rows.filter(level=level)
    if under:
        rows = rows.filter(unit_code__startswith=subtree_prefix(under))
    return rows.order_by("unit_code", "subject")


def kpi_table(*, scope: Scope, period: Period, level: int | None = None, under: str | None = None):
    """
    The unit table as JSON text built by the database, one string per unit: `code`, `name`, `level`,
    `parent` and `values`. Python only joins the strings, so a city-wide table of ten thousand units
    costs one query.
    """
    return (
        kpi_rows(scope=scope, period=period, level=level, under=under)
        .annotate(
            row_json=JSONBuildObject(
                Value("code"),
                F("subject"),
                Value("name"),
                F("name"),
                Value("level"),
                _LevelSlug(F("level")),
                Value("parent"),
                F("parent"),
                Value("values"),
                F("values"),
            )
        )
        .values_list("row_json", flat=True)
    )


class _LevelSlug(Func):
    template = "(ARRAY['city','district','street','community','grid'])[%(expressions)s]"
    output_field = CharField()


def unit_names(codes) -> dict[str, str]:
    generation = generation_active()
    if generation is None:
        return {}
    return dict(GridUnit.objects.filter(valid_at_q(generation), code__in=list(codes)).values_list("code", "name"))


def person_names(ids) -> dict[str, tuple[str, str]]:
    users = get_user_model().objects.filter(pk__in=[int(i) for i in ids])
    return {str(u.pk): (u.username, u.first_name) for u in users}


def competition_ranks(pairs: list[tuple[float, str]], *, best_high: bool) -> dict[str, int]:
    """Ranks 1, 2, 2, 4...: equal values share a rank, and the next rank skips as many places."""
    ordered = sorted(pairs, key=lambda pair: pair[0], reverse=best_high)
    result: dict[str, int] = {}
    for position, (value, subject) in enumerate(ordered, start=1):
        previous = ordered[position - 2] if position > 1 else None
        result[subject] = result[previous[1]] if previous and previous[0] == value else position
    return result


def ranks(rows: list[KpiValue], indicator: str) -> dict[str, int]:
    """Rank of each subject among its peers (same parent) for one indicator: 1 is best; no data, no rank."""
    if INDICATORS[indicator].direction not in (HIGHER, LOWER):
        return {}
    groups: dict[str, list[tuple[float, str]]] = {}
    for row in rows:
        value = row.values.get(indicator)
        if value is not None:
            groups.setdefault(row.parent, []).append((value, row.subject))
    result: dict[str, int] = {}
    for members in groups.values():
        result.update(competition_ranks(members, best_high=INDICATORS[indicator].direction == HIGHER))
    return result


@dataclass
class UnitReport:
    code: str
    name: str
    level: int
    period: Period
    values: dict
    previous: dict
    ranks: dict
    peers: int


def unit_report(*, scope: Scope, code: str, period: Period) -> UnitReport | None:
    """One unit's indicators for a period, the previous period's, and its rank among its siblings."""
    row = kpi_rows(scope=scope, period=period).filter(subject=code).first()
    if row is None:
        return None
    peers = list(
        KpiValue.objects.filter(
            period_kind=period.kind, period_start=period.start, subject_kind="unit", parent=row.parent, level=row.level
        )
    )
    previous = KpiValue.objects.filter(
        period_kind=period.previous.kind, period_start=period.previous.start, subject_kind="unit", subject=code
    ).first()
    rank = {key: ranks(peers, key).get(code) for key in row.values if key in INDICATORS}
    return UnitReport(
        code=code,
        name=unit_names([code]).get(code, ""),
        level=row.level,
        period=period,
        values=row.values,
        previous=previous.values if previous else {},
        ranks=rank,
        peers=len(peers),
    )


# --- Schemes -----------------------------------------------------------------------------------


@dataclass
class Score:
    subject: str
    unit_code: str
    parent: str
    score: float | None
    items: list[dict]
    previous: float | None = None
    rank: int | None = None
    peers: int = 0

    @property
    def trend(self) -> float | None:
        return None if self.score is None or self.previous is None else round(self.score - self.previous, 1)

    def explanation(self, limit: int = 3) -> list[dict]:
        """The items that cost the most points, worst first."""
        lost = [item for item in self.items if item["lost"] > 0]
        return sorted(lost, key=lambda item: item["lost"], reverse=True)[:limit]


def item_score(value, floor: float, target: float) -> float | None:
    """0 at the floor, 100 at the target, linear between, capped at both ends (either direction)."""
    if value is None:
        return None
    share = (value - floor) / (target - floor)
    return round(100 * min(1.0, max(0.0, share)), 1)


def score_values(scheme: Scheme, values: dict) -> tuple[float | None, list[dict]]:
    """The weighted score of one subject; items without data are left out and their weight shared out."""
    items = []
    for item in scheme.items.all():
        value = values.get(item.indicator)
        points = item_score(value, item.floor, item.target)
        items.append(
            {
                "indicator": item.indicator,
                "value": value,
                "weight": item.weight,
                "score": points,
                "floor": item.floor,
                "target": item.target,
            }
        )
    scored = [i for i in items if i["score"] is not None]
    total_weight = sum(i["weight"] for i in scored)
    if not total_weight:
        return None, items
    for item in items:
        share = item["weight"] / total_weight if item["score"] is not None else 0
        item["lost"] = round(share * (100 - item["score"]), 1) if item["score"] is not None else 0
    return round(sum(i["weight"] * i["score"] for i in scored) / total_weight, 1), items


def scheme_scores(*, scope: Scope, scheme: Scheme, period: Period, under: str | None = None) -> list[Score]:
    """Scores of every subject the scheme covers in scope, with rank among peers and the previous period's."""
    rows = list(
        kpi_rows(
            scope=scope,
            period=period,
            subject_kind=scheme.subject_kind,
            under=under,
            level=scheme.level if scheme.subject_kind == "unit" else None,
        )
    )
    if scheme.subject_kind == "person":
        members = set(get_user_model().objects.filter(groups__name=scheme.role).values_list("pk", flat=True))
        rows = [r for r in rows if int(r.subject) in members]
    previous = {
        r.subject: r.values
        for r in KpiValue.objects.filter(
            period_kind=period.previous.kind,
            period_start=period.previous.start,
            subject_kind=scheme.subject_kind,
            subject__in=[r.subject for r in rows],
        )
    }
    scores = []
    for row in rows:
        score, items = score_values(scheme, row.values)
        before = score_values(scheme, previous[row.subject])[0] if row.subject in previous else None
        scores.append(
            Score(
                subject=row.subject,
                unit_code=row.unit_code,
                parent=row.parent,
                score=score,
                items=items,
                previous=before,
            )
        )
    by_group: dict[str, list[Score]] = {}
    for score in scores:
        by_group.setdefault(score.parent, []).append(score)
    for group in by_group.values():
        ranked = competition_ranks([(s.score, s.subject) for s in group if s.score is not None], best_high=True)
        for score in group:
            score.peers = len(group)
            score.rank = ranked.get(score.subject)
    return scores


def scheme_list(*, active: bool | None = True):
    schemes = Scheme.objects.prefetch_related("items")
    return schemes.filter(active=active) if active is not None else schemes


def level_slug(level) -> str | None:
    return Level(level).slug if level else None
