"""Admin shows a model card as a table, not a wall of JSON (issue 32): the registry's versions and a job's card."""
import pytest
from django.urls import reverse

from detection.card_table import card_rows
from registry.models import ModelVersion

from tests.detection.test_results import make_analysis

pytestmark = pytest.mark.django_db

CARD = {"version": "clip-v4-test", "threshold": 0.37, "clip_rule": "mean_frames",
        "metrics": {"dev": {"auc": 0.8123, "auc_ci95": [0.71, 0.9]}, "test": {"auc": 0.95}},
        "training_data": {"pool": 112, "photos": "UTKFace <script>alert(1)</script>"}}


def test_a_card_flattens_into_named_rows():
    rows = dict(card_rows(CARD))
    assert rows["metrics › dev › auc"] == "0.8123" and rows["metrics › dev › auc ci95"] == "0.71, 0.9"
    assert rows["clip rule"] == "mean_frames" and rows["threshold"] == "0.37"


def test_the_registry_admin_shows_the_card_as_a_table(admin_client):
    version = ModelVersion.objects.create(version="clip-v4-test", card=CARD, sha256="0" * 64, file="models/x.pt")
    page = admin_client.get(reverse("admin:registry_modelversion_change", args=[version.pk])).content.decode()
    table = page.split('<table class="model-card"')[1].split("</table>")[0]
    assert '<th scope="row">metrics › dev › auc</th><td>0.8123</td>' in table
    assert '<th scope="row">training data › photos</th><td>UTKFace &lt;script&gt;' in table  # escaped
    assert '{"version"' not in page and "&quot;metrics&quot;" not in page  # no JSON dump


def test_a_jobs_card_in_admin_is_a_table_too(admin_client, owner):
    media = make_analysis(owner, model_card=CARD)
    page = admin_client.get(reverse("admin:detection_media_change", args=[media.pk])).content.decode()
    assert '<table class="model-card"' in page and '<th scope="row">clip rule</th><td>mean_frames</td>' in page
    job_page = admin_client.get(reverse("admin:detection_detectionjob_change", args=[media.job.pk]))
    assert job_page.status_code == 200 and b"h0.jpg" in job_page.content  # private files by name, no URL
