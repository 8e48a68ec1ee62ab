"""The model registry on the real stack (MariaDB, Redis, a real Celery worker): serving follows the registry
without a restart, the gate refuses a worse model with its numbers and lets a better one through, rollback is
one step, a broken model file fails the job with a clear code, and shadow scores stay with the moderators.

Two real models make the comparisons honest: the shipped detector, and the same detector with its heads'
signs flipped (every score turned upside down), which must lose on any gate set the shipped one is good on.
"""
from __future__ import annotations

import csv
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from detection import intake
from detection.models import DetectionJob
from detection.storage import private_storage
from registry import versions
from registry.models import ModelEvent, ModelVersion, ShadowScore

from tests.api_support import api_token  # noqa: F401 (a fixture)
from tests.conftest import browser_log_in, require, shared_data_dir, wait_for_job

SHIPPED = Path(settings.DETECTOR_CHECKPOINT)
# Dev images the shipped model separates (ROC AUC 0.94 on these eight), for the gate set; never trained on.
GATE_IMAGES = [("chmoe_Real_Fake_Face/result/fake/131.jpg", "fake"), ("chmoe_Real_Fake_Face/result/fake/134.jpg", "fake"),
               ("chmoe_Real_Fake_Face/result/fake/152.jpg", "fake"), ("chmoe_Real_Fake_Face/result/fake/155.jpg", "fake"),
               ("chmoe_Real_Fake_Face/result/real/1.jpg", "real"), ("chmoe_Real_Fake_Face/result/real/1001.jpg", "real"),
               ("chmoe_Real_Fake_Face/result/real/1011.jpg", "real"), ("chmoe_Real_Fake_Face/result/real/1024.jpg", "real")]
# Images uploaded as jobs (other files than the gate's).
UPLOADS = ["tharunnayak14_HardFakeVsReal/images/fake/fake_1.jpg", "tharunnayak14_HardFakeVsReal/images/real/real_100.jpg",
           "tharunnayak14_HardFakeVsReal/images/fake/fake_102.jpg", "tharunnayak14_HardFakeVsReal/images/real/real_102.jpg",
           "tharunnayak14_HardFakeVsReal/images/fake/fake_108.jpg", "tharunnayak14_HardFakeVsReal/images/real/real_116.jpg"]


def checkpoint_variant(out: Path, *, version: str, flip: bool = False) -> Path:
    """The shipped checkpoint under another version name; ``flip`` negates the frame and clip heads."""
    import torch

    checkpoint = torch.load(SHIPPED, map_location="cpu", weights_only=True)
    checkpoint["card"] = {**checkpoint["card"], "version": version}
    if flip:
        for key, value in checkpoint["state_dict"].items():
            if key.startswith(("frame_head.", "clip_head.")):
                checkpoint["state_dict"][key] = -value
    torch.save(checkpoint, out)
    return out


@pytest.fixture(scope="session")
def flipped(tmp_path_factory) -> Path:
    return checkpoint_variant(tmp_path_factory.mktemp("models") / "flipped.pt", version="flipped-heads", flip=True)


@pytest.fixture
def gate_set(tmp_path, settings) -> Path:
    data = shared_data_dir() / "dev"
    require(all((data / p).is_file() for p, _ in GATE_IMAGES), f"dev images for the gate set missing under {data}")
    path = tmp_path / "gate.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "kind", "group", "source"])
        for rel, label in GATE_IMAGES:
            writer.writerow([str(data / rel), label, "image", rel, f"gate:{rel}"])
    settings.REGISTRY_GATE_ITEMS = str(path)
    return path


def analyse(owner, worker, rel: str) -> DetectionJob:
    path = shared_data_dir() / "dev" / rel
    require(path.is_file(), f"{path} missing")
    media = intake.media_upload(owner=owner, uploaded=SimpleUploadedFile(path.name, path.read_bytes())).media
    return wait_for_job(media.job.pk, worker, timeout=300)


