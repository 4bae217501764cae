"""Keeping personal data out of logs and error reports."""

import logging

from django.views.debug import SafeExceptionReporterFilter

from core.personal import scrub


class PersonalDataFilter(logging.Filter):
    """Masks ID numbers and mobile numbers in every log record before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


class PersonalDataReporterFilter(SafeExceptionReporterFilter):
    """Error reports hide personal-data fields and mask such numbers anywhere else in the request."""

    hidden_settings = SafeExceptionReporterFilter.hidden_settings
    sensitive_names = ("id_number", "phone", "password", "token", "key")

    def get_post_parameters(self, request):
        parameters = super().get_post_parameters(request)
        if not parameters:
            return parameters
        cleaned = parameters.copy()
        for name in list(cleaned):
            if any(word in name.lower() for word in self.sensitive_names):
                cleaned[name] = self.cleansed_substitute
            else:
                cleaned[name] = scrub(str(cleaned[name]))
        return cleaned

    def cleanse_special_types(self, request, value):
        value = super().cleanse_special_types(request, value)
        return scrub(value) if isinstance(value, str) else value
