"""Settings of the Celery workers the worker tests start: the test settings, with Redis as cache and broker."""

import os

from geogrid.settings import base
from geogrid.settings.test import *  # noqa: F403

# The test settings keep a local-memory cache; workers share Redis, as deployed (base, with REDIS_URL).
CACHES = base.CACHES
GEOGRID_SMS_FILE_PATH = os.environ["GEOGRID_SMS_FILE_PATH"]
GEOGRID_SMS_RETRY_BACKOFF = 0
