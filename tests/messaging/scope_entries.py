"""The SMS platform's scoped endpoints, in the form of tests/scope_registry.py."""

from tests.scope_registry import EAST, WEST, ScopedEndpoint, result_ids

PHONE = "13600009999"


def _messages(city) -> None:
    from messaging.models import Message
    from messaging.services import message_queue

    for code in ("110101001001001", "110101001002002", "110101002001001"):
        message_queue(phone=PHONE, text=code, kind=Message.Kind.REPLY, unit_code=code, deliver_later=False)


def _broadcasts(city) -> None:
    from accounts.services import user_create
    from core.scope import Scope
    from messaging.models import Broadcast
    from residents.models import AttentionTag

    author = user_create(
        scope=Scope.everything(), username="sms-author", password=None, roles=["city_leader"], units=["110100"]
    )
    tag = AttentionTag.objects.get(code="elderly_alone")
    for code in ("110101001", "110101001002", "110101002"):
        Broadcast.objects.create(text=code, tag=tag, unit_code=code, created_by=author)


def _ids(model_path: str, prefix: str) -> list[str]:
    from django.apps import apps

    model = apps.get_model(model_path)
    return sorted(str(pk) for pk in model.objects.filter(unit_code__startswith=prefix).values_list("pk", flat=True))


SMS_ENDPOINTS = [
    ScopedEndpoint(
        name="sms log",
        list_url="/sms/api/messages/",
        ids=result_ids(),
        records=lambda city: (_ids("messaging.Message", WEST), _ids("messaging.Message", EAST)),
        setup=_messages,
    ),
    ScopedEndpoint(
        name="sms broadcasts",
        list_url="/sms/api/broadcasts/",
        ids=result_ids(),
        records=lambda city: (_ids("messaging.Broadcast", WEST), _ids("messaging.Broadcast", EAST)),
        detail_url=lambda pk: f"/sms/api/broadcasts/{pk}/",
        setup=_broadcasts,
    ),
]
