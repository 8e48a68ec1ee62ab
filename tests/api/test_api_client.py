"""The Python client's command, run as a subprocess against the live server and a real worker."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api import services
from tests.api_support import fresh_throttle_counts, private_files_removed  # noqa: F401
from tests.conftest import REPO


def portal_command() -> list[str]:
    """The installed console script (make setup installs ./client), else the package run from the repo."""
    script = Path(sys.executable).parent / "deepfake-portal"
    return [str(script)] if script.exists() else [sys.executable, "-m", "deepfake_portal_client"]


def run(*args: str, token: str | None, base_url: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "client"), "DEEPFAKE_PORTAL_URL": base_url}
    env.pop("DEEPFAKE_PORTAL_TOKEN", None)
    if token:
        env["DEEPFAKE_PORTAL_TOKEN"] = token
    return subprocess.run([*portal_command(), *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.worker
def test_the_command_analyzes_waits_and_fetches_status_and_report(
    live_server, celery_worker, owner, clips, tmp_path
):
    token = services.token_create(user=owner, name="cli").raw
    base = live_server.url

    done = run("analyze", str(clips["face"]), "--wait", "--poll", "0.5", "--timeout", "240", token=token, base_url=base)
    assert done.returncode == 0, (done.stderr, celery_worker.log_tail())
    analysis = json.loads(done.stdout)
    assert analysis["status"] == "done" and analysis["verdict"] in ("fake", "authentic", "inconclusive") and analysis["frames"]

    status = run("status", str(analysis["id"]), token=token, base_url=base)
    assert status.returncode == 0 and json.loads(status.stdout)["score"] == analysis["score"]

    report_path = tmp_path / "report.json"
    report = run("--base-url", base, "report", str(analysis["id"]), "-o", str(report_path), token=token,
                 base_url="http://127.0.0.1:9")  # the flag wins over the environment
    assert report.returncode == 0, report.stderr
    body = json.loads(report_path.read_text())
    assert body["id"] == analysis["id"] and body["timings"] and body["model_version"] == analysis["model_version"]

    # Errors come back with the portal's code and a non-zero exit.
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n" * 40)
    bad = run("analyze", str(notes), token=token, base_url=base)
    assert bad.returncode == 1 and "unsupported_type" in bad.stderr
    missing = run("status", "999999", token=token, base_url=base)
    assert missing.returncode == 1 and "not_found" in missing.stderr
    assert run("status", "1", token="dfp_wrong", base_url=base).returncode == 1
    assert run("status", "1", token=None, base_url=base).returncode == 2


def test_the_client_library_builds_a_multipart_upload():
    sys.path.insert(0, str(REPO / "client"))
    try:
        from deepfake_portal_client.client import _multipart
    finally:
        sys.path.remove(str(REPO / "client"))
    body, content_type = _multipart({"callback_url": "https://example.com/h"}, "file", 'a"b.mp4', b"\x00data")
    boundary = content_type.split("boundary=")[1]
    assert body.startswith(f"--{boundary}\r\n".encode()) and body.endswith(f"--{boundary}--\r\n".encode())
    assert b'filename="a_b.mp4"' in body and b"\x00data" in body and b"https://example.com/h" in body
