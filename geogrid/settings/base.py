"""Settings shared by every environment; values come from the environment with development defaults."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A local `.env` lets a developer override settings without exporting them; the environment wins.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)
# Development default only; production.py refuses to start with it.
INSECURE_DEV_SECRET_KEY = "django-insecure-geogrid-development-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_gis",
    "django_filters",
    "drf_spectacular",
    "knox",
    "axes",
    "auditlog",
    "core",
    "accounts",
    "boundaries",
    "residents",
    "incidents",
    "assessment",
    "layers",
    "tiles",
    "web",
    "messaging",
    "open311",
    "ogcapi",
]

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses locked-out callers before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.auth.AuditMiddleware",
    # Last, as django-axes asks: it turns a lockout raised by the backend into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "geogrid.urls"
WSGI_APPLICATION = "geogrid.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url(
        "DATABASE_URL",
        default="postgis://geogrid:geogrid@127.0.0.1:5432/geogrid",
        engine="django.contrib.gis.db.backends.postgis",
    ),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
# Files users upload (imports, photos): kept out of the public media, served only through the API.
PRIVATE_ROOT = Path(env.str("GEOGRID_PRIVATE_ROOT", default=str(BASE_DIR / "var" / "private")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Photos and files of incidents and visit logs: never served as public media, only through the API.
    "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": PRIVATE_ROOT / "files"},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "DEFAULT_FILTER_BACKENDS": [],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_RATES": {"login": env.str("GEOGRID_LOGIN_RATE", default="20/min")},
}

# API tokens (django-rest-knox): only a digest is stored; sent as `Authorization: Token <key>`.
KNOX_TOKEN_MODEL = "accounts.ApiToken"  # noqa: S105 (a model name, not a secret)
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_TTL": None,  # each token carries its own expiry, chosen when it is created
    "AUTO_REFRESH": False,
}

# Sign-in lockout (django-axes): this many failures for one username from one address lock it.
AXES_FAILURE_LIMIT = env.int("GEOGRID_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("GEOGRID_LOGIN_LOCKOUT_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.auth.lockout_response"
AXES_CLIENT_IP_CALLABLE = "accounts.auth.client_ip"
AXES_VERBOSE = False

# Audit log (django-auditlog): the actor and address come from AuditMiddleware.
AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_DISABLE_REMOTE_ADDR = False
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "GeoGrid API",
    "DESCRIPTION": "Grid units, point lookup and the data of urban grid management.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"personal_data": {"()": "core.logging.PersonalDataFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["personal_data"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pyogrio": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

DEFAULT_EXCEPTION_REPORTER_FILTER = "core.logging.PersonalDataReporterFilter"

# Background work (Celery). With REDIS_URL set, tasks go to Redis and run on `celery worker`
# processes; without it they run in-process at once, so a single machine needs nothing else.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

# Uploads: files above this size are refused; what users upload is kept out of the public media.
GEOGRID_MAX_UPLOAD_MB = env.int("GEOGRID_MAX_UPLOAD_MB", default=200)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
GEOGRID_PRIVATE_ROOT = PRIVATE_ROOT

# --- GeoGrid settings -------------------------------------------------------------------------
# SRID every geometry is stored in (WGS-84; CGCS2000, EPSG:4490, is treated as equal).
GEOGRID_SRID = 4326
# Area (m²) two sibling units may overlap, or a child may stick out of its parent, before an import
# or a validation reports it; digitising noise along shared edges stays below it.
GEOGRID_BOUNDARY_OVERLAP_TOLERANCE_M2 = env.float("GEOGRID_BOUNDARY_OVERLAP_TOLERANCE_M2", default=1.0)
# Drafts: what a planner draws snaps to neighbours' vertices and edges this close; smaller units are
# slivers; grid cells with households outside this range are flagged for the planner.
GEOGRID_SNAP_TOLERANCE_M = env.float("GEOGRID_SNAP_TOLERANCE_M", default=2.0)
GEOGRID_MIN_UNIT_AREA_M2 = env.float("GEOGRID_MIN_UNIT_AREA_M2", default=2000.0)
GEOGRID_GRID_HOUSEHOLDS_RANGE = tuple(env.list("GEOGRID_GRID_HOUSEHOLDS_RANGE", cast=int, default=[300, 500]))
# Largest page a list endpoint serves.
GEOGRID_MAX_PAGE_SIZE = 1000
# Lists matching more rows than this (by the planner's estimate) answer an estimated count.
GEOGRID_EXACT_COUNT_LIMIT = env.int("GEOGRID_EXACT_COUNT_LIMIT", default=20_000)
# Decimal places of coordinates in GeoJSON output (7 is about 1 cm).
GEOGRID_GEOJSON_PRECISION = 7
# Where the demo city's boundary files live.
GEOGRID_DEMO_SHAPEFILES = BASE_DIR / "data" / "shapefiles"

# Debian 12 ships GDAL 3.6. GeoDjango's GDAL never reads a spatial reference a user supplies (files are
# read with pyogrio's own GDAL and input CRSs are EPSG codes checked against a list), so the warning
# about GDAL < 3.9 not blocking file and network access in spatial references does not apply.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

# Centre (lon, lat) of maps before a jurisdiction is known.
GEOGRID_MAP_CENTER = (
    env.float("GEOGRID_MAP_CENTER_LON", default=116.40),
    env.float("GEOGRID_MAP_CENTER_LAT", default=39.91),
)
# XYZ raster base map URL template ({z}/{x}/{y}) and its attribution; empty: no base map (offline).
GEOGRID_BASEMAP_URL = env.str("GEOGRID_BASEMAP_URL", default="")
GEOGRID_BASEMAP_ATTRIBUTION = env.str("GEOGRID_BASEMAP_ATTRIBUTION", default="")
# The datum of coordinates typed or pasted by users: wgs84, gcj02 (most Chinese web maps) or bd09 (Baidu).
GEOGRID_INPUT_CRS = env.str("GEOGRID_INPUT_CRS", default="wgs84")
if GEOGRID_INPUT_CRS not in ("wgs84", "gcj02", "bd09"):
    raise ImproperlyConfigured(f"GEOGRID_INPUT_CRS must be wgs84, gcj02 or bd09, not {GEOGRID_INPUT_CRS!r}.")
GEOGRID_WALL_REFRESH_SECONDS = env.int("GEOGRID_WALL_REFRESH_SECONDS", default=60)

# Front-end libraries installed from npm and copied here by `make assets`, served as static files.
STATICFILES_DIRS = [("vendor", BASE_DIR / "var" / "vendor")]

# Fernet keys encrypting personal data at rest, comma-separated: the first encrypts, all decrypt
# (prepend a new key to rotate). Empty in development: a key is derived from SECRET_KEY.
GEOGRID_FIELD_ENCRYPTION_KEYS = env.list("GEOGRID_FIELD_ENCRYPTION_KEYS", default=[])
# Key of the keyed hashes that make encrypted ID and phone numbers searchable by exact value.
GEOGRID_BLIND_INDEX_KEY = env.str("GEOGRID_BLIND_INDEX_KEY", default="")
# Addresses of reverse proxies whose X-Forwarded-For is believed (audit log, lockout).
GEOGRID_TRUSTED_PROXIES = env.list("GEOGRID_TRUSTED_PROXIES", default=[])

# How incident notifications are delivered, in order: in the app for staff, by SMS for reporters' phones.
GEOGRID_NOTIFICATION_CHANNELS = ["incidents.channels.InAppChannel", "messaging.channels.SmsChannel"]

# SMS gateway backend: ConsoleBackend (development, logs masked), FileBackend (tests), HttpBackend (a real provider).
GEOGRID_SMS_BACKEND = env.str("GEOGRID_SMS_BACKEND", default="messaging.backends.ConsoleBackend")
# Shared secret signing the gateway's posts to /sms/inbound/ and /sms/status/ (empty: both answer 503).
GEOGRID_SMS_SECRET = env.str("GEOGRID_SMS_SECRET", default="")
# Oldest signed timestamp accepted, in seconds (older posts are refused as replays).
GEOGRID_SMS_MAX_AGE = env.int("GEOGRID_SMS_MAX_AGE", default=300)
# Language of texts sent to residents, whatever the staff's language.
GEOGRID_SMS_LANGUAGE = "zh-hans"
# FileBackend's directory (sms.jsonl inside).
GEOGRID_SMS_FILE_PATH = BASE_DIR / "var" / "sms"
# HttpBackend: provider URL, "Header: value" auth, JSON body template ($to, $text, $id), dotted paths to the
# provider's message id and status in its answer, statuses meaning refused, timeout in seconds.
GEOGRID_SMS_HTTP_URL = env.str("GEOGRID_SMS_HTTP_URL", default="")
GEOGRID_SMS_HTTP_AUTH_HEADER = env.str("GEOGRID_SMS_HTTP_AUTH_HEADER", default="")
GEOGRID_SMS_HTTP_TEMPLATE = {"to": "$to", "text": "$text", "id": "$id"}
GEOGRID_SMS_HTTP_ID_PATH = env.str("GEOGRID_SMS_HTTP_ID_PATH", default="id")
GEOGRID_SMS_HTTP_STATUS_PATH = env.str("GEOGRID_SMS_HTTP_STATUS_PATH", default="status")
GEOGRID_SMS_HTTP_FAILED_STATUSES = ["failed", "rejected", "error"]
GEOGRID_SMS_HTTP_TIMEOUT = env.int("GEOGRID_SMS_HTTP_TIMEOUT", default=10)
# Retries of a failed send (network, 5xx, 429) and the first back-off in seconds (doubling).
GEOGRID_SMS_RETRIES = env.int("GEOGRID_SMS_RETRIES", default=3)
GEOGRID_SMS_RETRY_BACKOFF = env.float("GEOGRID_SMS_RETRY_BACKOFF", default=2.0)
# How long the parts of a concatenated SMS wait for each other, in hours.
GEOGRID_SMS_PARTS_WINDOW_HOURS = 24
# Category of SMS appeals (E0699 "other, to be classified"; a major class takes its first active minor);
# the dispatcher corrects it.
GEOGRID_SMS_DEFAULT_CATEGORY = env.str("GEOGRID_SMS_DEFAULT_CATEGORY", default="E0699")
# Staff notifications also sent by SMS (to staff with a phone number): a case dispatched to them, a case overdue.
GEOGRID_SMS_STAFF_KINDS = env.list("GEOGRID_SMS_STAFF_KINDS", default=["dispatched", "overdue"])
# Broadcast messages per second, and the longest broadcast text.
GEOGRID_SMS_BROADCAST_RATE = env.int("GEOGRID_SMS_BROADCAST_RATE", default=10)
GEOGRID_SMS_BROADCAST_MAX_LENGTH = 335
# Largest photo or file attached to an incident or a visit log.
GEOGRID_MAX_ATTACHMENT_MB = env.int("GEOGRID_MAX_ATTACHMENT_MB", default=10)
# Incidents of the same category this close in space and time are suggested as duplicates.
GEOGRID_DUPLICATE_METRES = 50
GEOGRID_DUPLICATE_DAYS = 7

# Periodic jobs: dotted path -> every how many seconds. `manage.py run_periodic` runs them without
# Celery (what `make run` starts); with REDIS_URL, Celery beat runs the same schedule.
GEOGRID_PERIODIC_JOBS = {"incidents.services.escalate_overdue": 60, "assessment.services.kpi_refresh_job": 300}
CELERY_BEAT_SCHEDULE = {
    "escalate-overdue-incidents": {"task": "incidents.tasks.escalate_overdue_incidents", "schedule": 60.0},
    "refresh-kpis": {"task": "assessment.tasks.refresh_kpis", "schedule": 300.0},
}

# Tiles: how long the server keeps a built tile (data changes invalidate it sooner through the
# versions), and how long a browser may reuse one.
GEOGRID_TILE_CACHE_SECONDS = env.int("GEOGRID_TILE_CACHE_SECONDS", default=600)
GEOGRID_TILE_MAX_AGE = env.int("GEOGRID_TILE_MAX_AGE", default=60)
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
# Layer exports: the most features a GeoJSON export and a self-contained HTML map may hold.
GEOGRID_LAYER_EXPORT_LIMIT = env.int("GEOGRID_LAYER_EXPORT_LIMIT", default=200_000)
GEOGRID_LAYER_HTML_LIMIT = env.int("GEOGRID_LAYER_HTML_LIMIT", default=20_000)
