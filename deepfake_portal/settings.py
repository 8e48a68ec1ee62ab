"""Settings, read from the environment (see docs/configuration.md).

With nothing set: SQLite in var/, tasks run in a thread of the web process, DEBUG off.
"""
import tempfile
from pathlib import Path

import dj_database_url

from .env import envbool, envfloat, envint, envlist, envstr

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = envbool("DEBUG", False)
# Without DEBUG there is no default: Django refuses to use an empty SECRET_KEY.
SECRET_KEY = envstr("SECRET_KEY") or ("dev-only-insecure-secret-key" if DEBUG else "")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "accounts",
    "detection",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "moderation",
    "registry",
    "provenance",  # C2PA Content Credentials and AI labels beside the detector (issue 22)
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "deepfake_portal.middleware.DatabaseUnavailableMiddleware",
    "deepfake_portal.middleware.ApiProblemMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "deepfake_portal.urls"
WSGI_APPLICATION = "deepfake_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = envstr("DATABASE_URL")
if not DATABASE_URL:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASE_URL = f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"
# Health checks: a connection kept from before a database restart is replaced, not reused broken.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    DATABASES["default"].setdefault("OPTIONS", {}).update({"charset": "utf8mb4"})
    DATABASES["default"]["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login brute-force protection (django-axes): LOGIN_FAILURE_LIMIT failures for one username from one
# address lock that pair out for LOGIN_LOCKOUT_HOURS; a successful login resets the count.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = envfloat("LOGIN_LOCKOUT_HOURS", 1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = envint("PROXY_COUNT", 0) or None  # trusted reverse proxies in front of the portal
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "detection:upload"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = envstr("STATIC_ROOT") or None  # only for collectstatic; whitenoise serves static/ directly
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True  # serve straight from static/ without collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Uploads, heatmaps and thumbnails (detection.storage): "local", a folder outside any public URL
# (PRIVATE_MEDIA_ROOT, which web and workers must share), or "s3", a private bucket on S3-compatible object
# storage, so workers on other machines share nothing but the services. Only the owner-checked views
# serve them: streamed, or (PRIVATE_STORAGE_REDIRECT, S3 only) by a presigned URL that lasts
# PRIVATE_STORAGE_URL_SECONDS.
PRIVATE_STORAGE = envstr("PRIVATE_STORAGE", "local")
PRIVATE_MEDIA_ROOT = Path(envstr("PRIVATE_MEDIA_ROOT", str(VAR_DIR / "private")))
S3_ENDPOINT_URL = envstr("S3_ENDPOINT_URL")  # empty: AWS itself
S3_BUCKET = envstr("S3_BUCKET", "portal-private")
S3_ACCESS_KEY_ID = envstr("S3_ACCESS_KEY_ID")  # empty: boto3's usual chain (environment, instance role)
S3_SECRET_ACCESS_KEY = envstr("S3_SECRET_ACCESS_KEY")
S3_REGION = envstr("S3_REGION", "us-east-1")
S3_PREFIX = envstr("S3_PREFIX")  # key prefix inside the bucket
PRIVATE_STORAGE_REDIRECT = envbool("PRIVATE_STORAGE_REDIRECT", False)
PRIVATE_STORAGE_URL_SECONDS = envint("PRIVATE_STORAGE_URL_SECONDS", 60)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
UPLOAD_MAX_BYTES = envint("UPLOAD_MAX_BYTES", 200 * 1024 * 1024)
UPLOAD_MAX_SECONDS = envfloat("UPLOAD_MAX_SECONDS", 600.0)
UPLOAD_MAX_SIDE = envint("UPLOAD_MAX_SIDE", 8000)
UPLOADS_PER_HOUR = envint("UPLOADS_PER_HOUR", 30)
# Set (e.g. "/protected/") when nginx fronts the portal: the permission-checked views then answer with an
# X-Accel-Redirect to PREFIX + the file's storage name, and nginx (an `internal` location aliased to
# PRIVATE_MEDIA_ROOT) sends the bytes. Empty: Django streams the file itself.
MEDIA_ACCEL_REDIRECT_PREFIX = envstr("MEDIA_ACCEL_REDIRECT_PREFIX")

DETECTOR_CHECKPOINT = envstr("DETECTOR_CHECKPOINT", str(BASE_DIR / "ml" / "weights" / "detector.pt"))
DETECTOR_FRAMES = envint("DETECTOR_FRAMES", 0)  # 0: the model card's frame count
# onnx: ONNX Runtime, faster and without torch in the worker (the graph in DETECTOR_ONNX_CACHE, exported by make); torch: PyTorch
DETECTOR_BACKEND = envstr("DETECTOR_BACKEND", "onnx")
# Adversarial-input defence: random resize + JPEG re-compression of face crops before scoring (ml/defences.py)
DETECTOR_PURIFY = envbool("DETECTOR_PURIFY", False)
# Issue 31: re-score the deciding crops under small harmless changes when the verdict would not be "likely fake";
# a large jump means "inconclusive: may have been altered to evade detection" and a moderator's review.
DETECTOR_TAMPER_CHECK = envbool("DETECTOR_TAMPER_CHECK", True)
DETECTOR_MAX_HEATMAPS = envint("DETECTOR_MAX_HEATMAPS", 8)
# Issue 32: the whole-picture probe (ml.inference.whole_image) that reads images without a face.
WHOLE_IMAGE_PROBE = envstr("WHOLE_IMAGE_PROBE", str(BASE_DIR / "ml" / "weights" / "whole_image_probe.npz"))
# Issue 29: the voice detector (ml.audio; empty: its default weights) on audio uploads and every video's sound
# track, and the lip-sync check (ml.sync) on videos with a face and at least this much speech.
VOICE_MODEL = envstr("VOICE_MODEL", "")
SYNC_ENABLED = envbool("SYNC_ENABLED", True)
SYNC_MIN_SPEECH_SECONDS = envfloat("SYNC_MIN_SPEECH_SECONDS", 1.0)
# A video browsers cannot play gets an H.264/AAC preview from the worker (detection.previews), by ffmpeg.
PREVIEW_TIMEOUT_SECONDS = envint("PREVIEW_TIMEOUT_SECONDS", 120)
PREVIEW_THREADS = envint("PREVIEW_THREADS", 1)

# The model registry (registry/): workers serve its serving version, cached here by sha256; DETECTOR_CHECKPOINT
# is the embedded default while the registry is empty (`manage.py models init` registers it).
REGISTRY_MODEL_CACHE = envstr("REGISTRY_MODEL_CACHE", str(Path(tempfile.gettempdir()) / "deepfake-portal-models"))
REGISTRY_SHADOW_QUEUE = envstr("REGISTRY_SHADOW_QUEUE", "shadow")  # low priority: never delays a serving verdict
REGISTRY_WORK_DIR = envstr("REGISTRY_WORK_DIR", str(VAR_DIR / "registry"))  # retraining's features and candidates
# The gate: a labels CSV (path,label,kind[,group]) of evaluation media this deployment names, plus the
# reviewed items held out of training (every REGISTRY_GATE_HOLDOUT-th by content hash). A candidate is
# promoted only if its ROC AUC beats the serving model's by REGISTRY_GATE_MARGIN and its ECE is at most
# REGISTRY_GATE_ECE_LIMIT.
REGISTRY_GATE_ITEMS = envstr("REGISTRY_GATE_ITEMS", "")
REGISTRY_GATE_HOLDOUT = envint("REGISTRY_GATE_HOLDOUT", 5)
REGISTRY_GATE_MARGIN = envfloat("REGISTRY_GATE_MARGIN", 0.01)
REGISTRY_GATE_ECE_LIMIT = envfloat("REGISTRY_GATE_ECE_LIMIT", 0.25)
# Retraining: the reviewed items plus (optionally) base training media from a labels CSV, at most this many.
RETRAIN_BASE_ITEMS = envstr("RETRAIN_BASE_ITEMS", "")
RETRAIN_BASE_LIMIT = envint("RETRAIN_BASE_LIMIT", 200)

# Result pages: scores within this distance of the model's threshold read "inconclusive", and so does
# any result whose faces are smaller than RESULT_MIN_FACE_PX (median shorter side, source pixels).
RESULT_INCONCLUSIVE_BAND = envfloat("RESULT_INCONCLUSIVE_BAND", 0.1)
RESULT_MIN_FACE_PX = envint("RESULT_MIN_FACE_PX", 40)
HISTORY_PAGE_SIZE = envint("HISTORY_PAGE_SIZE", 20)

# Celery: a Redis broker when CELERY_BROKER_URL is set; otherwise the web process runs each task itself
# in a background thread (detection.queues.enqueue_analysis), so `make run` needs no services.
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"
# Queues by work type: images and videos up to LONG_VIDEO_SECONDS go to DETECTION_QUEUE (also the default
# queue, e.g. for webhooks), longer videos to DETECTION_LONG_QUEUE, each read by its own workers, so a
# long video never holds up an image.
DETECTION_QUEUE = envstr("CELERY_QUEUE", "detection")
DETECTION_LONG_QUEUE = envstr("CELERY_LONG_QUEUE", "detection-long")
LONG_VIDEO_SECONDS = envfloat("LONG_VIDEO_SECONDS", 60.0)
CELERY_TASK_DEFAULT_QUEUE = DETECTION_QUEUE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis re-delivers an unacked message after this long; it must exceed the hard time limit.
DETECTION_SOFT_TIME_LIMIT = envint("DETECTION_SOFT_TIME_LIMIT", 900)
DETECTION_HARD_TIME_LIMIT = envint("DETECTION_HARD_TIME_LIMIT", 960)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": DETECTION_HARD_TIME_LIMIT + 300}
# The sweeper (manage.py sweep_jobs --every 30): a queued job whose message is older than this and no
# longer in Redis is sent again, at most SWEEP_MAX_REQUEUES times; then it fails with code "stuck".
SWEEP_QUEUED_SECONDS = envint("SWEEP_QUEUED_SECONDS", 120)
SWEEP_MAX_REQUEUES = envint("SWEEP_MAX_REQUEUES", 3)
# A running job's worker writes a heartbeat every JOB_HEARTBEAT_SECONDS; one silent for
# JOB_HEARTBEAT_TIMEOUT is taken as dead on whatever host it ran, and its job is claimed again.
JOB_HEARTBEAT_SECONDS = envfloat("JOB_HEARTBEAT_SECONDS", 5.0)
JOB_HEARTBEAT_TIMEOUT = envfloat("JOB_HEARTBEAT_TIMEOUT", 60.0)
# Stored files that no row names (a process died between storing and committing) are removed by the
# sweeper once older than this, checked every SWEEP_ORPHANS_EVERY seconds by `sweep_jobs --every`.
SWEEP_ORPHAN_SECONDS = envint("SWEEP_ORPHAN_SECONDS", 3600)
SWEEP_ORPHANS_EVERY = envint("SWEEP_ORPHANS_EVERY", 600)

# Moderation (moderation/): a finished job is flagged for review when its score is at least
# MODERATION_SCORE_THRESHOLD, or within MODERATION_INCONCLUSIVE_BAND of the detector's own threshold.
MODERATION_SCORE_THRESHOLD = envfloat("MODERATION_SCORE_THRESHOLD", 0.9)
MODERATION_INCONCLUSIVE_BAND = envfloat("MODERATION_INCONCLUSIVE_BAND", 0.1)
# The model health page warns when this week's scores drift from the reference by more than this PSI.
MODERATION_DRIFT_PSI_WARNING = envfloat("MODERATION_DRIFT_PSI_WARNING", 0.2)
# ... but only once this week has at least this many scores: PSI and KS on a handful of scores are noise.
MODERATION_DRIFT_MIN_SCORES = envint("MODERATION_DRIFT_MIN_SCORES", 200)

# Provenance (provenance/): C2PA Content Credentials are checked against trust lists read from files the
# deployment provides (PEM bundles; nothing is fetched at run time). With none, every signer is "not trusted".
PROVENANCE_TRUST_ANCHORS = envstr("PROVENANCE_TRUST_ANCHORS", "")  # root/intermediate certificates
PROVENANCE_ALLOWED_CERTS = envstr("PROVENANCE_ALLOWED_CERTS", "")  # end-entity certificates trusted as they are
PROVENANCE_TIMEOUT_SECONDS = envfloat("PROVENANCE_TIMEOUT_SECONDS", 10.0)  # per file, in its own process
PROVENANCE_MEMORY_MB = envint("PROVENANCE_MEMORY_MB", 1024)  # that process's address-space limit
PROVENANCE_MAX_BYTES = envint("PROVENANCE_MAX_BYTES", UPLOAD_MAX_BYTES)  # larger files are not checked
PROVENANCE_MAX_MANIFEST_JSON = envint("PROVENANCE_MAX_MANIFEST_JSON", 1 << 20)  # raw JSON kept for moderators

# REST API (api/): token or session auth, per-user and per-token rates, errors as {"error": {"code", ...}}.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttles.PerUserThrottle", "api.throttles.PerTokenThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
API_THROTTLE_USER = envstr("API_THROTTLE_USER", "120/min")
API_THROTTLE_TOKEN = envstr("API_THROTTLE_TOKEN", "60/min")
# Issue 31: scores in API answers are rounded to this many decimals (a black-box attacker learns less per query).
API_SCORE_DECIMALS = envint("API_SCORE_DECIMALS", 2)
API_PAGE_SIZE = envint("API_PAGE_SIZE", 20)
SPECTACULAR_SETTINGS = {
    "TITLE": "Deepfake Portal API",
    "DESCRIPTION": "Upload media for deepfake analysis and read the results. Every error is an RFC 9457 "
                   "problem document (application/problem+json: type, title, status, detail) with a stable "
                   "`code`; a 429 says when to retry in Retry-After.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from static/, no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # issue 22: two choice sets are called "status" (the job's and the Content Credentials'); each keeps a name
    # The documented way in is the bearer token. The browser's session also works (the docs page's "try it
    # out" uses it) but is not a second scheme: with two, an invalid cookie beside a valid token would read as
    # "accepted bad credentials" to a client checking the schema.
    "AUTHENTICATION_WHITELIST": ["api.authentication.ApiTokenAuthentication"],
    "ENUM_NAME_OVERRIDES": {"StatusEnum": "detection.models.DetectionJob.Status",
                            "ProvenanceStatusEnum": "provenance.models.Provenance.Status",
                            "EvidenceStatusEnum": "detection.models.EvidenceStatus"},
}
# Webhooks: callbacks to private, loopback or link-local addresses are refused unless this is set.
WEBHOOK_ALLOW_PRIVATE = envbool("WEBHOOK_ALLOW_PRIVATE", False)
WEBHOOK_MAX_ATTEMPTS = envint("WEBHOOK_MAX_ATTEMPTS", 5)
WEBHOOK_RETRY_BASE_SECONDS = envfloat("WEBHOOK_RETRY_BASE_SECONDS", 30.0)  # then 2x, 4x, ...
WEBHOOK_TIMEOUT_SECONDS = envfloat("WEBHOOK_TIMEOUT_SECONDS", 10.0)

EMAIL_BACKEND = envstr(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "portal@localhost")

# Production behind HTTPS: HTTPS=1 turns on secure cookies, the redirect to https and HSTS (each can be
# set on its own too). `manage.py check --deploy` is clean with DEBUG off, a real SECRET_KEY,
# ALLOWED_HOSTS and HTTPS=1 (tests/portal/test_security.py runs it).
HTTPS = envbool("HTTPS", False)
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", HTTPS)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", HTTPS)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if envbool("BEHIND_TLS_PROXY", False):  # the proxy terminates TLS and says so in X-Forwarded-Proto
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
}

