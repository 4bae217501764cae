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
    "jobs",
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
    # First: it turns a view's lost database connection into a 503 after every other middleware has seen it.
    "core.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before anything reads a body (CsrfViewMiddleware reads forms): oversized requests answer 413 unread.
    "core.security.RequestSizeLimitMiddleware",
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
# Read replicas (streaming standbys of DATABASE_URL), comma-separated URLs: web reads go to them, writes and
# transactions to the primary (geogrid/dbrouter.py). None: everything on the primary, and no router.
GEOGRID_DATABASE_REPLICAS = []
for _number, _url in enumerate(env.list("DATABASE_REPLICA_URLS", default=[]), start=1):
    _alias = f"replica{_number}"
    DATABASES[_alias] = environ.Env.db_url_config(_url, engine="django.contrib.gis.db.backends.postgis")
    DATABASES[_alias].update(CONN_MAX_AGE=DATABASES["default"]["CONN_MAX_AGE"], CONN_HEALTH_CHECKS=True)
    GEOGRID_DATABASE_REPLICAS.append(_alias)
# Seconds a caller's reads stay on the primary after they wrote: longer than the replicas' usual lag.
GEOGRID_READ_YOUR_WRITES_SECONDS = env.int("GEOGRID_READ_YOUR_WRITES_SECONDS", default=10)
if GEOGRID_DATABASE_REPLICAS:
    DATABASE_ROUTERS = ["geogrid.dbrouter.PrimaryReplicaRouter"]
    # Around everything that may read or write (the session is saved on the way out).
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware"), "geogrid.dbrouter.ReadYourWritesMiddleware"
    )
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
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "core.openapi.AutoSchema",
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
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Seconds a task a worker has taken may stay unacknowledged before Redis gives it to another worker
# (its worker was lost mid-task); keep it above the longest task (a big import, an activation).
GEOGRID_CELERY_VISIBILITY_TIMEOUT = env.int("GEOGRID_CELERY_VISIBILITY_TIMEOUT", default=3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": GEOGRID_CELERY_VISIBILITY_TIMEOUT,
    # Workers look for abandoned tasks this often (kombu's default looks every 100 s).
    "unacked_restore_interval": max(1, min(10, GEOGRID_CELERY_VISIBILITY_TIMEOUT // 4)),
    "unacked_restore_throttle": 1,
    "socket_connect_timeout": 2,
}
# Handing a task to Redis tries twice at most: a request does not wait long for a broker that is down
# (the task waits in the outbox instead, jobs.services).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
# Tasks recorded in the outbox and not handed to the broker after this many seconds (the broker was
# down, or the process ended first) are handed over by the periodic runner.
GEOGRID_OUTBOX_GRACE_SECONDS = env.int("GEOGRID_OUTBOX_GRACE_SECONDS", default=60)
# After the broker failed, tasks go straight to the outbox for this many seconds.
GEOGRID_BROKER_RETRY_SECONDS = env.int("GEOGRID_BROKER_RETRY_SECONDS", default=10)
if REDIS_URL:
    # Redis down means no cache, not failing requests (core.cache_backends).
    CACHES = {
        "default": {
            "BACKEND": "core.cache_backends.FaultTolerantRedisCache",
            "LOCATION": env.str("GEOGRID_CACHE_URL", default=REDIS_URL),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }

# Uploads: files above this size are refused; what users upload is kept out of the public media.
GEOGRID_MAX_UPLOAD_MB = env.int("GEOGRID_MAX_UPLOAD_MB", default=200)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
GEOGRID_PRIVATE_ROOT = PRIVATE_ROOT
# A boundary file uploaded through the API larger than this (MB) is imported as a background job,
# unless the request says otherwise (`background`); 10 MB is a zipped Shapefile of some 15,000 cells.
GEOGRID_BOUNDARY_UPLOAD_BACKGROUND_MB = env.float("GEOGRID_BOUNDARY_UPLOAD_BACKGROUND_MB", default=10)
# Where `make backup` writes its directories (a dump of the database and the uploaded files).
GEOGRID_BACKUP_ROOT = env.path("GEOGRID_BACKUP_ROOT", default=BASE_DIR / "var" / "backups")
# Limits on bad input, checked before the payload is read (see README, "Limits on uploaded files"):
# largest request body that is not a file upload (JSON, forms), in MB (larger ones answer 413);
GEOGRID_MAX_BODY_MB = env.int("GEOGRID_MAX_BODY_MB", default=10)
DATA_UPLOAD_MAX_MEMORY_SIZE = GEOGRID_MAX_BODY_MB * 1024 * 1024
# most a zip archive (a zipped Shapefile, an XLSX workbook) may unpack to, by its members' declared sizes, in MB;
GEOGRID_MAX_UNCOMPRESSED_MB = env.int("GEOGRID_MAX_UNCOMPRESSED_MB", default=1024)
# highest compression ratio of an archive member of 1 MB or more (real files stay under 20; zip bombs reach 1000);
GEOGRID_MAX_COMPRESSION_RATIO = env.int("GEOGRID_MAX_COMPRESSION_RATIO", default=100)
# most files an archive may hold;
GEOGRID_MAX_ARCHIVE_MEMBERS = env.int("GEOGRID_MAX_ARCHIVE_MEMBERS", default=1000)
# most data rows of a CSV or XLSX import;
GEOGRID_MAX_IMPORT_ROWS = env.int("GEOGRID_MAX_IMPORT_ROWS", default=2_000_000)
# most features of a boundary file, vertices of one of its geometries, and vertices of the whole file;
GEOGRID_MAX_BOUNDARY_FEATURES = env.int("GEOGRID_MAX_BOUNDARY_FEATURES", default=100_000)
GEOGRID_MAX_GEOMETRY_VERTICES = env.int("GEOGRID_MAX_GEOMETRY_VERTICES", default=500_000)
GEOGRID_MAX_FILE_VERTICES = env.int("GEOGRID_MAX_FILE_VERTICES", default=10_000_000)
# An import of at least this many rows, and more than its table holds, builds the table's indexes once at
# the end instead of row by row (0: never); with this much memory for the building.
GEOGRID_BULK_REBUILD_MIN_ROWS = env.int("GEOGRID_BULK_REBUILD_MIN_ROWS", default=100_000)
GEOGRID_BULK_MAINTENANCE_WORK_MEM = env.str("GEOGRID_BULK_MAINTENANCE_WORK_MEM", default="512MB")
# Memory for each sort and hash of an import's checks (they run over the whole file).
GEOGRID_BULK_WORK_MEM = env.str("GEOGRID_BULK_WORK_MEM", default="256MB")
# deepest nesting of arrays and objects in a JSON body.
GEOGRID_MAX_NESTING_DEPTH = env.int("GEOGRID_MAX_NESTING_DEPTH", default=32)
# Requests per address: Open311 reads and posts (public, by client address), and the SMS gateway's posts.
GEOGRID_OPEN311_RATE = env.str("GEOGRID_OPEN311_RATE", default="600/min")
GEOGRID_OPEN311_POST_RATE = env.str("GEOGRID_OPEN311_POST_RATE", default="30/min")
GEOGRID_SMS_GATEWAY_RATE = env.str("GEOGRID_SMS_GATEWAY_RATE", default="600/min")
# Content-Security-Policy of HTML pages ({basemap}: the base map's origin); empty: none. MapLibre needs blob:
# workers, and the pages set inline styles. Pages under the exempt paths run inline scripts and get none.
GEOGRID_CONTENT_SECURITY_POLICY = env.str(
    "GEOGRID_CONTENT_SECURITY_POLICY",
    default="default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob: {basemap}; connect-src 'self' {basemap}; worker-src 'self' blob:; "
    "child-src 'self' blob:; font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)
GEOGRID_CONTENT_SECURITY_POLICY_EXEMPT = ["/admin/", "/api/docs/"]

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
GEOGRID_PERIODIC_JOBS = {
    "incidents.services.escalate_overdue": 60,
    "assessment.services.kpi_refresh_job": 300,
    "jobs.services.outbox_flush": 15,
}
CELERY_BEAT_SCHEDULE = {
    "escalate-overdue-incidents": {"task": "incidents.tasks.escalate_overdue_incidents", "schedule": 60.0},
    "refresh-kpis": {"task": "assessment.tasks.refresh_kpis", "schedule": 300.0},
    "flush-task-outbox": {"task": "jobs.tasks.outbox_flush_task", "schedule": 15.0},
}

# Tiles: how long the server keeps a built tile (data changes invalidate it sooner through the
# versions), and how long a browser may reuse one.
GEOGRID_TILE_CACHE_SECONDS = env.int("GEOGRID_TILE_CACHE_SECONDS", default=600)
GEOGRID_TILE_MAX_AGE = env.int("GEOGRID_TILE_MAX_AGE", default=60)
# After a draft is activated or the KPIs are refreshed, the tiles of these layers up to this zoom are
# built ahead for the common viewers (everything, the city, each district); -1 builds none.
GEOGRID_PRERENDER_MAX_ZOOM = env.int("GEOGRID_PRERENDER_MAX_ZOOM", default=-1)
GEOGRID_PRERENDER_LAYERS = env.list("GEOGRID_PRERENDER_LAYERS", default=["units", "choropleth"])
# How long a tile built ahead stays in the cache (a change to its data still replaces it at once).
GEOGRID_PRERENDER_CACHE_SECONDS = env.int("GEOGRID_PRERENDER_CACHE_SECONDS", default=24 * 3600)
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
# Layer exports: the most features a GeoJSON export and a self-contained HTML map may hold.
GEOGRID_LAYER_EXPORT_LIMIT = env.int("GEOGRID_LAYER_EXPORT_LIMIT", default=200_000)
GEOGRID_LAYER_HTML_LIMIT = env.int("GEOGRID_LAYER_HTML_LIMIT", default=20_000)
