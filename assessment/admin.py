"""Admin of assessment schemes (defined by administrators) and a read-only view of the rollups."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from assessment.indicators import INDICATORS
from assessment.models import KpiValue, Scheme, SchemeItem


class SchemeItemFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        subject = self.instance.subject_kind
        for form in self.forms:
            key = form.cleaned_data.get("indicator") if hasattr(form, "cleaned_data") else None
            if key and (key not in INDICATORS or subject not in INDICATORS[key].subjects):
                raise ValidationError(_("%(key)s is not an indicator of this kind of subject.") % {"key": key})


class SchemeItemInline(admin.TabularInline):
    model = SchemeItem
    formset = SchemeItemFormSet
    extra = 1


@admin.register(Scheme)
class SchemeAdmin(admin.ModelAdmin):
    list_display = ["name", "subject_kind", "level", "role", "period_kind", "active"]
    list_filter = ["subject_kind", "period_kind", "active"]
    inlines = [SchemeItemInline]


@admin.register(KpiValue)
class KpiValueAdmin(admin.ModelAdmin):
    list_display = ["period_kind", "period_start", "subject_kind", "subject", "level", "computed_at"]
    list_filter = ["period_kind", "subject_kind", "level"]
    search_fields = ["subject"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
