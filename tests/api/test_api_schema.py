"""The OpenAPI schema is valid, its docs need no CDN, and the live API keeps to it (property-based, bounded)."""
import re

import pytest
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_support import api_token, fresh_throttle_counts, private_files_removed  # noqa: F401

pytestmark = pytest.mark.django_db


def test_the_schema_is_valid_openapi_3_and_covers_the_endpoints():
    from drf_spectacular.validation import validate_schema

    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)  # against the OpenAPI 3 JSON schema; raises if invalid
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert set(paths["/api/v1/analyses/"]) == {"get", "post"}
    assert set(paths["/api/v1/analyses/{id}/"]) == {"get", "delete"}
    assert "get" in paths["/api/v1/analyses/{id}/report/"]
    assert "apiToken" in schema["components"]["securitySchemes"]
    assert "/api/tokens/" not in paths  # the profile page's forms are not API


def test_the_docs_are_served_without_a_cdn():
    client = Client()
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in page
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert not [a for a in assets if a.startswith("http")], assets
    bundle = next(a for a in assets if a.endswith("swagger-ui-bundle.js"))
    assert bundle.startswith("/static/drf_spectacular_sidecar/")
    assert client.get(bundle).status_code == 200


def test_the_live_api_conforms_to_its_schema(live_server, api_token, settings):
    settings.API_THROTTLE_USER = settings.API_THROTTLE_TOKEN = "10000/min"
    settings.UPLOADS_PER_HOUR = 10000
    schema = schemathesis.from_uri(f"{live_server.url}/api/schema/?format=json", base_url=live_server.url)
    headers = {"Authorization": f"Bearer {api_token}"}
    checks = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=6, deadline=None, derandomize=True, database=None,
                             phases=[Phase.explicit, Phase.generate],
                             suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call(headers=headers, timeout=60)
            case.validate_response(response, checks=checks)

        check()
        tested.append(f"{operation.method.upper()} {operation.path}")
    assert set(tested) >= {"GET /api/v1/analyses/", "POST /api/v1/analyses/", "GET /api/v1/analyses/{id}/",
                           "DELETE /api/v1/analyses/{id}/", "GET /api/v1/analyses/{id}/report/"}
