"""Read-only admin views of the SMS log and broadcasts; phone numbers stay masked."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.personal import mask_phone
from messaging.models import Broadcast, Message, OptOut


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "direction", "kind", "masked_phone", "state", "attempts", "unit_code", "incident"]
    list_filter = ["direction", "kind", "state"]
    list_select_related = ["incident"]
    fields = ["direction", "kind", "provider_id", "masked_phone", "text", "state", "attempts", "error", "unit_code"]
    readonly_fields = fields

    @admin.display(description=_("phone"))
    def masked_phone(self, message):
        return mask_phone(message.phone)


@admin.register(Broadcast)
class BroadcastAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "tag", "unit_code", "state", "recipient_count", "sent_count", "failed_count"]
    list_filter = ["state", "tag"]


@admin.register(OptOut)
class OptOutAdmin(ReadOnlyAdmin):
    list_display = ["created_at"]