# --- Live check (live/, issue 21): Django Channels on the ASGI server ---------------------------------------
# daphne first: its runserver serves pages and WebSockets from `make run`'s one command.
INSTALLED_APPS = ["daphne", *INSTALLED_APPS, "channels", "live"]
ASGI_APPLICATION = "deepfake_portal.asgi.application"
# The channel layer: Redis DB LIVE_REDIS_DB on the broker's Redis (Celery keeps DB 0 to itself), or, with no
# broker (`make run`), in this process's memory; LIVE_REDIS_URL names another Redis.
LIVE_REDIS_URL = envstr("LIVE_REDIS_URL")
if not LIVE_REDIS_URL and not CELERY_TASK_ALWAYS_EAGER and CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    from urllib.parse import urlsplit

    LIVE_REDIS_URL = urlsplit(CELERY_BROKER_URL)._replace(path=f"/{envint('LIVE_REDIS_DB', 1)}").geturl()
CHANNEL_LAYERS = {"default": (
    {"BACKEND": "channels_redis.core.RedisChannelLayer",
     "CONFIG": {"hosts": [LIVE_REDIS_URL], "prefix": "live", "capacity": 100, "expiry": 30}}
    if LIVE_REDIS_URL else {"BACKEND": "channels.layers.InMemoryChannelLayer"})}
