"""Turns a lost database connection during a request into a 503 the client may retry, and drops the dead link."""

import logging

from django.db import connections

from core.errors import database_unavailable, database_unavailable_response

logger = logging.getLogger(__name__)


def discard_broken_connections() -> None:
    """
    Closes every database connection of this thread that no longer works, so the next request opens
    a new one instead of failing on the dead link (Django checks again at the end of the request;
    this also covers responses that never reach that point).
    """
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.is_usable():
            connection.close()


class DatabaseUnavailableMiddleware:
    """
    A view that loses the database (the server restarting, the connection cut, no connection to be
    had) answers 503 with the API's error shape, code `database_unavailable`, and Retry-After. The
    view's transaction was rolled back by the server, so nothing is half-written; other errors pass.
    Listed first so that it sees a view's exception after every other middleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not database_unavailable(exception):
            return None
        # The exception's text may quote SQL and its values: only its type and the path are logged.
        logger.warning("Database unavailable during %s %s: %s", request.method, request.path, type(exception).__name__)
        discard_broken_connections()
        return database_unavailable_response()
