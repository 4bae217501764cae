"""Personal data: Chinese resident ID numbers and phone numbers, validated, normalised and masked."""

import datetime as dt
import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^[1-9]\d{16}[\dX]$")
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
_PHONE_RE = re.compile(r"^(1[3-9]\d{9}|0\d{9,11}|\d{7,8})$")


def id_number_normalize(value: str) -> str:
    return (value or "").strip().replace(" ", "").upper()


def id_number_check_digit(first17: str) -> str:
    """The 18th character of a resident ID number (GB 11643-1999, ISO 7064 MOD 11-2)."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def id_number_validate(value: str) -> str:
    """The normalised ID number; ValidationError naming what is wrong otherwise."""
    number = id_number_normalize(value)
    if not _ID_RE.match(number):
        raise ValidationError(_("An ID number has 18 characters: 17 digits and a digit or X."), code="id_format")
    if id_number_check_digit(number[:17]) != number[17]:
        raise ValidationError(_("The ID number's check digit is wrong."), code="id_checksum")
    try:
        birth = id_number_birth_date(number)
    except ValueError:
        raise ValidationError(_("The ID number holds an impossible birth date."), code="id_birth_date") from None
    if birth > dt.date.today() or birth.year < 1880:
        raise ValidationError(_("The ID number holds an impossible birth date."), code="id_birth_date")
    return number


def id_number_birth_date(number: str) -> dt.date:
    return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def id_number_gender(number: str) -> str:
    """'male' or 'female', from the 17th digit (odd for men)."""
    return "male" if int(number[16]) % 2 else "female"


def phone_normalize(value: str) -> str:
    """Digits only, without a +86 / 0086 country prefix or separators."""
    digits = re.sub(r"[\s\-()]", "", value or "")
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix) :]
    return digits


def phone_validate(value: str) -> str:
    phone = phone_normalize(value)
    if not _PHONE_RE.match(phone):
        raise ValidationError(
            _("Not a phone number: a mobile number has 11 digits starting with 1, a landline starts with 0."),
            code="phone_format",
        )
    return phone


def is_mobile(phone: str) -> bool:
    return bool(_MOBILE_RE.match(phone or ""))


def mask_id_number(value: str | None) -> str:
    """110105********1234: the region and the last four characters stay."""
    if not value:
        return ""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str | None) -> str:
    """138****5678: the operator prefix and the last four digits stay."""
    if not value:
        return ""
    if len(value) <= 7:
        return "*" * (len(value) - 2) + value[-2:]
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


# Anything that looks like an ID number or a mobile number inside free text (log lines, errors).
_ID_IN_TEXT = re.compile(r"(?<![0-9])([1-9]\d{5})(\d{8})(\d{3}[\dXx])(?![0-9])")
_MOBILE_IN_TEXT = re.compile(r"(?<![0-9])(1[3-9]\d)(\d{4})(\d{4})(?![0-9])")


def scrub(text: str) -> str:
    """Masks every ID number and mobile number found in a piece of text."""
    text = _ID_IN_TEXT.sub(lambda m: m.group(1) + "********" + m.group(3)[-4:], text)
    return _MOBILE_IN_TEXT.sub(lambda m: m.group(1) + "****" + m.group(3), text)
