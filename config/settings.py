"""Settings, all from the environment (django-environ).

The embedded default needs no server: SQLite, local file storage under ENCLAVE_VAR_DIR, and a Celery
broker on the filesystem. Production chooses PostgreSQL, Redis/RabbitMQ and S3-compatible storage with
DATABASE_URL, CELERY_BROKER_URL and ENCLAVE_S3_BUCKET — the same code either way.
"""

from pathlib import Path

import environ
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
# Behind TLS in production set ENCLAVE_SECURE_COOKIES=1 (the embedded demo serves plain http).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("ENCLAVE_SECURE_COOKIES", default=False)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "accounts",
    "audit",
    "imaging",
    "challenges",
    "sandbox",
    "evaluation",
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
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "challenges:list"
LOGOUT_REDIRECT_URL = "challenges:list"

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

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Enclave API",
    "DESCRIPTION": "Medical-imaging AI challenges in which the data never leaves.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
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

# Runs: platform failures are retried; a run whose heartbeat stops is recovered by the sweeper.
ENCLAVE_RUN_ATTEMPTS = env.int("ENCLAVE_RUN_ATTEMPTS", default=3)
ENCLAVE_HEARTBEAT_SECONDS = env.float("ENCLAVE_HEARTBEAT_SECONDS", default=10.0)
ENCLAVE_HEARTBEAT_STALE_SECONDS = env.float("ENCLAVE_HEARTBEAT_STALE_SECONDS", default=120.0)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "sweep-runs": {"task": "evaluation.runs_sweep", "schedule": 60.0,
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("ENCLAVE_LOG_LEVEL", default="WARNING")},
}
WHITENOISE_USE_FINDERS = True
