"""Security: deploy checks under production settings, CSRF on every POST, Argon2, login lockout (django-axes),
private files only through permission-checked views (X-Accel-Redirect ready), an IDOR walk over every URL
that carries an object id, and a 503 (not a 500) when the database is away."""
from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from api.models import ApiToken
from detection.models import VoiceEvidence
from detection.storage import private_storage
from moderation.models import ModerationItem

from tests.conftest import REPO, TEST_PASSWORD
from tests.moderation_support import make_job, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_private_root(settings, tmp_path):
    """Files these tests make stay out of the shared test root (test_upload checks it is empty)."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


# --- URL patterns -------------------------------------------------------------------------------


def all_patterns(resolver: URLResolver | None = None, namespace: str = "", prefix: str = ""):
    """(qualified name, route, converter names) for every URL pattern, through every include."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from all_patterns(entry, inner, route)
        elif isinstance(entry, URLPattern):
            converters = set(getattr(entry.pattern, "converters", {}) or {})
            regex_groups = set(entry.pattern.regex.groupindex) - converters
            name = f"{namespace}{entry.name}" if entry.name else None
            yield name, route, converters | regex_groups


# The admin is staff-only: outsiders are redirected to its login and never see an object (checked below).
ADMIN = "admin:"
# Not object ids: a signed reset link (uid + token) that checks itself.
NOT_OBJECT_IDS = {"password_reset_confirm"}


@pytest.fixture
def owned(owner):
    """One of each object the owner has that a URL can name by id."""
    job = make_job(owner, score=0.97, frames=1)
    from detection.storage import private_storage

    job.preview = private_storage.save(f"jobs/{job.pk}/preview.mp4", io.BytesIO(b"\x00\x00\x00\x18ftypmp42" + bytes(64)))
    job.playback = "preview"
    job.save(update_fields=["preview", "playback"])
    item = ModerationItem.objects.create(job=job, high_score=True)
    token = ApiToken.objects.create(user=owner, name="laptop", prefix="dfp_abc", key_hash=secrets.token_hex(32))
    frame = job.frames.get()
    with open(frame.heatmap.path, "wb") as fh:  # a real JPEG, so the PDF report can embed it
        from PIL import Image

        Image.new("RGB", (16, 16), "red").save(fh, "JPEG")
    # Issue 29: the sound's evidence and its spectrogram, served by detection: and moderation:spectrogram.
    png = io.BytesIO()
    Image.new("RGB", (32, 8), "purple").save(png, "PNG")
    picture = private_storage.save(f"jobs/{job.pk}/spectrogram.png", io.BytesIO(png.getvalue()))
    VoiceEvidence.objects.create(job=job, status="ok", score=0.3, threshold=0.5, image=picture)
    media = job.media
    return {"media": media, "job": job, "item": item, "token": token, "frame": frame}


def url_kwargs(name: str, owned: dict) -> dict:
    """The owner's object for each URL pattern with an id. A new pattern with an id fails here first."""
    media, frame, item, token = owned["media"].pk, owned["frame"].pk, owned["item"].pk, owned["token"].pk
    table = {
        "detection:result": {"pk": media},
        "detection:status": {"pk": media},
        "detection:media_file": {"pk": media},
        "detection:media_preview": {"pk": media},
        "detection:delete": {"pk": media},
        "detection:report_json": {"pk": media},
        "detection:report_pdf": {"pk": media},
        "detection:frame_file": {"pk": frame, "which": "heatmap"},
        "detection:spectrogram": {"pk": media},
        "moderation:spectrogram": {"pk": media},
        "moderation:report": {"pk": media},
        "moderation:review": {"pk": item},
        "moderation:media_file": {"pk": media},
        "moderation:media_preview": {"pk": media},
        "moderation:frame_file": {"pk": frame, "which": "heatmap"},
        "api:analysis_detail": {"pk": media},
        "api:analysis_report": {"pk": media},
        "api:token_revoke": {"pk": token},
    }
    if name not in table:
        pytest.fail(f"URL pattern {name} takes an id but this test does not know whose object it names: add it")
    return table[name]


def id_patterns():
    found = []
    for name, route, params in all_patterns():
        if not params or route.startswith("admin/") or name in NOT_OBJECT_IDS:
            continue
        assert name, f"unnamed URL pattern with parameters: {route}"
        found.append(name)
    return found


def test_the_walk_covers_every_app_with_ids():
    names = id_patterns()
    assert {n.split(":")[0] for n in names} >= {"detection", "moderation", "api"}
    assert len(names) >= 14


