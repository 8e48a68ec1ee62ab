"""Moderation: flagging rules, the uploader's report, moderator actions with their audit trail, bulk
actions, who may see what (uploader 403, outsider 404, moderator not in admin), and bounded queries."""
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from detection import jobs
from detection.models import DetectionJob
from detection.signals import job_ended
from moderation import services
from moderation.models import AuditEntry, ModerationItem

from tests.moderation_support import make_job, make_user, verdict_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_private_root(settings, tmp_path):
    """Files of this module's jobs go to a folder of each test's own (others check the shared root is empty)."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture(autouse=True)
def thresholds(settings):
    settings.MODERATION_SCORE_THRESHOLD = 0.9
    settings.MODERATION_INCONCLUSIVE_BAND = 0.1


@pytest.fixture
def moderator(db):
    return make_user("mod", role="moderator")


@pytest.fixture
def moderator_client(moderator):
    client = Client()
    client.force_login(moderator)
    return client


@pytest.fixture
def staff_admin(db):
    return make_user("boss", role="admin", staff=True)


@pytest.fixture
def admin_client(staff_admin):
    client = Client()
    client.force_login(staff_admin)
    return client


def flagged(owner, **kwargs) -> ModerationItem:
    job = make_job(owner, **kwargs)
    item = services.flag_if_needed(job_id=job.pk)
    assert item is not None
    return item


# --- flagging rules ---------------------------------------------------------------------------


def test_it_flags_a_score_over_the_moderation_threshold(owner):
    item = flagged(owner, score=0.95)
    assert item.reasons == ["high_score"]
    assert item.status == ModerationItem.Status.OPEN
    entry = AuditEntry.objects.get(item=item)
    assert entry.action == "flag" and entry.actor is None and entry.actor_name == ""
    assert entry.before == {} and entry.after == {"status": "open", "reasons": ["high_score"]}


def test_it_flags_an_inconclusive_score_near_the_threshold(owner):
    assert flagged(owner, score=0.55, threshold=0.5).reasons == ["inconclusive"]
    assert flagged(owner, score=0.41, threshold=0.5).reasons == ["inconclusive"]


def test_it_flags_a_score_that_is_both_high_and_inconclusive(owner, settings):
    settings.MODERATION_SCORE_THRESHOLD = 0.8
    assert flagged(owner, score=0.85, threshold=0.8).reasons == ["high_score", "inconclusive"]


def test_it_does_not_flag_confident_authentic_or_failed_jobs(owner):
    assert services.flag_if_needed(job_id=make_job(owner, score=0.1).pk) is None
    assert services.flag_if_needed(job_id=make_job(owner, score=0.75).pk) is None  # fake, but under 0.9
    assert services.flag_if_needed(job_id=make_job(owner, status="failed", error_code="no_face").pk) is None
    assert ModerationItem.objects.count() == 0 and AuditEntry.objects.count() == 0


def test_flagging_twice_keeps_one_item_and_one_entry(owner):
    job = make_job(owner, score=0.99)
    first = services.flag_if_needed(job_id=job.pk)
    assert services.flag_if_needed(job_id=job.pk) == first
    assert ModerationItem.objects.count() == 1 and AuditEntry.objects.count() == 1


def finish_with(score: float):
    """Stands in for the detector inside job_run: the job ends done with this score, and says so."""

    def finish(job):
        DetectionJob.objects.filter(pk=job.pk).update(status="done", score=score, threshold=0.5,
                                                      verdict=verdict_of(score).key)
        job_ended.send_robust(sender=DetectionJob, job_id=job.pk, status="done")

    return finish


def queued_job(owner) -> DetectionJob:
    job = make_job(owner, status="queued", score=None)
    DetectionJob.objects.filter(pk=job.pk).update(status="queued", score=None, verdict="")
    return job


def test_a_job_is_flagged_when_the_job_service_ends_it(owner, monkeypatch):
    job = queued_job(owner)
    monkeypatch.setattr(jobs, "_analyse", finish_with(0.97))
    jobs.job_run(job_id=job.pk)
    assert ModerationItem.objects.get(job=job).reasons == ["high_score"]


def test_a_failed_job_is_not_flagged(owner):
    job = queued_job(owner)
    jobs.job_fail(job_id=job.pk, code="no_face", message="No face.")
    assert not ModerationItem.objects.filter(job=job).exists()


def test_a_flagging_error_does_not_change_how_the_job_ended(owner, monkeypatch):
    job = queued_job(owner)
    monkeypatch.setattr(jobs, "_analyse", finish_with(0.97))

    def broken(**kwargs):
        raise RuntimeError("moderation is down")

    monkeypatch.setattr(services, "flag_if_needed", broken)
    jobs.job_run(job_id=job.pk)
    assert DetectionJob.objects.get(pk=job.pk).status == "done"
    assert not ModerationItem.objects.filter(job=job).exists()


# --- the uploader's report and the outcome on the result page ---------------------------------


def test_the_uploader_reports_a_wrong_verdict(owner_client, owner):
    job = make_job(owner, score=0.2)  # confidently authentic: not flagged by score
    page = owner_client.get(reverse("detection:result", args=[job.media.pk]))
    assert b"Report this verdict" in page.content
    response = owner_client.post(reverse("moderation:report", args=[job.media.pk]), {"comment": "It is my face swap"})
    assert response.status_code == 302
    item = ModerationItem.objects.get(job=job)
    assert item.reasons == ["reported"] and item.report_comment == "It is my face swap"
    entry = AuditEntry.objects.get(item=item)
    assert entry.action == "report" and entry.actor == owner
    page = owner_client.get(reverse("detection:result", args=[job.media.pk]))
    assert b"Under review" in page.content and b"Report this verdict" not in page.content
    # A second report changes nothing.
    owner_client.post(reverse("moderation:report", args=[job.media.pk]))
    assert AuditEntry.objects.filter(item=item).count() == 1


def test_a_report_reopens_a_reviewed_item(owner_client, owner, moderator):
    item = flagged(owner, score=0.95)
    services.item_review(item_id=item.pk, actor=moderator, action="confirm_fake")
    owner_client.post(reverse("moderation:report", args=[item.job.media.pk]))
    item.refresh_from_db()
    assert item.status == "open" and item.reasons == ["high_score", "reported"]


def test_the_outsider_cannot_report_someone_elses_media(outsider_client, owner):
    job = make_job(owner, score=0.2)
    assert outsider_client.post(reverse("moderation:report", args=[job.media.pk])).status_code == 404
    assert ModerationItem.objects.count() == 0


def test_the_uploader_sees_the_moderation_outcome(owner_client, owner, moderator):
    item = flagged(owner, score=0.95)
    url = reverse("detection:result", args=[item.job.media.pk])
    assert b"Under review" in owner_client.get(url).content
    services.item_review(item_id=item.pk, actor=moderator, action="confirm_fake", note="internal: seen before")
    page = owner_client.get(url).content
    assert b"confirmed as manipulated" in page and b"internal: seen before" not in page
    services.item_review(item_id=item.pk, actor=moderator, action="mark_authentic")
    assert b"marked as authentic" in owner_client.get(url).content


# --- moderator actions and the audit trail ----------------------------------------------------


def test_moderator_actions_write_audit_entries(moderator_client, moderator, owner):
    item = flagged(owner, score=0.95)
    url = reverse("moderation:review", args=[item.pk])
    assert moderator_client.post(url, {"action": "escalate"}).status_code == 302
    assert moderator_client.post(url, {"action": "note", "note": "same uploader as #12"}).status_code == 302
    assert moderator_client.post(url, {"action": "confirm_fake", "note": "blending seam"}).status_code == 302
    item.refresh_from_db()
    assert item.status == "confirmed_fake" and item.reviewed_by == moderator and item.reviewed_at
    entries = list(AuditEntry.objects.filter(item=item).order_by("id").values_list("action", "actor", "before", "after"))
    assert entries == [
        ("flag", None, {}, {"status": "open", "reasons": ["high_score"]}),
        ("escalate", moderator.pk, {"status": "open", "reasons": ["high_score"]},
         {"status": "escalated", "reasons": ["high_score"]}),
        ("note", moderator.pk, {"status": "escalated", "reasons": ["high_score"]},
         {"status": "escalated", "reasons": ["high_score"], "note": "same uploader as #12"}),
        ("confirm_fake", moderator.pk, {"status": "escalated", "reasons": ["high_score"]},
         {"status": "confirmed_fake", "reasons": ["high_score"], "note": "blending seam"}),
    ]
    page = moderator_client.get(url)
    assert page.status_code == 200
    assert b"same uploader as #12" in page.content and b"Confirmed fake" in page.content


def test_an_empty_note_or_unknown_action_is_refused(moderator_client, owner):
    item = flagged(owner, score=0.95)
    url = reverse("moderation:review", args=[item.pk])
    moderator_client.post(url, {"action": "note", "note": "  "})
    moderator_client.post(url, {"action": "delete_everything"})
    assert AuditEntry.objects.filter(item=item).count() == 1


def test_a_bulk_action_updates_each_item_with_its_own_entry(moderator_client, moderator, owner):
    items = [flagged(owner, score=0.91 + k / 100) for k in range(3)]
    untouched = flagged(owner, score=0.99)
    response = moderator_client.post(reverse("moderation:bulk"), {
        "items": [str(i.pk) for i in items], "action": "mark_authentic", "next": "status=all"})
    assert response.status_code == 302 and response["Location"].endswith("?status=all")
    assert set(ModerationItem.objects.filter(status="authentic").values_list("pk", flat=True)) == {i.pk for i in items}
    assert AuditEntry.objects.filter(action="mark_authentic", actor=moderator).count() == 3
    untouched.refresh_from_db()
    assert untouched.status == "open"


def test_notes_are_not_a_bulk_action(moderator_client, owner):
    item = flagged(owner, score=0.95)
    moderator_client.post(reverse("moderation:bulk"), {"items": [item.pk], "action": "note"})
    assert AuditEntry.objects.filter(item=item).count() == 1


def test_audit_entries_cannot_be_changed_or_deleted(owner, moderator):
    item = flagged(owner, score=0.95)
    entry = AuditEntry.objects.get(item=item)
    entry.action = "confirm_fake"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="note")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()


def test_audit_entries_outlive_the_media_and_the_moderator(owner, moderator):
    item = flagged(owner, score=0.95)
    services.item_review(item_id=item.pk, actor=moderator, action="confirm_fake")
    job_id = item.job_id
    item.job.media.delete()
    moderator.delete()
    entries = AuditEntry.objects.filter(job_ref=job_id).order_by("id")
    assert [(e.action, e.item_id, e.actor_id, e.actor_name) for e in entries] == [
        ("flag", None, None, ""), ("confirm_fake", None, None, "mod")]


# --- the queue --------------------------------------------------------------------------------


def test_the_queue_filters_and_sorts(moderator_client, owner, moderator):
    high = flagged(owner, score=0.97, model_version="model-b")
    unsure = flagged(owner, score=0.45)  # under the threshold, inconclusive
    reported_job = make_job(owner, score=0.05)
    reported = services.verdict_report(job=reported_job, user=owner)
    done = flagged(owner, score=0.93)
    services.item_review(item_id=done.pk, actor=moderator, action="confirm_fake")

    def listed(**params):
        page = moderator_client.get(reverse("moderation:queue"), params)
        assert page.status_code == 200
        return [item.pk for item in page.context["page"]]

    assert listed() == [reported.pk, unsure.pk, high.pk]  # pending, newest first
    assert listed(status="all") == [done.pk, reported.pk, unsure.pk, high.pk]
    assert listed(status="confirmed_fake") == [done.pk]
    assert listed(status="all", sort="-score") == [high.pk, done.pk, unsure.pk, reported.pk]
    assert listed(status="all", sort="score") == [reported.pk, unsure.pk, done.pk, high.pk]
    assert listed(status="all", reason="inconclusive") == [unsure.pk]
    assert listed(status="all", reason="reported") == [reported.pk]
    # The verdict the uploader saw, in its one vocabulary ("real": old links, read as authentic).
    assert listed(status="all", verdict="authentic") == listed(status="all", verdict="real") == [reported.pk]
    assert listed(status="all", verdict="fake") == [done.pk, high.pk]
    assert listed(status="all", model_version="model-b") == [high.pk]
    assert listed(status="all", verdict="inconclusive") == [unsure.pk]


# --- permissions ------------------------------------------------------------------------------


def moderation_urls(item) -> list[str]:
    frame = item.job.frames.first()
    return [
        reverse("moderation:queue"),
        reverse("moderation:health"),
        reverse("moderation:review", args=[item.pk]),
        reverse("moderation:media_file", args=[item.job.media.pk]),
        reverse("moderation:frame_file", args=[frame.pk, "heatmap"]),
    ]


def test_an_uploader_gets_403_on_moderation_pages(owner_client, owner):
    item = flagged(owner, score=0.95)  # even for their own flagged media
    for url in moderation_urls(item):
        assert owner_client.get(url).status_code == 403, url
    response = owner_client.post(reverse("moderation:review", args=[item.pk]), {"action": "mark_authentic"})
    assert response.status_code == 403
    response = owner_client.post(reverse("moderation:bulk"), {"items": [item.pk], "action": "mark_authentic"})
    assert response.status_code == 403
    assert AuditEntry.objects.filter(item=item).count() == 1


def test_anonymous_visitors_are_sent_to_log_in(client, owner):
    item = flagged(owner, score=0.95)
    for url in moderation_urls(item):
        response = client.get(url)
        assert response.status_code == 302 and reverse("login") in response["Location"], url


def test_a_moderator_opens_flagged_media_and_heatmaps(moderator_client, owner):
    item = flagged(owner, score=0.95)
    for url in moderation_urls(item):
        response = moderator_client.get(url)
        assert response.status_code == 200, url
    media_response = moderator_client.get(reverse("moderation:media_file", args=[item.job.media.pk]))
    assert b"".join(media_response.streaming_content) == item.job.media.file.open("rb").read()


def test_a_moderator_cannot_open_media_that_is_not_flagged(moderator_client, owner):
    job = make_job(owner, score=0.1)
    frame = job.frames.first()
    assert moderator_client.get(reverse("moderation:media_file", args=[job.media.pk])).status_code == 404
    assert moderator_client.get(reverse("moderation:frame_file", args=[frame.pk, "heatmap"])).status_code == 404
    # and the owner-only pages stay owner-only
    assert moderator_client.get(reverse("detection:result", args=[job.media.pk])).status_code == 404
    assert moderator_client.get(reverse("detection:media_file", args=[job.media.pk])).status_code == 404


def test_the_outsider_never_sees_another_users_media_or_files(outsider_client, owner):
    item = flagged(owner, score=0.95)
    media, frame = item.job.media, item.job.frames.first()
    for url in [reverse("detection:result", args=[media.pk]), reverse("detection:status", args=[media.pk]),
                reverse("detection:media_file", args=[media.pk]),
                reverse("detection:frame_file", args=[frame.pk, "heatmap"])]:
        assert outsider_client.get(url).status_code == 404, url
    for url in moderation_urls(item):
        assert outsider_client.get(url).status_code == 403, url


def test_a_moderator_who_is_not_staff_cannot_reach_admin(moderator_client):
    for url in [reverse("admin:index"), reverse("admin:moderation_auditentry_changelist"),
                reverse("admin:auth_user_changelist")]:
        response = moderator_client.get(url)
        assert response.status_code == 302 and reverse("admin:login") in response["Location"], url


# --- admin ------------------------------------------------------------------------------------


def test_the_audit_log_is_read_only_in_admin(admin_client, owner, moderator):
    item = flagged(owner, score=0.95)
    services.item_review(item_id=item.pk, actor=moderator, action="confirm_fake")
    entry = AuditEntry.objects.filter(item=item).first()
    listing = admin_client.get(reverse("admin:moderation_auditentry_changelist"))
    assert listing.status_code == 200 and b"Confirmed fake" in listing.content
    assert admin_client.get(reverse("admin:moderation_auditentry_add")).status_code == 403
    change_url = reverse("admin:moderation_auditentry_change", args=[entry.pk])
    assert admin_client.get(change_url).status_code == 200  # view only
    assert admin_client.post(change_url, {"action": "note"}).status_code == 403
    assert admin_client.post(reverse("admin:moderation_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk, action=entry.action).exists()


def test_admin_lists_users_with_roles_and_jobs_with_filters(admin_client, moderator, owner):
    users = admin_client.get(reverse("admin:auth_user_changelist"))
    assert users.status_code == 200
    assert b"moderator" in users.content and b"uploader" in users.content
    make_job(owner, score=0.95, model_version="model-z")
    jobs = admin_client.get(reverse("admin:detection_detectionjob_changelist"),
                            {"status__exact": "done", "verdict__exact": "fake", "model_version": "model-z"})
    assert jobs.status_code == 200
    assert jobs.context["cl"].result_count == 1
    assert "verdict" in [f if isinstance(f, str) else f[0] for f in jobs.context["cl"].model_admin.list_filter]


def test_moderators_see_the_moderation_link_and_uploaders_do_not(moderator_client, owner_client):
    assert b'href="/moderation/"' in moderator_client.get(reverse("detection:history")).content
    assert b'href="/moderation/"' not in owner_client.get(reverse("detection:history")).content


# --- bounded queries --------------------------------------------------------------------------


def count_queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, params or {}).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url_name", [
    "moderation:queue",
    "admin:moderation_auditentry_changelist",
    "admin:moderation_moderationitem_changelist",
    "admin:detection_detectionjob_changelist",
    "admin:auth_user_changelist",
])
def test_list_pages_make_the_same_number_of_queries_for_more_rows(url_name, owner, moderator, staff_admin):
    client = Client()
    client.force_login(staff_admin)
    params = {"status": "all"} if url_name == "moderation:queue" else {}

    def add(n):
        for _ in range(n):
            user = make_user(f"u{User.objects.count()}", role="moderator")
            item = flagged(user, score=0.95)
            services.item_review(item_id=item.pk, actor=moderator, action="confirm_fake")

    add(2)
    few = count_queries(client, reverse(url_name), params)
    add(8)
    assert count_queries(client, reverse(url_name), params) == few


def test_the_queue_page_query_count_is_pinned(moderator_client, owner, django_assert_max_num_queries):
    for _ in range(12):
        flagged(owner, score=0.95)
    # session, user, permissions (2), count, page of items, model versions
    with django_assert_max_num_queries(8):
        assert moderator_client.get(reverse("moderation:queue")).status_code == 200
