"""Open311 clients in the admin: keys are created by `manage.py open311_client create`, never shown again."""

from django.contrib import admin

from open311.models import Open311Client, Open311Request


@admin.register(Open311Client)
class Open311ClientAdmin(admin.ModelAdmin):
    list_display = ("name", "key_prefix", "active", "acts_as", "created_at", "last_used_at")
    list_filter = ("active",)
    search_fields = ("name", "key_prefix")
    readonly_fields = ("key_prefix", "created_at", "last_used_at")
    autocomplete_fields = ("acts_as",)

    def has_add_permission(self, request):
        # A key must be shown to its owner once; the command does that, a form could not.
        return False


@admin.register(Open311Request)
class Open311RequestAdmin(admin.ModelAdmin):
    list_display = ("incident", "client", "created_at")
    list_filter = ("client",)
    readonly_fields = ("incident", "client", "attributes", "media_url", "address_id", "service_notice", "created_at")

    def has_add_permission(self, request):
        return False
