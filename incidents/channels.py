"""Notification channels: each delivers a notification its own way and says how it went."""


class InAppChannel:
    """Staff read their notifications in the app (GET /api/v1/notifications/): stored is delivered."""

    name = "in_app"

    def deliver(self, notification) -> str | None:
        return "delivered" if notification.recipient_id else None