def test_an_outsider_gets_404_for_every_url_with_an_object_id(owned, owner, outsider):
    """Every pattern with an id, every method, as a logged-in uploader who owns nothing: 404.

    Moderator pages answer 403 to anyone without the review permission before any lookup (so they
    reveal nothing either); the uploader's own "report this verdict" page is owner-scoped and 404s.
    """
    owner_client, outsider_client = Client(), Client()
    owner_client.force_login(owner)
    outsider_client.force_login(outsider)
    seen = []
    for name in id_patterns():
        url = reverse(name, kwargs=url_kwargs(name, owned))
        moderator_only = name.startswith("moderation:") and name != "moderation:report"
        expected = 403 if moderator_only else 404
        for method in ("get", "post", "delete"):
            response = getattr(outsider_client, method)(url)
            assert response.status_code in (expected, 405), (method, url, response.status_code)
            if response.status_code == 405:  # the method is not served at all: no lookup happened
                continue
            assert b"alice" not in response.content and owned["media"].original_name.encode() not in response.content
            seen.append((name, method))
        # The same URL works for its owner (or moderators), so the 404 is about ownership, not a bad id.
        if not moderator_only and name not in ("detection:delete", "moderation:report", "api:token_revoke"):
            assert owner_client.get(url).status_code == 200, url
    assert {name for name, _ in seen} == set(id_patterns())
    # Nothing the outsider POSTed or DELETEd changed anything.
    owned["media"].refresh_from_db()
    owned["token"].refresh_from_db()
    assert owned["token"].revoked_at is None
    assert ModerationItem.objects.filter(pk=owned["item"].pk, status="open").exists()


def test_outsiders_cannot_open_admin_objects(owned, outsider_client):
    media = owned["media"]
    response = outsider_client.get(reverse("admin:detection_media_change", args=[media.pk]))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


# --- CSRF ---------------------------------------------------------------------------------------


def concrete_urls(owned):
    for name, route, params in all_patterns():
        if name is None:
            continue
        if name.startswith(ADMIN) and params:
            continue  # the admin's own views are CSRF protected by Django; its index and login are tried
        if name in NOT_OBJECT_IDS:
            yield name, reverse(name, kwargs={"uidb64": "MQ", "token": "set-password"})
        elif params:
            yield name, reverse(name, kwargs=url_kwargs(name, owned))
        else:
            yield name, reverse(name)


def test_every_post_without_a_csrf_token_is_refused(owned, owner):
    """With a session cookie, a POST to any URL without the CSRF token is 403 (API token clients need
    no CSRF token: they send no cookie)."""
    admin = User.objects.create_superuser("root", "root@example.com", TEST_PASSWORD)
    checked = 0
    for user in (admin, owner, None):
        client = Client(enforce_csrf_checks=True)
        if user is not None:
            client.force_login(user)
        for name, url in concrete_urls(owned):
            response = client.post(url, {"x": "1"})
            # Anonymous API calls carry no session, so there is nothing to forge: 401 (or 405 for the
            # read-only schema) before anything runs.
            allowed = (403, 401, 405) if user is None and url.startswith("/api/") else (403,)
            assert response.status_code in allowed, (user, name, url, response.status_code)
            checked += 1
    assert checked > 60
    owned["token"].refresh_from_db()
    assert owned["token"].revoked_at is None


