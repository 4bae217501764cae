"""The SMS notification channel: reporters are told of their case, staff of cases dispatched to them or overdue."""

from django.conf import settings
from django.utils import translation

from messaging.models import Message


class SmsChannel:
    """
    Add "messaging.channels.SmsChannel" to GEOGRID_NOTIFICATION_CHANNELS. Notifications addressed to
    a phone number (reporters) are queued as SMS; so are those of the kinds in
    GEOGRID_SMS_STAFF_KINDS (a case dispatched to them, a case overdue) for staff with a phone
    number. Staff read every notification in the app as well.
    """

    name = "sms"

    def deliver(self, notification) -> str | None:
        from incidents.services import MESSAGES
        from messaging.services import message_queue, sms_language

        phone = notification.phone
        if notification.recipient_id:
            if notification.kind not in getattr(settings, "GEOGRID_SMS_STAFF_KINDS", ("dispatched", "overdue")):
                return None
            phone = notification.recipient.phone
        if not phone:
            return None
        incident = notification.incident
        text = notification.message
        if incident is not None and notification.kind in MESSAGES:
            # Written in the language of whoever changed the case; the resident reads it in the SMS language.
            with translation.override(sms_language()):
                text = MESSAGES[notification.kind](incident)
        message = message_queue(
            phone=phone,
            text=text,
            kind=Message.Kind.NOTIFICATION,
            incident=incident,
            unit_code=incident.unit_code if incident else "",
        )
        return f"queued:{message.pk}"
