"""The front page at /: what a visitor who is not logged in sees; users keep the upload page there."""
import json
import re
from pathlib import Path

from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import reverse

from detection import detector
from detection.management.commands import render_sample
from detection.models import Media

from tests.conftest import require, shared_data_dir


def test_a_visitor_gets_the_front_page_not_a_login_form(client):
    response = client.get("/")
    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "home.html"
    html = response.content.decode()
    assert 'id="front-title"' in html and 'name="password"' not in html


def test_it_says_what_the_portal_does_and_does_not_do(client):
    html = client.get("/").content.decode()
    does, does_not = _section(html, "does"), _section(html, "does-not")
    assert "likely fake" in does and "heatmaps" in does
    assert "screening signal, not proof" in does_not
    assert "sound" in does_not and "recognise who" in does_not


def test_it_says_what_happens_to_an_upload_and_who_can_see_it(client, settings):
    settings.UPLOAD_MAX_BYTES = 50 * 1024 * 1024
    settings.UPLOAD_MAX_SECONDS = 90
    upload = " ".join(_section(client.get("/").content.decode(), "your-upload").split())
    assert "up to 50 MB and 1.5 minutes" in upload  # the limits come from the settings
    assert "private storage" in upload and "public web address" in upload
    assert "Only you." in upload and "not found" in upload
    assert "Moderators" in upload and "flagged for review" in upload
    assert "delete it" in upload


def test_it_shows_the_sample_rendered_from_the_current_model(client):
    """The committed sample (manage.py render_sample) is drawn in HTML from its figures, with its picture."""
    sample = _section(client.get("/").content.decode(), "sample")
    figures = json.loads(Path(finders.find("img/sample-result.json")).read_text())
    img = re.search(r"<img [^>]*>", sample).group(0)
    src = re.search(r'src="([^"]+)"', img).group(1)
    assert src == "/static/img/sample-result.jpg" and client.get(src).status_code == 200
    assert len(re.search(r'alt="([^"]*)"', img).group(1)) > 60
    assert f'<code id="sample-model">{figures["model_version"]}</code>' in sample
    assert figures["verdict_words"] in sample and f'{figures["threshold"]:.2f}' in sample
    assert sample.count('class="mark mark-') == len(figures["frames"]) > 0


def test_render_sample_runs_the_current_detector_and_the_page_names_its_version(db, client, settings, tmp_path):
    clip = shared_data_dir() / render_sample.DEFAULT_CLIP
    require(clip.is_file(), f"shared face data not found at {clip}")
    call_command("render_sample", media=str(clip), out=tmp_path)
    figures = json.loads((tmp_path / "sample-result.json").read_text())
    predictor = detector.get_predictor()
    assert figures["model_version"] == predictor.model_version and figures["threshold"] == predictor.threshold
    assert figures["verdict"] in ("fake", "inconclusive", "authentic") and len(figures["frames"]) >= 2
    assert (tmp_path / "sample-result.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    settings.SAMPLE_RESULT_DIR = str(tmp_path)
    sample = _section(client.get("/").content.decode(), "sample")
    assert f'<code id="sample-model">{predictor.model_version}</code>' in sample
    assert f'{figures["score"]:.3f}' in sample and figures["verdict_words"] in sample


def test_it_links_to_sign_up_and_log_in(client):
    html = client.get("/").content.decode()
    assert f'id="signup-link" href="{reverse("signup")}"' in html
    assert f'id="login-link" href="{reverse("login")}"' in html
    assert client.get(reverse("signup")).status_code == 200


def test_it_is_built_for_small_screens_and_screen_readers(client):
    html = client.get("/").content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert '<html lang="en">' in html
    assert html.count("<h1") == 1
    for img in re.findall(r"<img [^>]*>", html):
        assert re.search(r'alt="[^"]+"', img), img
    for section in re.findall(r"<section [^>]*>", html):
        assert "aria-labelledby" in section, section


def test_a_logged_in_user_keeps_the_upload_page(owner_client):
    response = owner_client.get("/")
    assert response.status_code == 200
    names = [t.name for t in response.templates]
    assert "detection/upload.html" in names and "home.html" not in names


def test_a_visitors_upload_is_sent_to_log_in_and_nothing_is_stored(client, db):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post("/", {"file": SimpleUploadedFile("x.jpg", b"\xff\xd8\xff" + b"0" * 100)})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert not Media.objects.exists()


def _section(html: str, section_id: str) -> str:
    match = re.search(rf'<section [^>]*id="{section_id}"[^>]*>(.*?)</section>', html, re.S)
    assert match, f"no section #{section_id}"
    return match.group(1)