def test_every_post_form_in_the_templates_carries_the_csrf_token():
    import re

    forms = 0
    for directory, _, files in os.walk(REPO / "templates"):
        for filename in files:
            text = open(os.path.join(directory, filename), encoding="utf-8").read()
            for match in re.finditer(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", text, re.S | re.I):
                forms += 1
                assert "{% csrf_token %}" in match.group(1), f"{filename}: a POST form without csrf_token"
    assert forms >= 8


# --- passwords and log-in -----------------------------------------------------------------------


def test_passwords_are_hashed_with_argon2(owner):
    assert owner.password.startswith("argon2$argon2id$")


def login(client, username, password, ip="10.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_login_locks_out_after_the_failure_limit(owner, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(2):
        response = login(client, "alice", "wrong-guess")
        assert response.status_code == 200 and b"enter a correct username and password" in response.content
    locked = login(client, "alice", "wrong-guess")
    assert locked.status_code == 429 and b"Too many failed log-ins" in locked.content
    # The right password no longer works from there ...
    assert login(client, "alice", TEST_PASSWORD).status_code == 429
    # ... but the owner can still log in from elsewhere, and a success resets that address's count.
    elsewhere = login(Client(), "alice", TEST_PASSWORD, ip="10.0.0.2")
    assert elsewhere.status_code == 302


def test_login_lockout_is_settings_driven(owner, settings):
    settings.AXES_FAILURE_LIMIT = 6
    client = Client()
    for _ in range(5):
        assert login(client, "alice", "wrong-guess").status_code == 200
    assert login(client, "alice", TEST_PASSWORD).status_code == 302


def test_upload_rate_limits_are_tested_elsewhere():
    """Upload limits exist for the web form and the API; their behaviour is tested in those files."""
    text = (REPO / "tests" / "detection" / "test_upload.py").read_text()
    assert "def test_it_limits_uploads_per_hour" in text
    api_text = (REPO / "tests" / "api" / "test_api_analyses.py").read_text() + (REPO / "tests" / "api" / "test_api_tokens.py").read_text()
    assert "rate_limited" in api_text or "throttl" in api_text


# --- private files ------------------------------------------------------------------------------


def test_files_go_through_x_accel_redirect_when_configured(owned, owner_client, outsider_client, settings):
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected/"
    media, frame = owned["media"], owned["frame"]
    response = owner_client.get(reverse("detection:media_file", args=[media.pk]), HTTP_RANGE="bytes=0-9")
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/protected/{media.file.name}"
    assert response.content == b"" and response["Content-Type"] == "video/mp4"
    heatmap = owner_client.get(reverse("detection:frame_file", args=[frame.pk, "heatmap"]))
    assert heatmap["X-Accel-Redirect"] == f"/protected/{frame.heatmap.name}" and heatmap.content == b""
    # The permission check is still Django's: the outsider gets a 404 and no header.
    refused = outsider_client.get(reverse("detection:media_file", args=[media.pk]))
    assert refused.status_code == 404 and "X-Accel-Redirect" not in refused
    moderator = Client()
    moderator.force_login(make_user("mod", role="moderator"))
    flagged = moderator.get(reverse("moderation:media_file", args=[media.pk]))
    assert flagged["X-Accel-Redirect"] == f"/protected/{media.file.name}"


def test_files_are_streamed_by_django_without_the_setting(owned, owner_client, settings):
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = ""
    media = owned["media"]
    response = owner_client.get(reverse("detection:media_file", args=[media.pk]))
    assert "X-Accel-Redirect" not in response
    assert b"".join(response.streaming_content) == open(media.file.path, "rb").read()


def test_private_storage_has_no_public_url(owned, client):
    from detection.storage import private_storage

    with pytest.raises(NotImplementedError):
        private_storage.url(owned["media"].file.name)
    assert client.get("/" + owned["media"].file.name).status_code in (302, 404)


# --- production settings ------------------------------------------------------------------------


def deploy_check(**env) -> subprocess.CompletedProcess:
    # DJANGO_ALLOW_ASYNC_UNSAFE is a test-run setting (the Makefile sets it), never a production one.
    unset = ("DEBUG", "DATABASE_URL", "HTTPS", "SECURE_COOKIES", "DJANGO_ALLOW_ASYNC_UNSAFE")
    base = {k: v for k, v in os.environ.items() if k not in unset}
    base.update({"DJANGO_SETTINGS_MODULE": "deepfake_portal.settings", "VAR_DIR": str(REPO / "var")})
    base.update(env)
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=REPO, env=base, capture_output=True, text=True, timeout=120)


PRODUCTION = {"DEBUG": "0", "HTTPS": "1", "ALLOWED_HOSTS": "portal.example.com",
              "SECRET_KEY": "k" * 10 + secrets.token_urlsafe(50)}


def test_check_deploy_is_clean_under_production_settings():
    result = deploy_check(**PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_check_deploy_warns_when_production_is_not_on_https():
    result = deploy_check(**{**PRODUCTION, "HTTPS": "0"})
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stdout + result.stderr


def test_production_cookies_are_secure(settings, owner):
    """What HTTPS=1 sets, seen on a real login response."""
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    client = Client()
    response = client.post(reverse("login"), {"username": "alice", "password": TEST_PASSWORD}, secure=True)
    assert response.status_code == 302
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
    page = client.get(reverse("login"), secure=True)
    assert page.cookies[settings.CSRF_COOKIE_NAME]["secure"]
    assert page["X-Frame-Options"] == "DENY" and page["X-Content-Type-Options"] == "nosniff"


# --- the database going away --------------------------------------------------------------------


def test_a_database_error_in_a_view_answers_503(owner_client, monkeypatch):
    from detection import selectors

    def down(*args, **kwargs):
        raise OperationalError(2006, "MySQL server has gone away")

    monkeypatch.setattr(selectors, "history_page_for_user", down)
    response = owner_client.get(reverse("detection:history"))
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert b"Back in a moment" in response.content


def test_a_database_error_outside_a_view_answers_503(rf):
    from deepfake_portal.middleware import server_error

    request = rf.get("/history/")
    try:
        raise OperationalError(2013, "Lost connection to server during query")
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 503
    try:
        raise ValueError("a bug")
    except ValueError:
        assert server_error(request).status_code == 500
