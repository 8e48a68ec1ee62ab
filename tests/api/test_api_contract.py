"""The API keeps its word (issue 32): every /api/ error, whoever answers it, is an RFC 9457 problem document;
parameters the schema forbids are refused; every 429 says when to come back."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from tests.api_support import api_token, fresh_throttle_counts, owner_api, private_files_removed  # noqa: F401

pytestmark = pytest.mark.django_db
LIST = "/api/v1/analyses/"


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    body = response.json()
    assert body["type"] == f"urn:deepfake-portal:problem:{code}" and body["code"] == code
    assert body["status"] == status and body["title"] and body["detail"]
    return body


@pytest.mark.parametrize("path", ["/api/v1/analyses/abc/", "/api/v1/analyses/abc/report/", "/api/v1/nothing/",
                                  "/api/v1/analyses/1.5/", "/api/"])
def test_a_path_the_api_does_not_have_is_a_json_404(owner_api, path):
    problem(owner_api.get(path), 404, "not_found")
    problem(APIClient().get(path), 404, "not_found")  # before any authentication too


def test_an_empty_multipart_post_is_a_json_400(owner_api):
    for body, content_type in ((b"", "multipart/form-data; boundary=xyz"), (b"--xyz--\r\n", "multipart/form-data; boundary=xyz"),
                               (b"", "multipart/form-data"), (b"", "application/x-www-form-urlencoded")):
        body_ = problem(owner_api.generic("POST", LIST, body, content_type=content_type), 400, "invalid")
        assert "file" in body_.get("errors", {}) or "multipart" in body_["detail"].lower(), body_


def test_a_method_the_api_does_not_have_is_a_json_405(owner_api):
    response = owner_api.put(LIST, {})
    problem(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


@pytest.mark.parametrize("query", ["status=", "verdict=", "page=", "page_size=", "status=bogus", "verdict=real",
                                   "page=0", "page=x", "page_size=101", "page_size=0", "stauts=done", "label=fake"])
def test_list_parameters_the_schema_forbids_are_refused(owner_api, query):
    body = problem(owner_api.get(f"{LIST}?{query}"), 400, "invalid")
    assert query.split("=")[0] in body["errors"]


def test_an_empty_callback_url_is_refused(owner_api):
    response = owner_api.post(LIST, {"file": SimpleUploadedFile("a.mp4", b"x" * 64), "callback_url": ""},
                              format="multipart")
    assert "callback_url" in problem(response, 400, "invalid")["errors"]


def test_unauthenticated_and_throttled_answers_are_problems_with_retry_after(settings, owner_api):
    problem(APIClient().get(LIST), 401, "not_authenticated")
    settings.API_THROTTLE_TOKEN = "2/min"
    assert [owner_api.get(LIST).status_code for _ in range(2)] == [200, 200]
    response = owner_api.get(LIST)
    problem(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60


def test_the_hourly_upload_limit_says_when_to_retry(settings, owner_api, owner):
    from tests.detection.test_results import make_analysis

    settings.UPLOADS_PER_HOUR = 1
    make_analysis(owner)
    response = owner_api.post(LIST, {"file": SimpleUploadedFile("a.mp4", b"x" * 64)}, format="multipart")
    problem(response, 429, "rate_limited")
    assert 3500 <= int(response["Retry-After"]) <= 3600


def test_the_schema_documents_problem_documents_and_strict_parameters():
    schema = Client().get("/api/schema/", {"format": "json"}).json()
    listing = schema["paths"]["/api/v1/analyses/"]["get"]
    assert set(listing["responses"]["404"]["content"]) == {"application/problem+json"}
    params = {p["name"]: p for p in listing["parameters"]}
    assert params["page_size"]["schema"]["maximum"] == 100 and params["page"]["schema"]["minimum"] == 1
    assert params["verdict"]["schema"]["enum"] == ["fake", "inconclusive", "authentic"] or "$ref" in str(params)
    assert "label" not in params
    analysis = schema["components"]["schemas"]["Analysis"]["properties"]
    assert {"verdict", "verdict_words", "confidence", "reason", "clip_parts"} <= set(analysis)
    assert "label" not in analysis
