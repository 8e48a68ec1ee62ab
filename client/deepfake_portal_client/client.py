"""PortalClient: upload, poll, fetch reports and delete through /api/v1/ with an API token."""
from __future__ import annotations

import json
import mimetypes
import os
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request


class PortalError(Exception):
    """An API error: ``status`` is the HTTP status, ``code`` the portal's stable error code."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{code}: {message} (HTTP {status})")
        self.status = status
        self.code = code
        self.message = message


class PortalClient:
    def __init__(self, base_url: str, token: str, *, timeout: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    # --- the API ---

    def analyze(self, path: str, *, callback_url: str | None = None, wait: bool = False,
                poll_interval: float = 2.0, wait_timeout: float = 900.0) -> dict:
        fields = {"callback_url": callback_url} if callback_url else {}
        with open(path, "rb") as fh:
            body, content_type = _multipart(fields, "file", os.path.basename(path), fh.read())
        analysis = self._request("POST", "/api/v1/analyses/", body=body, content_type=content_type)
        return self.wait(analysis["id"], poll_interval=poll_interval, timeout=wait_timeout) if wait else analysis

    def status(self, analysis_id: int) -> dict:
        return self._request("GET", f"/api/v1/analyses/{int(analysis_id)}/")

    def report(self, analysis_id: int) -> dict:
        return self._request("GET", f"/api/v1/analyses/{int(analysis_id)}/report/")

    def list(self, *, status: str | None = None, verdict: str | None = None, page: int = 1) -> dict:
        """``verdict``: fake | authentic | inconclusive."""
        query = {k: v for k, v in {"status": status, "verdict": verdict, "page": page}.items() if v}
        return self._request("GET", "/api/v1/analyses/?" + urllib.parse.urlencode(query))

    def delete(self, analysis_id: int) -> None:
        self._request("DELETE", f"/api/v1/analyses/{int(analysis_id)}/")

    def wait(self, analysis_id: int, *, poll_interval: float = 2.0, timeout: float = 900.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            analysis = self.status(analysis_id)
            if analysis["final"]:
                return analysis
            if time.monotonic() > deadline:
                raise TimeoutError(f"analysis {analysis_id} is still {analysis['status']} after {timeout:.0f} s")
            time.sleep(poll_interval)

    # --- HTTP ---

    def _request(self, method: str, path: str, *, body: bytes | None = None, content_type: str | None = None):
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.base_url + path, data=body, headers=headers, method=method)
        for attempt in range(5):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read()
                    return json.loads(raw) if raw else None
            except urllib.error.HTTPError as exc:
                error = _error_of(exc)
                if exc.code == 429 and error.code == "throttled" and attempt < 4:
                    time.sleep(min(60.0, float(exc.headers.get("Retry-After") or 1)))
                    continue
                raise error from None
        raise AssertionError("unreachable")


def _error_of(exc: urllib.error.HTTPError) -> PortalError:
    try:
        problem = json.loads(exc.read())  # RFC 9457: {"type", "title", "status", "detail", "code"}
        return PortalError(exc.code, problem["code"], problem["detail"])
    except (ValueError, KeyError, TypeError):
        return PortalError(exc.code, "http_error", exc.reason or "HTTP error")


# Audio names the standard library's table may not know (the portal decides the type from the content anyway).
AUDIO_TYPES = {".mp3": "audio/mpeg", ".wav": "audio/wav", ".m4a": "audio/mp4", ".aac": "audio/aac",
               ".ogg": "audio/ogg", ".opus": "audio/ogg", ".oga": "audio/ogg", ".flac": "audio/flac"}


def content_type_for(filename: str) -> str:
    """The Content-Type sent with a file: audio names first, then the standard library's guess."""
    ext = os.path.splitext(filename)[1].lower()
    return AUDIO_TYPES.get(ext) or mimetypes.guess_type(filename)[0] or "application/octet-stream"


def evidence_summary(analysis: dict) -> dict:
    """The verdict and what drove it, with the voice and lip-sync readings, from an analysis or report."""
    voice, sync = analysis.get("voice") or {}, analysis.get("sync") or {}
    driver = analysis.get("verdict_driver") or {}
    return {"verdict": analysis.get("verdict"), "driven_by": driver.get("words"),
            "voice_status": voice.get("status"), "voice_score": voice.get("score"),
            "synthetic_voice": voice.get("synthetic"), "sync_status": sync.get("status"),
            "sync_score": sync.get("score"), "sync_offset_seconds": sync.get("offset_seconds")}


def _multipart(fields: dict, file_field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = "----portal" + secrets.token_hex(12)
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    safe_name = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
    file_type = content_type_for(filename)
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{safe_name}"\r\n'
        f"Content-Type: {file_type}\r\n\r\n".encode() + content + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
