"""API tokens: made and revoked on the profile page, stored as a hash, required, and rate-limited."""
import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from api.models import ApiToken
from api.services import token_hash
from tests.api_support import (  # noqa: F401
    api_token,
    fresh_throttle_counts,
    owner_api,
    private_files_removed,
    token_client,
)

pytestmark = pytest.mark.django_db
LIST = "/api/v1/analyses/"


def test_it_creates_a_token_on_the_profile_page_and_shows_it_once(owner_client, owner):
    page = owner_client.get(reverse("profile"))
    assert b"API access" in page.content and b"Create token" in page.content
    response = owner_client.post(reverse("api:token_create"), {"name": "my bot"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    raw = re.search(rb'<code id="new-token">(dfp_[\w-]+)</code>', response.content).group(1).decode()
    token = ApiToken.objects.get(user=owner)
    assert token.name == "my bot" and token.key_hash == token_hash(raw)
    assert raw not in str(ApiToken.objects.values().get())  # only the hash is stored
    profile = owner_client.get(reverse("profile")).content.decode()
    assert "my bot" in profile and token.prefix in profile and raw not in profile
    assert token_client(raw).get(LIST).status_code == 200


def test_it_revokes_a_token(owner_client, owner, api_token):
    token = ApiToken.objects.get(user=owner)
    assert token_client(api_token).get(LIST).status_code == 200
    response = owner_client.post(reverse("api:token_revoke", args=[token.pk]))
    assert response.status_code == 302
    reply = token_client(api_token).get(LIST)
    assert reply.status_code == 401 and reply.json()["code"] == "not_authenticated"
    assert token.prefix.encode() not in owner_client.get(reverse("profile")).content


def test_the_outsider_cannot_revoke_the_owners_token(outsider_client, owner, api_token):
    token = ApiToken.objects.get(user=owner)
    assert outsider_client.post(reverse("api:token_revoke", args=[token.pk])).status_code == 404
    assert token_client(api_token).get(LIST).status_code == 200


def test_token_forms_need_a_logged_in_post(owner_client):
    from django.test import Client

    assert Client().post(reverse("api:token_create"), {"name": "x"}).status_code == 302  # to the login page
    assert owner_client.get(reverse("api:token_create")).status_code == 405


def test_it_requires_authentication():
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer dfp_not-a-real-token"}, {"HTTP_AUTHORIZATION": "Bearer"}):
        response = APIClient().get(LIST, **headers)
        assert response.status_code == 401, headers
        assert response.json()["code"] == "not_authenticated"
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_the_browser_session_works_too(owner_client):
    assert owner_client.get(LIST).json()["count"] == 0


def test_it_throttles_per_token(settings, owner, api_token):
    settings.API_THROTTLE_TOKEN = "3/min"
    settings.API_THROTTLE_USER = "100/min"
    client = token_client(api_token)
    assert [client.get(LIST).status_code for _ in range(3)] == [200] * 3
    response = client.get(LIST)
    assert response.status_code == 429 and response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    # Another token of the same user has its own count.
    from api.services import token_create

    assert token_client(token_create(user=owner, name="second").raw).get(LIST).status_code == 200


def test_it_throttles_per_user_across_tokens_and_session(settings, owner, owner_client, api_token):
    settings.API_THROTTLE_TOKEN = "100/min"
    settings.API_THROTTLE_USER = "2/min"
    assert token_client(api_token).get(LIST).status_code == 200
    assert owner_client.get(LIST).status_code == 200
    response = owner_client.get(LIST)
    assert response.status_code == 429 and response.json()["code"] == "throttled"
