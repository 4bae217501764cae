"""The SMS notification channel: a reporter without an account is told of their case by text message."""

from django.utils import translation

from messaging.models import Message


class SmsChannel:
    """
    Add "messaging.channels.SmsChannel" to GEOGRID_NOTIFICATION_CHANNELS. Notifications addressed to
    a phone number (reporters) are queued as SMS; staff keep reading theirs in the app.
    """

    name = "sms"

    def deliver(self, notification) -> str | None:
        if notification.recipient_id or not notification.phone:
            return None
        from incidents.services import MESSAGES
        from messaging.services import message_queue, sms_language

        incident = notification.incident
        text = notification.message
        if incident is not None and notification.kind in MESSAGES:
            # Written in the language of whoever changed the case; the resident reads it in the SMS language.
            with translation.override(sms_language()):
                text = MESSAGES[notification.kind](incident)
        message = message_queue(
            phone=notification.phone,
            text=text,
            kind=Message.Kind.NOTIFICATION,
            incident=incident,
            unit_code=incident.unit_code if incident else "",
        )
        return f"queued:{message.pk}"
