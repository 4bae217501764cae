"""The incidents tests' staff and report fixtures serve the operations tests too."""

from tests.incidents.conftest import report, staff

__all__ = ["report", "staff"]
