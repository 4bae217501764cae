"""The same scope checks against every endpoint registered in tests/scope_registry.py."""

from urllib.parse import parse_qsl

import pytest

from tests.scope_registry import ENDPOINTS, WEST

pytestmark = pytest.mark.django_db

BY_NAME = pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])


def get_list(client, endpoint):
    path, _sep, query = endpoint.list_url.partition("?")
    return client.get(path, {**dict(parse_qsl(query)), **endpoint.paging})


def listed(client, endpoint) -> set[str]:
    response = get_list(client, endpoint)
    assert response.status_code == 200, response.content
    return set(endpoint.ids(response)) - {client.user.username}


@BY_NAME
def test_anonymous_callers_are_refused(api_client, small_city, endpoint):
    if endpoint.setup:
        endpoint.setup(small_city)
    west, _east = endpoint.records(small_city)
    if endpoint.list_url:
        assert api_client.get(endpoint.list_url).status_code in (401, 403)
    if endpoint.detail_url and west:
        assert api_client.get(endpoint.detail_url(west[0])).status_code in (401, 403)


@BY_NAME
def test_a_caller_without_jurisdiction_sees_nothing(client_for, small_city, endpoint):
    if endpoint.setup:
        endpoint.setup(small_city)
    client = client_for(endpoint.role, units=[])
    west, east = endpoint.records(small_city)
    if endpoint.list_url:
        response = get_list(client, endpoint)
        # Either an empty list, or the list's own parent is out of reach.
        assert response.status_code in (200, 404)
        if response.status_code == 200:
            assert listed(client, endpoint) == set()
    if endpoint.detail_url:
        for record in west + east:
            assert client.get(endpoint.detail_url(record)).status_code == 404


@BY_NAME
def test_a_caller_sees_exactly_the_records_of_their_jurisdiction(client_for, small_city, endpoint):
    if endpoint.setup:
        endpoint.setup(small_city)
    client = client_for(endpoint.role, units=[WEST])
    west, east = endpoint.records(small_city)
    assert west, "the contract needs records on the caller's side"
    if endpoint.list_url:
        assert listed(client, endpoint) == set(west)
    if endpoint.detail_url:
        for record in west:
            assert client.get(endpoint.detail_url(record)).status_code == 200, record
        for record in east:
            response = client.get(endpoint.detail_url(record))
            assert response.status_code == 404, record
            assert response.json()["error"]["code"] == "not_found"
