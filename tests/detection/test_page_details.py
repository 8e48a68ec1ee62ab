"""Details people notice (issue 32): a favicon, sign-up and log-in styled with links between them, the review
page with the media and its evidence, actions worded as actions, the audit trail in sentences."""
import pytest
from django.test import Client
from django.urls import reverse

from moderation import services
from moderation.models import AuditEntry

from tests.moderation_support import make_job, make_user

pytestmark = pytest.mark.django_db


def test_there_is_a_favicon(client):
    page = client.get(reverse("login")).content.decode()
    assert 'rel="icon"' in page and "favicon.svg" in page
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("img/favicon.ico")


def test_sign_up_and_log_in_are_styled_and_link_to_each_other(client):
    login = client.get(reverse("login")).content.decode()
    signup = client.get(reverse("signup")).content.decode()
    assert 'class="card auth-form"' in login and 'class="card auth-form"' in signup
    assert f'href="{reverse("signup")}" id="to-signup"' in login
    assert f'href="{reverse("login")}" id="to-login"' in signup
    assert "<p>" not in signup.split('auth-form">')[1].split("</form>")[0]  # fields in blocks, not as_p


@pytest.fixture
def moderator_client():
    client = Client()
    client.force_login(make_user("mod", role="moderator"))
    return client


def test_the_review_page_shows_the_media_its_evidence_and_actions(moderator_client, owner):
    job = make_job(owner, score=0.95, frames=3)
    item = services.flag_if_needed(job_id=job.pk)
    page = moderator_client.get(reverse("moderation:review", args=[item.pk])).content.decode()
    media_url = reverse("moderation:media_file", args=[job.media_id])
    assert f'<video id="player" controls preload="metadata" playsinline src="{media_url}"' in page
    assert 'id="timeline"' in page and 'id="timeline-data"' in page and "js/result.js" in page
    assert 'id="heatmaps"' in page and page.count('class="frame-button"') == 3
    for words, value in (("Confirm as fake", "confirm_fake"), ("Mark as authentic", "mark_authentic"),
                         ("Escalate to a senior moderator", "escalate")):
        assert f'value="{value}" class="action action-{value}">{words}</button>' in page
    video = moderator_client.get(media_url, HTTP_RANGE="bytes=0-9")
    assert video.status_code == 206  # the player can seek


def test_the_audit_trail_reads_as_sentences(moderator_client, owner):
    item = services.flag_if_needed(job_id=make_job(owner, score=0.95).pk)
    url = reverse("moderation:review", args=[item.pk])
    moderator_client.post(url, {"action": "escalate"})
    moderator_client.post(url, {"action": "confirm_fake", "note": "blending seam"})
    page = moderator_client.get(url).content.decode()
    trail = page.split('id="audit"')[1].split("</ol>")[0]
    assert "The system flagged it for review (high score). Status: open." in trail
    assert "mod escalated it. Status: open → escalated." in trail
    assert "mod confirmed it as fake: “blending seam”. Status: escalated → confirmed fake." in trail
    assert "{" not in trail and AuditEntry.objects.filter(item=item).count() == 3


def test_admin_shows_a_superuser_as_superuser_not_uploader(owner):
    from django.contrib.auth.models import User

    root = User.objects.create_superuser("root", "root@example.com", "a-long-test-passphrase-42")
    client = Client()
    client.force_login(root)
    listing = client.get(reverse("admin:auth_user_changelist")).content.decode()
    row = listing.split(">root</a>")[1].split("</tr>")[0]
    assert "superuser" in row and "uploader" not in row
    assert "uploader" in listing.split(f">{owner.username}</a>")[1].split("</tr>")[0]
