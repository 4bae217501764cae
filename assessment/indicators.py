"""The indicator registry: every indicator defined once, read by the API, the exports, the schemes and the map."""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

HIGHER, LOWER, NEUTRAL = "higher", "lower", "neutral"


@dataclass(frozen=True)
class Indicator:
    key: str
    name: str
    unit: str  # "count", "share" (0..1), "hours", "days", "minutes", "score"
    direction: str  # whether higher or lower values are better
    subjects: tuple[str, ...]  # "unit", "person"
    formula: str
    group: str


def _i(key, name, unit, direction, subjects, formula, group):
    return Indicator(key, name, unit, direction, tuple(subjects), formula, group)


BOTH = ("unit", "person")
UNIT = ("unit",)

INDICATORS: dict[str, Indicator] = {
    i.key: i
    for i in [
        _i("visits", _("visit logs"), "count", HIGHER, BOTH, _("Visit logs written in the period."), "visits"),
        _i(
            "visit_coverage",
            _("visit coverage"),
            "share",
            HIGHER,
            BOTH,
            _("Households visited in the period / households in the unit (for a person: in their cells)."),
            "visits",
        ),
        _i(
            "days_since_last_visit",
            _("days since the last visit"),
            "days",
            LOWER,
            BOTH,
            _("Days from the last visit to the end of the period (or today)."),
            "visits",
        ),
        _i(
            "incidents_reported",
            _("incidents reported"),
            "count",
            NEUTRAL,
            UNIT,
            _("Incidents reported in the period."),
            "incidents",
        ),
        _i(
            "incidents_found",
            _("incidents found on patrol"),
            "count",
            HIGHER,
            BOTH,
            _("Incidents found by staff (patrol, visit logs) in the period; for a person: those they reported."),
            "incidents",
        ),
        _i(
            "incidents_from_residents",
            _("incidents from residents"),
            "count",
            NEUTRAL,
            UNIT,
            _("Incidents reported in the period by residents (hotline, SMS, web, app, Open311)."),
            "incidents",
        ),
        _i(
            "incidents_accepted",
            _("incidents accepted"),
            "count",
            NEUTRAL,
            UNIT,
            _("Incidents accepted in the period."),
            "incidents",
        ),
        _i(
            "incidents_resolved",
            _("incidents resolved"),
            "count",
            HIGHER,
            BOTH,
            _("Incidents resolved in the period; for a person: as assignee."),
            "incidents",
        ),
        _i(
            "accept_on_time",
            _("accepted on time"),
            "share",
            HIGHER,
            UNIT,
            _(
                "Incidents reported in the period accepted within the category's deadline / those accepted or "
                "already late."
            ),
            "incidents",
        ),
        _i(
            "dispatch_on_time",
            _("dispatched on time"),
            "share",
            HIGHER,
            UNIT,
            _(
                "Incidents reported in the period dispatched within the deadline after acceptance / those "
                "dispatched or already late."
            ),
            "incidents",
        ),
        _i(
            "resolve_on_time",
            _("resolved on time"),
            "share",
            HIGHER,
            BOTH,
            _("Incidents resolved in the period within the deadline after dispatch / incidents resolved."),
            "incidents",
        ),
        _i(
            "median_hours_to_resolve",
            _("median hours to resolve"),
            "hours",
            LOWER,
            BOTH,
            _("Median of (resolved - reported) over incidents resolved in the period."),
            "incidents",
        ),
        _i(
            "p90_hours_to_resolve",
            _("90th percentile hours to resolve"),
            "hours",
            LOWER,
            BOTH,
            _("90th percentile of (resolved - reported) over incidents resolved in the period."),
            "incidents",
        ),
        _i(
            "escalation_rate",
            _("escalation rate"),
            "share",
            LOWER,
            UNIT,
            _("Incidents reported in the period that were escalated / incidents reported."),
            "incidents",
        ),
        _i(
            "reopen_rate",
            _("reopen rate"),
            "share",
            LOWER,
            BOTH,
            _("Incidents resolved in the period that had been reopened / incidents resolved."),
            "incidents",
        ),
        _i(
            "satisfied_share",
            _("satisfied residents"),
            "share",
            HIGHER,
            BOTH,
            _("Evaluations of 4 or 5 in the period / evaluations in the period."),
            "satisfaction",
        ),
        _i(
            "mean_satisfaction",
            _("mean satisfaction"),
            "score",
            HIGHER,
            BOTH,
            _("Mean score (1-5) of the evaluations in the period."),
            "satisfaction",
        ),
        _i(
            "evaluation_rate",
            _("evaluation response rate"),
            "share",
            HIGHER,
            UNIT,
            _("Incidents resolved in the period that residents evaluated / incidents resolved."),
            "satisfaction",
        ),
        _i(
            "sms_first_answer_minutes",
            _("SMS appeals: minutes to first answer"),
            "minutes",
            LOWER,
            UNIT,
            _("Median minutes from an SMS appeal to the first answer sent (empty until the SMS platform runs)."),
            "satisfaction",
        ),
        _i(
            "household_completeness",
            _("complete households"),
            "share",
            HIGHER,
            UNIT,
            _("Households with address and housing type / households."),
            "basic_data",
        ),
        _i(
            "resident_completeness",
            _("complete residents"),
            "share",
            HIGHER,
            UNIT,
            _("Residents with ID number, gender, birth date and phone / residents."),
            "basic_data",
        ),
        _i(
            "data_freshness",
            _("households updated recently"),
            "share",
            HIGHER,
            UNIT,
            _("Households updated in the last six months / households."),
            "basic_data",
        ),
        _i(
            "unassigned_points",
            _("unassigned households"),
            "count",
            LOWER,
            UNIT,
            _("Households whose point lies in no grid cell, among those the unit answers for."),
            "basic_data",
        ),
        _i("households", _("households"), "count", NEUTRAL, UNIT, _("Households in the unit."), "population"),
        _i("residents", _("residents"), "count", NEUTRAL, UNIT, _("Residents in the unit."), "population"),
        _i(
            "residents_per_km2",
            _("residents per km²"),
            "density",
            NEUTRAL,
            UNIT,
            _("Residents / the unit's area in km²."),
            "population",
        ),
        _i(
            "incidents_per_1000_residents",
            _("incidents per 1,000 residents"),
            "rate",
            LOWER,
            UNIT,
            _("Incidents reported in the period x 1,000 / residents."),
            "incidents",
        ),
        _i(
            "open_incidents",
            _("open incidents"),
            "count",
            LOWER,
            UNIT,
            _("Incidents not yet resolved, rejected, merged or closed (when the rollup ran)."),
            "workload",
        ),
        _i(
            "overdue_incidents",
            _("overdue incidents"),
            "count",
            LOWER,
            UNIT,
            _("Open incidents past the deadline of their step (when the rollup ran)."),
            "workload",
        ),
    ]
}


def indicators_for(subject: str) -> list[Indicator]:
    return [i for i in INDICATORS.values() if subject in i.subjects]
