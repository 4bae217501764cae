"""One value read in PostgreSQL's binary format: the same value as the text read, the statement composed alike."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.db import fetch_value

# Every byte value, twice, and a parameter that needs quoting and carries a percent sign.
STATEMENT = "SELECT decode(repeat(%s, 2), 'hex') || convert_to(%s, 'UTF8')"
PARAMS = ["".join(f"{b:02x}" for b in range(256)), "it's 100% 网格"]
EXPECTED = bytes(range(256)) * 2 + "it's 100% 网格".encode()


@pytest.mark.django_db
def test_a_binary_read_returns_the_bytes_of_the_text_read():
    assert bytes(fetch_value(STATEMENT, PARAMS)) == EXPECTED
    value = fetch_value(STATEMENT, PARAMS, binary=True)
    assert isinstance(value, bytes)
    assert value == EXPECTED
    assert fetch_value("SELECT NULL::bytea", [], binary=True) is None
    assert fetch_value("SELECT %s::bytea WHERE false", [b"x"], binary=True) is None


@pytest.mark.django_db
def test_a_binary_read_is_one_query_seen_by_djangos_query_log():
    with CaptureQueriesContext(connection) as queries:
        fetch_value(STATEMENT, PARAMS, binary=True)
    assert len(queries) == 1
    assert "it''s 100% 网格" in queries[0]["sql"]  # the statement as sent, its parameters in place
