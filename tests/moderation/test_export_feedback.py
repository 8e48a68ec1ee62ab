"""export_feedback writes reviewed media with the moderators' labels in the layout ml.training.prepare reads."""
import csv

import pytest
from django.core.management import call_command

from ml.training.prepare import read_labels
from moderation import services
from moderation.feedback import FOLDER

from tests.moderation_support import make_job, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_private_root(settings, tmp_path):
    """Files of this module's jobs go to a folder of each test's own (others check the shared root is empty)."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


def test_it_exports_reviewed_media_with_moderator_labels(tmp_path, settings):
    settings.MODERATION_SCORE_THRESHOLD = 0.9
    owner, moderator = make_user("alice"), make_user("mod", role="moderator")
    fake = make_job(owner, score=0.97)
    authentic = make_job(owner, score=0.96, kind="image")
    pending = make_job(owner, score=0.99)
    escalated = make_job(owner, score=0.98)
    make_job(owner, score=0.1)  # never flagged
    for job, action in [(fake, "confirm_fake"), (authentic, "mark_authentic"), (escalated, "escalate")]:
        services.item_review(item_id=services.flag_if_needed(job_id=job.pk).pk, actor=moderator, action=action)
    services.flag_if_needed(job_id=pending.pk)

    out = tmp_path / "feedback" / "train"
    call_command("export_feedback", str(out))

    with open(out / "labels.csv", newline="") as fh:
        assert fh.readline().strip() == "path,label,kind,method"
    rows = list(csv.DictReader(open(out / "labels.csv", newline="")))
    expected_paths = [f"{FOLDER}/{m.pk}-{m.sha256[:12]}.{m.format}" for m in (fake.media, authentic.media)]
    assert [r["path"] for r in rows] == expected_paths
    assert [(r["label"], r["kind"]) for r in rows] == [("fake", "video"), ("real", "image")]
    assert all(r["method"] for r in rows)
    for row, media in zip(rows, (fake.media, authentic.media)):
        assert (out / row["path"]).read_bytes() == media.file.open("rb").read()
    assert sorted(p.name for p in (out / FOLDER).iterdir()) == sorted(p.rsplit("/", 1)[1] for p in expected_paths)
    # ml.training.prepare reads it as a split of its own (DEEPFAKE_DATA=<tmp>/feedback, --split train)
    assert [r["source"] for r in read_labels(out)] == [FOLDER, FOLDER]

    # Running it again after another review rewrites labels.csv and adds the new file.
    services.item_review(item_id=pending.moderation.pk, actor=moderator, action="confirm_fake")
    call_command("export_feedback", str(out))
    assert len(list(csv.DictReader(open(out / "labels.csv", newline="")))) == 3
    assert len(list((out / FOLDER).iterdir())) == 3
