"""The project's scope contract (tests/test_scope_contract.py) run against the SMS endpoints."""

import pytest

from tests import test_scope_contract as contract
from tests.messaging.scope_entries import SMS_ENDPOINTS

pytestmark = pytest.mark.django_db

BY_NAME = pytest.mark.parametrize("endpoint", SMS_ENDPOINTS, ids=[e.name for e in SMS_ENDPOINTS])


@BY_NAME
def test_anonymous_callers_are_refused(api_client, small_city, endpoint):
    contract.test_anonymous_callers_are_refused(api_client, small_city, endpoint)


@BY_NAME
def test_a_caller_without_jurisdiction_sees_nothing(client_for, small_city, endpoint):
    contract.test_a_caller_without_jurisdiction_sees_nothing(client_for, small_city, endpoint)


@BY_NAME
def test_a_caller_sees_exactly_the_records_of_their_jurisdiction(client_for, small_city, endpoint):
    contract.test_a_caller_sees_exactly_the_records_of_their_jurisdiction(client_for, small_city, endpoint)
