"""The services Open311 offers (the incident categories' minor classes) and the attributes each one asks for."""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from incidents.models import Category


@dataclass(frozen=True)
class Attribute:
    """One question of a service definition (GeoReport v2 `attribute`)."""

    code: str
    datatype: str  # string, number, datetime, text, singlevaluelist, multivaluelist
    description: object
    required: bool = False
    datatype_description: object = ""
    order: int = 1
    values: tuple[tuple[str, object], ...] = field(default_factory=tuple)


# Components are installed things, so a client can say what is wrong with one and give the number on
# its plate (which identifies the owner); events (garbage dumped, a stall on the pavement) ask nothing.
COMPONENT_ATTRIBUTES = (
    Attribute(
        code="condition",
        datatype="singlevaluelist",
        description=_("What is wrong with it?"),
        order=1,
        values=(("damaged", _("damaged")), ("missing", _("missing")), ("displaced", _("displaced or loose"))),
    ),
    Attribute(
        code="asset_id",
        datatype="string",
        description=_("Number on the component's plate, if there is one"),
        datatype_description=_("As printed, e.g. 110101-0123"),
        order=2,
    ),
)


def attributes_for(category: Category) -> tuple[Attribute, ...]:
    return COMPONENT_ATTRIBUTES if category.family == Category.Family.COMPONENT else ()