def test_serving_follows_the_registry_gate_promote_refuse_rollback(transactional_db, celery_worker, owner, settings,
                                                                    gate_set, flipped):
    # The registry starts with the flipped model serving (the worker's own DETECTOR_CHECKPOINT is the shipped one).
    settings.DETECTOR_CHECKPOINT = str(flipped)
    call_command("models", "init")
    assert versions.serving_version().version == "flipped-heads"
    first = analyse(owner, celery_worker, UPLOADS[0])
    assert first.status == "done" and first.model_version == "flipped-heads"

    shipped = versions.register(SHIPPED)
    call_command("models", "gate", shipped.version)
    shipped.refresh_from_db()
    gate = shipped.gate
    assert gate["passed"] and gate["items"] == 8
    assert gate["candidate"]["auc"] > gate["serving"]["auc"] + settings.REGISTRY_GATE_MARGIN
    for key in ("auc", "auc_ci", "accuracy", "precision", "recall", "f1", "ece"):
        assert key in gate["candidate"] and key in gate["serving"]
    call_command("models", "promote", shipped.version)

    pid = celery_worker.process.pid
    second = analyse(owner, celery_worker, UPLOADS[1])  # the same worker process, no restart
    assert celery_worker.process.pid == pid and celery_worker.alive()
    assert second.status == "done" and second.model_version == shipped.version

    # The flipped model as a candidate against the shipped one: refused, with the numbers.
    old = ModelVersion.objects.get(version="flipped-heads")
    assert old.status == "retired"
    call_command("models", "gate", old.version)
    with pytest.raises(CommandError) as refused:
        call_command("models", "promote", old.version)
    old.refresh_from_db()
    assert "Promotion refused" in str(refused.value) and f"{old.gate['candidate']['auc']:.2f}" in str(refused.value)
    assert versions.serving_version().version == shipped.version
    refusal = ModelEvent.objects.filter(action="refuse", version=old).get()
    assert refusal.detail["reasons"] and refusal.detail["candidate"]["auc"] < refusal.detail["serving"]["auc"]

    call_command("models", "rollback")
    assert versions.serving_version().version == "flipped-heads"
    third = analyse(owner, celery_worker, UPLOADS[2])
    assert third.status == "done" and third.model_version == "flipped-heads"
    actions = list(ModelEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["register", "promote", "register", "gate", "promote", "gate", "refuse", "rollback"]


@pytest.mark.parametrize("damage", ["altered", "missing"])
def test_a_broken_model_file_fails_the_job_with_a_clear_code_and_the_worker_keeps_going(
        transactional_db, celery_worker, owner, settings, tmp_path, damage):
    call_command("models", "init")
    good = versions.serving_version()
    before = analyse(owner, celery_worker, UPLOADS[3])
    assert before.status == "done" and before.model_version == good.version

    broken = versions.register(checkpoint_variant(tmp_path / "copy.pt", version=f"copy-{uuid.uuid4().hex[:8]}"))
    if damage == "altered":  # changed in storage after it was registered
        private_storage.save_file(broken.file, str(SHIPPED.parent / "MODEL_CARD.md"))
    else:
        private_storage.delete(broken.file)
    ModelVersion.objects.filter(pk=good.pk).update(status="retired")
    ModelVersion.objects.filter(pk=broken.pk).update(status="serving")
    failed = analyse(owner, celery_worker, UPLOADS[4])
    assert failed.status == "failed" and failed.error_code == "model_unavailable"
    assert "could not be loaded" in failed.error_message
    assert celery_worker.alive()

    ModelVersion.objects.filter(pk=broken.pk).update(status="retired")
    ModelVersion.objects.filter(pk=good.pk).update(status="serving")
    after = analyse(owner, celery_worker, UPLOADS[5])
    assert after.status == "done" and after.model_version == good.version


def test_a_candidate_without_a_gate_run_is_refused(db, settings, flipped, tmp_path):
    settings.DETECTOR_CHECKPOINT = str(SHIPPED)
    versions.ensure_embedded()
    candidate = versions.register(flipped)
    with pytest.raises(versions.PromotionRefused, match="No gate run"):
        versions.promote(candidate, actor=None)
    assert ModelEvent.objects.filter(action="refuse", version=candidate).exists()
    with pytest.raises(versions.RegistryError, match="already registered with another file"):
        versions.register(checkpoint_variant(tmp_path / "other.pt", version="flipped-heads"))


def _shadow_scores(jobs: list[DetectionJob], worker, timeout: float = 240.0) -> list[ShadowScore]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        rows = list(ShadowScore.objects.filter(job__in=jobs).select_related("version"))
        if len(rows) == len(jobs):
            return rows
        assert worker.alive(), worker.log_tail()
        assert time.monotonic() < deadline, f"{len(rows)} of {len(jobs)} shadow scores after {timeout:.0f} s:\n{worker.log_tail()}"
        time.sleep(0.5)


@pytest.mark.browser
def test_shadow_scores_are_stored_for_new_jobs_and_shown_only_to_moderators(live_server, browser, celery_worker, owner,
                                                                             flipped, api_token):
    from django.contrib.auth.models import Permission
    from django.urls import reverse
    from django.utils import timezone

    from moderation.models import ModerationItem

    from tests.api_support import token_client
    from tests.moderation_support import make_user
    from tests.portal.test_browser_pages import DESKTOP, PHONE, _fits, _screenshot

    call_command("models", "init")
    serving = versions.serving_version()
    shadow = versions.set_shadow(versions.register(flipped), actor=None)
    jobs = [analyse(owner, celery_worker, rel) for rel in UPLOADS[:4]]
    assert all(job.status == "done" and job.model_version == serving.version for job in jobs)
    scores = {row.job_id: row for row in _shadow_scores(jobs, celery_worker)}
    for job in jobs:  # the flipped heads turn each score upside down: stored beside the serving score
        row = scores[job.pk]
        assert row.version == shadow and row.score is not None and row.error_code == ""
        assert (row.score - 0.5) * (job.score - 0.5) <= 0.05, (row.score, job.score)
    # Moderators reviewed two of them since: the page compares both models with their labels.
    for job, label in zip(jobs[:2], ("confirmed_fake", "authentic")):
        ModerationItem.objects.update_or_create(job=job, defaults={"status": label, "reviewed_at": timezone.now(),
                                                                   "high_score": True})

    # The uploader: neither the result page nor the API says anything of the shadow model.
    context, page = browser_log_in(browser, live_server.url, owner.username, reverse("detection:result", args=[jobs[0].media_id]),
                            DESKTOP)
    page.wait_for_selector("#verdict", state="attached")
    html = page.content()
    assert shadow.version not in html and "shadow" not in html.lower()
    context.close()
    body = token_client(api_token).get(reverse("api:analysis_detail", args=[jobs[0].media_id])).content.decode()
    assert shadow.version not in body and "shadow" not in body.lower()

    # A moderator: the health page shows serving and shadow, and a dot per job scored by both.
    moderator = make_user("mod")
    moderator.user_permissions.add(Permission.objects.get(codename="review_media", content_type__app_label="detection"))
    context, page = browser_log_in(browser, live_server.url, "mod", reverse("moderation:health"), DESKTOP)
    assert serving.version in page.locator("#serving-model").inner_text()
    assert shadow.version in page.locator("#shadow-model").inner_text()
    assert page.locator("#shadow-chart svg circle").count() == len(jobs)
    summary = page.locator("#shadow-summary").inner_text()
    assert f"{len(jobs)} jobs scored by both" in summary and "On 2 items moderators have reviewed" in summary
    assert page.locator("#shadow-accuracy-chart rect.bar").count() == 2
    _screenshot(page, "health-shadow-desktop.png")
    page.set_viewport_size(PHONE)
    page.reload()
    _fits(page, PHONE["width"])
    _screenshot(page, "health-shadow-phone.png")
    context.close()


# --- retraining on the moderators' reviews ----------------------------------------------------------------

REVIEWED = [("tharunnayak14_HardFakeVsReal/images/fake/fake_100.jpg", "fake"),
            ("tharunnayak14_HardFakeVsReal/images/fake/fake_104.jpg", "fake"),
            ("tharunnayak14_HardFakeVsReal/images/fake/fake_106.jpg", "fake"),
            ("tharunnayak14_HardFakeVsReal/images/fake/fake_11.jpg", "fake"),
            ("tharunnayak14_HardFakeVsReal/images/real/real_1.jpg", "real"),
            ("tharunnayak14_HardFakeVsReal/images/real/real_10.jpg", "real"),
            ("tharunnayak14_HardFakeVsReal/images/real/real_104.jpg", "real"),
            ("tharunnayak14_HardFakeVsReal/images/real/real_108.jpg", "real")]


def reviewed_media(owner) -> list:
    """Training images as uploads a moderator has reviewed (rows made directly: no analysis is needed)."""
    import hashlib
    import secrets

    from django.utils import timezone

    from detection.models import Media
    from moderation.models import ModerationItem

    rows = []
    for rel, label in REVIEWED:
        path = shared_data_dir() / "train" / rel
        require(path.is_file(), f"{path} missing")
        name = f"uploads/{secrets.token_hex(16)}.jpg"
        private_storage.save_file(name, str(path))
        media = Media.objects.create(owner=owner, original_name=path.name, sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                                     kind="image", format="jpg", file=name, size=path.stat().st_size, width=256, height=256)
        job = DetectionJob.objects.create(media=media, status="done", score=0.5, threshold=0.5, verdict="inconclusive",
                                          model_version="shipped", progress=100)
        ModerationItem.objects.create(job=job, high_score=True, reviewed_at=timezone.now(),
                                      status="confirmed_fake" if label == "fake" else "authentic")
        rows.append(media)
    return rows


def _check_candidate(candidate: ModelVersion, media: list, parent: ModelVersion) -> None:
    from registry import gate

    assert candidate.status == "candidate" and candidate.source == "retrained"
    card = candidate.card
    assert card["parent_version"] == parent.version
    expected = {f"review:{m.pk}" for m in media if not gate.held_out(m.sha256)}
    assert expected, "every item went to the gate: pick other images"
    trained = {item["source"] for item in card["trained_on"]["items"]}
    skipped = {item["source"] for item in card.get("skipped", [])}
    assert trained | skipped == expected and not trained & skipped
    assert card["trained_on"]["reviewed"] == len(trained) and card["trained_on"]["base"] == 0
    assert all(item["sha256"] in {m.sha256 for m in media} for item in card["trained_on"]["items"])


def test_retrain_registers_a_candidate_whose_card_lists_what_it_was_trained_on(db, owner, settings, tmp_path):
    settings.REGISTRY_WORK_DIR = str(tmp_path / "work")
    settings.REGISTRY_MODEL_CACHE = str(tmp_path / "models")
    call_command("models", "init")
    parent = versions.serving_version()
    media = reviewed_media(owner)
    call_command("retrain", "--minutes", "3")
    from registry.models import RetrainRun

    run = RetrainRun.objects.get()
    assert run.status == "done" and run.progress == 100 and run.candidate is not None, run.message
    _check_candidate(run.candidate, media, parent)
    assert ModelEvent.objects.filter(action="register", version=run.candidate).exists()

    # The candidate is a working detector.
    from ml.inference import Predictor

    from registry import serving

    predictor = Predictor.load(serving.local_file(run.candidate), backend="torch")
    assert predictor.model_version == run.candidate.version
    result = predictor.predict(str(shared_data_dir() / "dev" / UPLOADS[0]))
    assert result.status == "ok" and 0.0 <= result.score <= 1.0


def test_an_admin_starts_a_retraining_that_a_worker_runs(transactional_db, celery_worker, owner, admin_client):
    import time

    from django.urls import reverse

    from registry.models import RetrainRun

    call_command("models", "init")
    parent = versions.serving_version()
    media = reviewed_media(owner)
    response = admin_client.post(reverse("admin:registry_retrainrun_add"), {"minutes": "3"})
    assert response.status_code == 302
    run = RetrainRun.objects.get()
    assert ModelEvent.objects.filter(action="retrain", detail__run=run.pk).exists()
    deadline = time.monotonic() + 420
    while run.status not in ("done", "failed"):
        assert celery_worker.alive() and time.monotonic() < deadline, celery_worker.log_tail()
        time.sleep(1)
        run.refresh_from_db()
    assert run.status == "done", run.message
    _check_candidate(run.candidate, media, parent)
    listing = admin_client.get(reverse("admin:registry_retrainrun_changelist")).content.decode()
    assert "done" in listing


def test_admins_shadow_promote_and_roll_back_from_admin_each_audited(db, admin_client, admin_user, flipped, tmp_path):
    from django.urls import reverse

    versions.ensure_embedded()
    first = versions.serving_version()
    candidate = versions.register(flipped)
    changelist = reverse("admin:registry_modelversion_changelist")
    admin_client.post(changelist, {"action": "put_in_shadow", "_selected_action": [candidate.pk]})
    candidate.refresh_from_db()
    assert candidate.status == "shadow"
    # Promotion without a passed gate is refused in admin too, and says why.
    page = admin_client.post(changelist, {"action": "promote", "_selected_action": [candidate.pk]}, follow=True)
    assert "No gate run" in page.content.decode()
    assert versions.serving_version() == first
    # A gate that passed against today's serving model lets it through; rollback returns in one step.
    ModelVersion.objects.filter(pk=candidate.pk).update(
        gate={"passed": True, "serving_sha256": first.sha256, "serving_version": first.version, "reasons": []})
    admin_client.post(changelist, {"action": "promote", "_selected_action": [candidate.pk]})
    assert versions.serving_version() == candidate
    admin_client.post(changelist, {"action": "rollback", "_selected_action": [candidate.pk]})
    assert versions.serving_version() == first
    events = ModelEvent.objects.filter(actor=admin_user).order_by("pk").values_list("action", flat=True)
    assert list(events) == ["shadow", "refuse", "promote", "rollback"]
    assert admin_client.get(reverse("admin:registry_modelevent_changelist")).status_code == 200
