"""Project settings, read from environment variables (12-factor) with embedded defaults."""

from __future__ import annotations

import importlib.util
import os
import secrets
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent

# polars' allocator (jemalloc) keeps freed memory for a while by default; an import of a
# million rows then held about 60 MB more than it used. Set here because settings load
# before polars in every entry point (CLI, server, worker, tests); jemalloc reads it once.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
ENV = os.environ.get("CLIENTBASE_ENV", "development").strip().lower()
PRODUCTION = ENV == "production"
TESTING = os.environ.get("CLIENTBASE_TESTING") == "1"

# The database, its -wal/-shm files, uploads, error files, exports and backups hold personal
# data: everything this process creates is its user's alone (files 0600, directories 0700).
# Set here because settings load first in every entry point (the CLI, the server and worker
# it starts, any WSGI server, tests); the children pg_dump and pg_restore inherit it.
os.umask(0o077)
DATA_DIR = Path(os.environ.get("CLIENTBASE_DATA_DIR", "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
BACKUP_DIR = Path(os.environ.get("BACKUP_DIR", str(DATA_DIR / "backups"))).resolve()
# Nightly backups kept by the worker (core.tasks); older ones are deleted.
BACKUP_KEEP = int(os.environ.get("BACKUP_KEEP", "14"))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _persistent_secret(filename: str, env_name: str) -> str:
    """Use the environment value, else a random value kept in the data directory.

    Production must set the environment variable: a secret generated on one machine
    would differ on the next app server.
    """
    value = os.environ.get(env_name)
    if value:
        return value
    if PRODUCTION:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"{env_name} must be set when CLIENTBASE_ENV=production")
    path = DATA_DIR / filename
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _persistent_secret("secret_key", "SECRET_KEY")
# Key for personal data encrypted at rest (identity documents). Kept apart from SECRET_KEY
# so rotating session signing never makes stored documents unreadable.
FIELD_ENCRYPTION_KEY = _persistent_secret("field_key", "FIELD_ENCRYPTION_KEY")

DEBUG = _env_bool("CLIENTBASE_DEBUG", False)
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get(
        "ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,[::1],testserver"
    ).split(",")
    if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "bootstrap",
    "huey.contrib.djhuey",
    "rest_framework",
    "drf_spectacular",
    "clientbase.core",
    "clientbase.accounts",
    "clientbase.customers",
    "clientbase.orders",
    "clientbase.analytics",
    "clientbase.segments",
    "clientbase.imports",
    "clientbase.exports",
]

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
    "django_htmx.middleware.HtmxMiddleware",
    "clientbase.core.middleware.RequestContextMiddleware",
    "clientbase.accounts.middleware.PermissionRequiredMiddleware",
]

ROOT_URLCONF = "clientbase.urls"
WSGI_APPLICATION = "clientbase.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clientbase.accounts.context_processors.permissions",
            ],
        },
    }
]

# Database: embedded SQLite in WAL mode by default, PostgreSQL when DATABASE_URL is set.
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "clientbase.sqlite3",
            "OPTIONS": {
                # WAL lets readers work while one writer writes; IMMEDIATE takes the write
                # lock at BEGIN so two writers queue instead of failing mid-transaction.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA busy_timeout=20000;"
                    "PRAGMA cache_size=-65536;"
                    "PRAGMA mmap_size=268435456;"
                ),
            },
            "TEST": {"NAME": str(DATA_DIR / "test_clientbase.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "customers:list"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Sessions: a sliding idle timeout (every request renews it) and logout on browser close.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_SECONDS", str(8 * 3600)))
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Log-in lock-out (the policy is in accounts.throttling and docs/deployment.md): failures
# counted in the database so every app server sees the same numbers.
# Per user name and address: always applies.
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
# Per user name from all addresses, and per address for all user names: these lock only
# addresses the user has not logged in from within LOGIN_KNOWN_ADDRESS_DAYS.
LOGIN_FAILURE_ACCOUNT_LIMIT = int(os.environ.get("LOGIN_FAILURE_ACCOUNT_LIMIT", "20"))
LOGIN_FAILURE_IP_LIMIT = int(os.environ.get("LOGIN_FAILURE_IP_LIMIT", "30"))
LOGIN_KNOWN_ADDRESS_DAYS = int(os.environ.get("LOGIN_KNOWN_ADDRESS_DAYS", "90"))
LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", "900"))

LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "ru")
LANGUAGES = [("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Moscow")
USE_I18N = True
USE_TZ = True

DEFAULT_PHONE_REGION = os.environ.get("DEFAULT_PHONE_REGION", "RU").upper()

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Served by WhiteNoise from STATIC_ROOT: names carry a hash of the content (so browsers keep
# them for a year and never see a stale one) and gzip copies sit beside them (plotly's 4.8 MB
# travel as 1.4 MB). `clientbase serve` runs collectstatic before it listens. Tests and
# DEBUG read the files straight from the packages (finders), with no collect step.
STATIC_FROM_FINDERS = TESTING or DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if STATIC_FROM_FINDERS
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = DATA_DIR / "uploads"
WHITENOISE_USE_FINDERS = STATIC_FROM_FINDERS
# Plotly's own build ships inside the plotly package: served as static/plotly/plotly.min.js.
_PLOTLY = importlib.util.find_spec("plotly")
STATICFILES_DIRS = [("plotly", Path(str(_PLOTLY and _PLOTLY.origin)).parent / "package_data")]
WHITENOISE_AUTOREFRESH = DEBUG

# Nothing sends e-mail yet (mailings are planned; docs/deployment.md says so), so there is no
# mail setting. Should anything call Django's mail functions, the message goes to the console
# rather than to an SMTP server on localhost that nobody configured.
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# Outgoing webhooks (core.webhooks): a delivery is given up after this many failed attempts.
WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_MAX_ATTEMPTS", "8"))

# Background work: Huey with SQLite storage by default, Redis when REDIS_URL is set.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": "clientbase",
        "url": REDIS_URL,
        "immediate": TESTING,
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "clientbase",
        "filename": str(DATA_DIR / "huey.sqlite3"),
        "immediate": TESTING,
    }

# Django's cache, shared by every app process (Redis when scaled out, else a database table).
# Nothing relies on it for correctness: the API rate limit counts in its own table
# (accounts.api.throttling), because the database cache's incr() is not atomic.
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "clientbase_cache",
        }
    }

# Orders
ORDER_CURRENCY = os.environ.get("ORDER_CURRENCY", "RUB").upper()
# After this many refused cash-on-delivery parcels a customer is proposed for the stop-list.
STOPLIST_PROPOSE_AFTER_REFUSALS = int(os.environ.get("STOPLIST_PROPOSE_AFTER_REFUSALS", "2"))

# Import and export: uploaded files over this size are refused before they are read.
IMPORT_MAX_FILE_MB = int(os.environ.get("IMPORT_MAX_FILE_MB", "512"))
# A bulk action on the customer list carries up to 1,000 ticked ids (customers.forms.IdListField)
# plus a few fields: Django's default of 1,000 fields refused the largest allowed selection with a
# bare 400 before the form could say anything. Larger posts are still refused.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1_100
# Rows read, checked and written per transaction; a killed import resumes after the last one.
IMPORT_BATCH_ROWS = int(os.environ.get("IMPORT_BATCH_ROWS", "50000"))
# Files with up to this many rows are imported while the person waits; bigger ones by the worker.
IMPORT_INLINE_MAX_ROWS = int(os.environ.get("IMPORT_INLINE_MAX_ROWS", "5000"))
# SQLite page cache while an import runs (megabytes): index pages stay in memory between batches.
IMPORT_SQLITE_CACHE_MB = int(os.environ.get("IMPORT_SQLITE_CACHE_MB", "32"))
# Uploaded import files (personal data) are deleted this many days after the import ended.
IMPORT_KEEP_DAYS = int(os.environ.get("IMPORT_KEEP_DAYS", "30"))
# A backup of the base before every import (turned off only by tests and benchmarks).
IMPORT_BACKUP = os.environ.get("IMPORT_BACKUP", "true").lower() in ("1", "true", "yes")

# Exports (clientbase.exports): up to this many rows download at once; more go to a background job.
EXPORT_INLINE_MAX_ROWS = int(os.environ.get("EXPORT_INLINE_MAX_ROWS", "10000"))

# REST API: machines authenticate with API tokens whose scopes decide what they may do.
API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "600/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "clientbase.accounts.api.authentication.TokenAuthentication"
    ],
    "DEFAULT_PERMISSION_CLASSES": ["clientbase.accounts.api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["clientbase.accounts.api.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": API_RATE_LIMIT},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "clientbase.core.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["clientbase.core.api.parsers.JSONParser"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "clientbase API",
    "DESCRIPTION": "Customers, orders and caller lookup for the shop's website and partners.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets that share a field name ("status" of customers and of orders) get clear names.
    "ENUM_NAME_OVERRIDES": {
        "CustomerKindEnum": "clientbase.customers.choices.CustomerKind",
        "CustomerStatusEnum": "clientbase.customers.choices.CustomerStatus",
        "PhoneKindEnum": "clientbase.customers.choices.PhoneKind",
        "SourceChannelEnum": "clientbase.customers.choices.SourceChannel",
        "OrderStatusEnum": "clientbase.orders.choices.OrderStatus",
        "OrderSourceEnum": "clientbase.orders.choices.OrderSource",
    },
}

X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    # Behind an HTTPS proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "filters": {
        "request_id": {"()": "clientbase.core.context.RequestIdLogFilter"},
        "refusal_without_traceback": {"()": "clientbase.core.logfilters.RefusalWithoutTraceback"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # A 403 is logged as one line (path, request id), without Django's traceback.
        "django.request": {"filters": ["refusal_without_traceback"]},
        # A handler of its own keeps run_huey from adding a second one (double log lines).
        "huey": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
