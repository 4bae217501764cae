"""The incidents tests' staff and report fixtures and the tiles tests' fetch serve the layers' tests too."""

from tests.incidents.conftest import report, staff  # noqa: F401
from tests.tiles.conftest import fetch  # noqa: F401
