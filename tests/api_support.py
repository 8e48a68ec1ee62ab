"""Fixtures and helpers for the API tests: tokens, a token client, and a local webhook receiver."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from api import services


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    # Throttle counts live in the cache, which outlives a test.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def private_files_removed(private_media_root):
    # Uploads and heatmaps outlive a test's rows; other tests expect private storage to start empty.
    before = {p for p in private_media_root.rglob("*") if p.is_file()}
    yield
    for path in private_media_root.rglob("*"):
        if path.is_file() and path not in before:
            path.unlink(missing_ok=True)


@pytest.fixture
def api_token(owner):
    return services.token_create(user=owner, name="test").raw


def token_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def owner_api(api_token):
    return token_client(api_token)


@pytest.fixture
def outsider_api(outsider):
    return token_client(services.token_create(user=outsider, name="other").raw)


class WebhookReceiver:
    """An http.server on 127.0.0.1 recording every POST; answers with ``statuses`` in turn, then 200."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.received = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if status == 200:
                    receiver.received.set()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def signature_is_valid(secret: str, request: dict) -> bool:
    """What an integrator does: recompute the HMAC of the raw body and compare in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), request["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request["headers"].get("X-Portal-Signature", ""))


def payload(request: dict) -> dict:
    return json.loads(request["body"])
