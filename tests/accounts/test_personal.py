"""ID numbers, phone numbers: validation, masking, and keeping them out of logs and error reports."""

import datetime as dt
import logging

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from core.logging import PersonalDataFilter, PersonalDataReporterFilter
from core.personal import (
    id_number_birth_date,
    id_number_check_digit,
    id_number_gender,
    id_number_validate,
    mask_id_number,
    mask_phone,
    phone_validate,
    scrub,
)

# The sample number of the national standard GB 11643-1999, and one more worked by hand:
# 44052418800101001: weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 give 195; 195 mod 11 = 8 -> "4".
VALID = ["11010519491231002X", "440524188001010014"]


def test_check_digit_of_the_standard_example():
    assert id_number_check_digit("11010519491231002") == "X"


@pytest.mark.parametrize("number", VALID)
def test_valid_id_numbers(number):
    assert id_number_validate(number.lower()) == number


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("110105194912310021", "id_checksum"),
        ("11010519491231002", "id_format"),
        ("1101051949123100211", "id_format"),
        ("01010519491231002X", "id_format"),
        ("11010519491331002" + id_number_check_digit("11010519491331002"), "id_birth_date"),  # month 13
        ("11010521000101002" + id_number_check_digit("11010521000101002"), "id_birth_date"),  # born in 2100
        ("", "id_format"),
    ],
)
def test_invalid_id_numbers(number, code):
    with pytest.raises(ValidationError) as error:
        id_number_validate(number)
    assert error.value.code == code


def test_birth_date_and_gender_come_from_the_number():
    assert id_number_birth_date("11010519491231002X") == dt.date(1949, 12, 31)
    assert id_number_gender("11010519491231002X") == "female"  # 17th digit 2 is even
    assert id_number_gender("440524188001010014") == "male"  # 17th digit 1 is odd


def test_masks():
    assert mask_id_number("110105194912311234") == "110105********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("") == "" and mask_id_number(None) == ""


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("138 1234 5678", "13812345678"), ("+86-138-1234-5678", "13812345678"), ("010-62345678", "01062345678")],
)
def test_phone_numbers_are_normalised(raw, normal):
    assert phone_validate(raw) == normal


def test_bad_phone_numbers_are_refused():
    with pytest.raises(ValidationError):
        phone_validate("12345")


def test_scrub_masks_numbers_inside_text():
    text = "resident 11010519491231002X called from 13812345678 about case 20240101"
    assert scrub(text) == "resident 110105********002X called from 138****5678 about case 20240101"


def test_log_records_are_scrubbed_before_any_handler_sees_them():
    record = logging.LogRecord(
        "geogrid", logging.INFO, __file__, 1, "lookup %s by %s", ("440524188001010014", "13812345678"), None
    )
    assert PersonalDataFilter().filter(record)
    assert record.getMessage() == "lookup 440524********0014 by 138****5678"


def test_every_configured_handler_carries_the_filter():
    from django.conf import settings

    for name, handler in settings.LOGGING["handlers"].items():
        assert "personal_data" in handler.get("filters", []), name


def test_the_logging_pipeline_masks_what_it_writes(capsys):
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    logging.getLogger("geogrid.test").warning("resident %s phone %s", "11010519491231002X", "13912345678")
    err = capsys.readouterr().err
    assert "11010519491231002X" not in err and "13912345678" not in err
    assert "110105********002X" in err and "139****5678" in err


def test_error_reports_hide_personal_fields():
    request = RequestFactory().post("/x", {"id_number": "11010519491231002X", "note": "call 13812345678"})
    params = PersonalDataReporterFilter().get_post_parameters(request)
    assert params["id_number"] == PersonalDataReporterFilter.cleansed_substitute
    assert params["note"] == "call 138****5678"
