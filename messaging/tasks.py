"""Background work of the SMS platform: handing messages to the gateway and sending broadcasts."""

from celery import shared_task

from messaging import services


@shared_task
def message_deliver_task(message_id: int) -> str:
    return services.message_deliver(message_id=message_id).state


@shared_task
def broadcast_deliver_task(broadcast_id: int) -> str:
    return services.broadcast_deliver(broadcast_id=broadcast_id).state
