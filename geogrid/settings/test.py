"""Settings for the test suite: fast hashing, local memory cache, no external services."""

from .base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = ["rest_framework.renderers.JSONRenderer"]  # noqa: F405
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
LANGUAGE_CODE = "en"
# Static files are not collected for tests; WhiteNoise would warn about the missing directory.
MIDDLEWARE = [m for m in MIDDLEWARE if m != "whitenoise.middleware.WhiteNoiseMiddleware"]  # noqa: F405
GEOGRID_SMS_BACKEND = "messaging.backends.FileBackend"
GEOGRID_SMS_FILE_PATH = BASE_DIR / "var" / "test-sms"  # noqa: F405
# Replicas (DATABASE_REPLICA_URLS) read the test database instead of getting test databases of their own.
for _alias in GEOGRID_DATABASE_REPLICAS:  # noqa: F405
    DATABASES[_alias]["TEST"] = {"MIRROR": "default"}  # noqa: F405
