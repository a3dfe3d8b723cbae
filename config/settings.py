"""Settings, all from the environment (django-environ).

The embedded default needs no server: SQLite, local file storage under ENCLAVE_VAR_DIR, and a Celery
broker on the filesystem. Production chooses PostgreSQL, Redis/RabbitMQ and S3-compatible storage with
DATABASE_URL, CELERY_BROKER_URL and ENCLAVE_S3_BUCKET — the same code either way.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

from config.secrets import local_secret

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

VAR_DIR = Path(env.str("ENCLAVE_VAR_DIR", default=str(BASE_DIR / ".var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)
SECRETS_DIR = Path(env.str("ENCLAVE_SECRETS_DIR", default=str(VAR_DIR / "secrets")))


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or local_secret(SECRETS_DIR, "django-secret-key")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
# Security. Behind TLS set ENCLAVE_HTTPS=1 (ENCLAVE_SECURE_COOKIES=1, its older name, does the same):
# secure cookies and HSTS. The embedded demo serves plain http and leaves both off.
ENCLAVE_HTTPS = env.bool("ENCLAVE_HTTPS", default=env.bool("ENCLAVE_SECURE_COOKIES", default=False))
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = ENCLAVE_HTTPS
SESSION_COOKIE_HTTPONLY = CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = LANGUAGE_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("ENCLAVE_SESSION_SECONDS", default=12 * 3600)
SECURE_HSTS_SECONDS = env.int("ENCLAVE_HSTS_SECONDS", default=365 * 24 * 3600) if ENCLAVE_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("ENCLAVE_HSTS_INCLUDE_SUBDOMAINS", default=False)
# Redirect http to https here only when the proxy in front does not; a TLS-terminating proxy must
# then say so with X-Forwarded-Proto (ENCLAVE_PROXY_SSL_HEADER=1), or every request redirects.
SECURE_SSL_REDIRECT = ENCLAVE_HTTPS and env.bool("ENCLAVE_SSL_REDIRECT", default=False)
if env.bool("ENCLAVE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): no inline scripts, handlers or styles; scripts and styles
# come from static/ only. Plots are <img> of same-origin SVG (evaluation.views.leaderboard_plot).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "csp",
    "rest_framework",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "drf_spectacular",
    "accounts",
    "audit",
    "imaging",
    "challenges",
    "sandbox",
    "evaluation",
    "review",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before sessions: anonymous readers of public leaderboards are answered from a 1 s copy.
    "config.microcache.AnonymousMicroCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.TwoFactorRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
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
            ],
        },
    },
]
WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'enclave.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web server and worker processes share the file: WAL plus a busy timeout.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not memory, so that worker processes in end-to-end tests share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    # A kept connection is checked before each request reuses it: after a database restart no
    # request fails on a dead one (tests/e2e/test_faults.py).
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# Rate-limit counters (config/throttling.py) live in the cache: with several web processes give them
# a shared one, e.g. ENCLAVE_CACHE_URL=redis://127.0.0.1:6379/2. The default is per process.
CACHES = {"default": env.cache_url("ENCLAVE_CACHE_URL", default="locmemcache://")}
# How old (seconds) a public page marked `anonymous_cacheable` may be for an anonymous reader
# (config/microcache.py); 0 turns the per-process copy off.
ANONYMOUS_CACHE_SECONDS = env.float("ENCLAVE_ANONYMOUS_CACHE_SECONDS", default=1.0)
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Checked wherever a person chooses a password (forms, changepassword, createsuperuser);
# set_password() does not check, so the demo's fixed password (examples/demo_world.py) is unaffected.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling (django-axes): after ENCLAVE_LOGIN_FAILURE_LIMIT failed logins for one user name
# from one address, that pair is locked out for ENCLAVE_LOGIN_LOCKOUT_MINUTES; failures during the
# lockout extend it, a successful login resets the count. Attempts are kept in the database.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out pair before any password check
    "django.contrib.auth.backends.ModelBackend",
]
ENCLAVE_LOGIN_LOCKOUT_MINUTES = env.int("ENCLAVE_LOGIN_LOCKOUT_MINUTES", default=15)
AXES_FAILURE_LIMIT = env.int("ENCLAVE_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=ENCLAVE_LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.lockout.lockout_response"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "challenges:list"
LOGOUT_REDIRECT_URL = "challenges:list"
# Two-factor authentication (TOTP) is required for society roles and operators.
OTP_TOTP_ISSUER = env.str("ENCLAVE_OTP_ISSUER", default="Enclave")
# API tokens: lifetime in days when none is asked for, and the longest allowed.
ENCLAVE_API_TOKEN_DAYS = env.int("ENCLAVE_API_TOKEN_DAYS", default=90)
ENCLAVE_API_TOKEN_MAX_DAYS = env.int("ENCLAVE_API_TOKEN_MAX_DAYS", default=365)

LANGUAGE_CODE = env.str("ENCLAVE_LANGUAGE", default="en")
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("ENCLAVE_TIME_ZONE", default="Asia/Tokyo")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(env.str("ENCLAVE_MEDIA_ROOT", default=str(VAR_DIR / "media")))

_S3_BUCKET = env.str("ENCLAVE_S3_BUCKET", default="")
STORAGES = {
    "default": (
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": _S3_BUCKET,
                "endpoint_url": env.str("ENCLAVE_S3_ENDPOINT", default=None),
                "default_acl": "private",
                "querystring_auth": True,
            },
        }
        if _S3_BUCKET
        else {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": None},
        }
    ),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
FILE_UPLOAD_TEMP_DIR = str(VAR_DIR / "uploads")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_HANDLERS = [  # the second: temporary files safe from very long file extensions
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "config.uploads.ShortSuffixTemporaryFileUploadHandler",
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "config.schema.EnclaveAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "DEFAULT_PARSER_CLASSES": [  # size-capped; JSON without stack-deep nesting or NULs
        "config.parsers.SafeJSONParser",
        "config.parsers.SafeFormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Writes to views with a throttle_scope, per user and scope (config/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": ["config.throttling.ScopedWriteRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "submissions": env.str("ENCLAVE_RATE_SUBMISSIONS", default="30/hour"),
        "uploads": env.str("ENCLAVE_RATE_UPLOADS", default="60/hour"),
        "upload_chunks": env.str("ENCLAVE_RATE_UPLOAD_CHUNKS", default="600/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Enclave API",
    "DESCRIPTION": "Medical-imaging AI challenges in which the data never leaves.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "config.api_errors.document_common_errors"],
}

# Celery: a broker that needs no server by default (kombu's filesystem transport).
_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Case imports: with ENCLAVE_IMAGING_PARALLEL, an import of at least ..._MIN_FILES files is
# de-identified by workers on the `imaging` queue (one task per series), which must read the
# upload from the importer's path (same node, or a shared scratch directory); the importer waits
# ENCLAVE_IMAGING_TIMEOUT seconds for them. Off: every import runs in the importing process.
ENCLAVE_IMAGING_PARALLEL = env.bool("ENCLAVE_IMAGING_PARALLEL", default=False)
ENCLAVE_IMAGING_PARALLEL_MIN_FILES = env.int("ENCLAVE_IMAGING_PARALLEL_MIN_FILES", default=64)
ENCLAVE_IMAGING_TIMEOUT = env.int("ENCLAVE_IMAGING_TIMEOUT", default=3600)

# Runs: platform failures are retried; a run whose heartbeat stops is recovered by the sweeper.
ENCLAVE_RUN_ATTEMPTS = env.int("ENCLAVE_RUN_ATTEMPTS", default=3)
ENCLAVE_HEARTBEAT_SECONDS = env.float("ENCLAVE_HEARTBEAT_SECONDS", default=10.0)
ENCLAVE_HEARTBEAT_STALE_SECONDS = env.float("ENCLAVE_HEARTBEAT_STALE_SECONDS", default=120.0)
# queued or scoring this long with its message missing from the broker: the message is sent again
ENCLAVE_STALLED_SECONDS = env.float("ENCLAVE_STALLED_SECONDS", default=300.0)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "sweep-runs": {"task": "evaluation.runs_sweep", "schedule": 60.0,
                   "options": {"queue": "default"}},
    "sweep-import-batches": {"task": "challenges.import_batches_sweep", "schedule": 3600.0,
                             "options": {"queue": "default"}},
}

# Sandbox
SANDBOX_BACKEND = env.str("SANDBOX_BACKEND", default="sandbox.backends.docker.DockerBackend")
SANDBOX_WORK_ROOT = env.str("SANDBOX_WORK_ROOT", default=str(VAR_DIR / "runs"))
# The GPUs this worker owns (e.g. "0" or "2,3"), when a node runs one worker per GPU; empty: any.
SANDBOX_GPU_DEVICES = env.list("SANDBOX_GPU_DEVICES", default=[])
# Loaded team images kept per node before the least recently used are removed.
SANDBOX_IMAGE_CACHE_BYTES = env.int("SANDBOX_IMAGE_CACHE_BYTES", default=50 * 1024**3)
ENCLAVE_IMAGE_MAX_BYTES = env.int("ENCLAVE_IMAGE_MAX_BYTES", default=10 * 1024**3)
# Operator caps on the per-phase run limits society admins set (wizard and API refuse more).
ENCLAVE_MAX_RUN_SECONDS = env.int("ENCLAVE_MAX_RUN_SECONDS", default=24 * 3600)
ENCLAVE_MAX_RUN_MEMORY_MB = env.int("ENCLAVE_MAX_RUN_MEMORY_MB", default=128 * 1024)
ENCLAVE_MAX_RUN_CPUS = env.float("ENCLAVE_MAX_RUN_CPUS", default=32.0)
ENCLAVE_MAX_RUN_GPUS = env.int("ENCLAVE_MAX_RUN_GPUS", default=4)
ENCLAVE_MAX_RUN_OUTPUT_MB = env.int("ENCLAVE_MAX_RUN_OUTPUT_MB", default=10 * 1024)
ENCLAVE_MAX_RUN_PIDS = env.int("ENCLAVE_MAX_RUN_PIDS", default=4096)
ENCLAVE_MAX_RUN_OUTPUT_FILES = env.int("ENCLAVE_MAX_RUN_OUTPUT_FILES", default=100_000)
ENCLAVE_MAX_RUN_SHARDS = env.int("ENCLAVE_MAX_RUN_SHARDS", default=16)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("ENCLAVE_LOG_LEVEL", default="WARNING")},
}
WHITENOISE_USE_FINDERS = True
