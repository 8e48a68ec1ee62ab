"""Webhooks: signed with the owner's secret, retried with backoff, every attempt recorded, private URLs refused."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from api import netcheck, services
from api.models import Webhook
from api.tasks import deliver_webhook
from detection import intake, jobs
from detection.models import DetectionJob
from tests.api_support import (  # noqa: F401
    fresh_throttle_counts,
    payload,
    private_files_removed,
    signature_is_valid,
    webhook_receiver,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ended_job(owner, clips, settings):
    """An uploaded clip whose job has just failed (no worker needed): the webhook fires on that."""
    upload = intake.media_upload(
        owner=owner, uploaded=SimpleUploadedFile("gradient.mp4", clips["no_face"].read_bytes()))
    return upload.media.job


def attach(job, url, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # this test's own receiver listens on 127.0.0.1
    return services.webhook_attach(job=job, url=url)


def test_a_failing_receiver_gets_retries_with_backoff_and_every_attempt_is_recorded(
    ended_job, owner, webhook_receiver, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    webhook = attach(ended_job, webhook_receiver.url, settings)
    webhook_receiver.statuses = [500, 503]  # then 200
    sent = []
    # Run the delivery task here (eagerly: its retries run at once) instead of through the broker.
    monkeypatch.setattr(services, "enqueue_delivery", lambda webhook_id, countdown=0: sent.append(webhook_id))
    with django_capture_on_commit_callbacks(execute=True):
        jobs.job_fail(job_id=ended_job.pk, code="no_face", message="No face was found.")
    assert sent == [webhook.pk]  # the job_ended signal started the delivery
    deliver_webhook.apply(args=(webhook.pk,))

    webhook.refresh_from_db()
    assert webhook.state == Webhook.State.DELIVERED and webhook.attempts == 3 and webhook.finished_at
    deliveries = list(webhook.deliveries.all())
    assert [(d.attempt, d.status_code, d.succeeded, d.error) for d in deliveries] == [
        (1, 500, False, "HTTP 500"), (2, 503, False, "HTTP 503"), (3, 200, True, "")]
    assert all(d.sent_at for d in deliveries)
    secret = services.webhook_secret_for(user=owner).secret
    assert len(webhook_receiver.requests) == 3
    assert all(signature_is_valid(secret, request) for request in webhook_receiver.requests)
    body = payload(webhook_receiver.requests[-1])
    assert body["event"] == "analysis.failed" and body["analysis"]["error_code"] == "no_face"
    # A signature made with another secret does not verify.
    assert not signature_is_valid("not-the-secret", webhook_receiver.requests[-1])

    # Exponential backoff between tries, from settings.
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    assert [services.retry_delay(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]


def test_it_gives_up_after_the_last_attempt(ended_job, webhook_receiver, settings, monkeypatch):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    webhook = attach(ended_job, webhook_receiver.url, settings)
    webhook_receiver.statuses = [500] * 5
    monkeypatch.setattr(services, "enqueue_delivery", lambda webhook_id, countdown=0: None)
    jobs.job_fail(job_id=ended_job.pk, code="no_face", message="No face was found.")
    deliver_webhook.apply(args=(webhook.pk,))
    webhook.refresh_from_db()
    assert webhook.state == Webhook.State.FAILED and webhook.attempts == 2
    assert [d.status_code for d in webhook.deliveries.all()] == [500, 500]
    deliver_webhook.apply(args=(webhook.pk,))  # a duplicate message does nothing more
    assert webhook.deliveries.count() == 2


def test_an_unreachable_receiver_is_a_recorded_failure(ended_job, settings, monkeypatch):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    webhook = attach(ended_job, "http://127.0.0.1:9/closed", settings)
    monkeypatch.setattr(services, "enqueue_delivery", lambda webhook_id, countdown=0: None)
    jobs.job_fail(job_id=ended_job.pk, code="no_face", message="No face was found.")
    deliver_webhook.apply(args=(webhook.pk,))
    delivery = webhook.deliveries.get()
    assert delivery.status_code is None and not delivery.succeeded and "Error" in delivery.error


def test_a_url_that_turned_private_is_refused_at_delivery_time(ended_job, webhook_receiver, settings, monkeypatch):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    webhook = attach(ended_job, webhook_receiver.url, settings)
    settings.WEBHOOK_ALLOW_PRIVATE = False
    monkeypatch.setattr(services, "enqueue_delivery", lambda webhook_id, countdown=0: None)
    jobs.job_fail(job_id=ended_job.pk, code="no_face", message="No face was found.")
    deliver_webhook.apply(args=(webhook.pk,))
    assert webhook_receiver.requests == []
    assert "private" in webhook.deliveries.get().error


def test_a_callback_on_an_already_ended_job_is_delivered_at_once(
    ended_job, settings, monkeypatch, django_capture_on_commit_callbacks
):
    DetectionJob.objects.filter(pk=ended_job.pk).update(status="done")
    sent = []
    monkeypatch.setattr(services, "enqueue_delivery", lambda webhook_id, countdown=0: sent.append(webhook_id))
    with django_capture_on_commit_callbacks(execute=True):
        webhook = attach(ended_job, "http://127.0.0.1:9/hook", settings)
    assert sent == [webhook.pk] and Webhook.objects.get().state == Webhook.State.PENDING


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://localhost:8000/", "http://10.0.0.5/", "http://192.168.1.1/", "http://172.16.0.1/",
    "http://169.254.169.254/", "http://[::1]/", "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
    "file:///etc/passwd", "http://user:pw@93.184.215.14/",
])
def test_private_and_odd_urls_are_refused_by_default(url):
    with pytest.raises(netcheck.UnsafeUrl):
        netcheck.check_callback_url(url, allow_private=False)


def test_a_public_address_is_accepted():
    netcheck.check_callback_url("https://93.184.215.14/hook", allow_private=False)


def test_the_profile_page_shows_and_rotates_the_signing_secret(owner_client, owner):
    first = services.webhook_secret_for(user=owner).secret
    assert first.encode() in owner_client.get(reverse("profile")).content
    assert owner_client.post(reverse("api:webhook_secret_rotate")).status_code == 302
    second = services.webhook_secret_for(user=owner).secret
    assert second != first and second.encode() in owner_client.get(reverse("profile")).content