# Where frames are scored: "celery" (workers on LIVE_QUEUE, answers through the channel layer) or "pool"
# (LIVE_POOL_PROCESSES processes of the ASGI server). bench/live.py measured both (docs/benchmarks.md).
LIVE_SCORER = envstr("LIVE_SCORER", "celery" if LIVE_REDIS_URL else "pool")
LIVE_QUEUE = envstr("LIVE_QUEUE", "live")
LIVE_POOL_PROCESSES = envint("LIVE_POOL_PROCESSES", 1)
# Limits: sockets per user, session length, frame bytes and pixels, frames a second per user.
LIVE_SESSIONS_PER_USER = envint("LIVE_SESSIONS_PER_USER", 1)
LIVE_MAX_SECONDS = envint("LIVE_MAX_SECONDS", 600)
LIVE_MAX_FRAME_BYTES = envint("LIVE_MAX_FRAME_BYTES", 256 * 1024)
LIVE_MAX_FRAME_SIDE = envint("LIVE_MAX_FRAME_SIDE", 1280)
LIVE_MAX_FPS = envfloat("LIVE_MAX_FPS", 8.0)
# Frames being scored per session at once; a frame that waited longer than LIVE_STALE_SECONDS for a worker
# is dropped, never scored late. The running score is the mean of the last LIVE_WINDOW_SECONDS.
LIVE_IN_FLIGHT = envint("LIVE_IN_FLIGHT", 1)
LIVE_STALE_SECONDS = envfloat("LIVE_STALE_SECONDS", 1.0)
LIVE_WINDOW_SECONDS = envfloat("LIVE_WINDOW_SECONDS", 5.0)
# "Save this session": frames kept on the server's disk (a private folder under LIVE_RECORD_DIR, default the
# system's temporary folder, removed when the socket closes) up to LIVE_RECORD_MAX_BYTES, then made into a
# LIVE_SAVE_FPS video and uploaded like any other.
LIVE_RECORD_DIR = envstr("LIVE_RECORD_DIR") or None
LIVE_RECORD_MAX_BYTES = envint("LIVE_RECORD_MAX_BYTES", 200 * 1024 * 1024)
LIVE_SAVE_FPS = envint("LIVE_SAVE_FPS", 10)
# After the maximum length the socket stays open this long for a save, then closes.
LIVE_SAVE_GRACE_SECONDS = envint("LIVE_SAVE_GRACE_SECONDS", 60)
SPECTACULAR_SETTINGS["DESCRIPTION"] += (
    " The live check is a WebSocket at /ws/live/ (the same token as `Authorization: Bearer <token>` on the "
    "handshake; binary JPEG frames in, one JSON answer per frame out); its protocol is in docs/live.md, "
    "\"The live protocol\".")
