"""`schemathesis run` (a property-based tester nobody here wrote) with all its checks, positive and negative
data, against the running portal's /api/schema/ with a token, paced under the throttle (issue 32)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api_support import api_token, fresh_throttle_counts, private_files_removed  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

# The throttle stays on: the client is paced under it (RATE < THROTTLE per minute), as a careful client is.
THROTTLE_PER_MINUTE = 600
RATE_PER_MINUTE = 480


def test_schemathesis_run_with_all_checks_passes(live_server, api_token, owner, settings, tmp_path):
    from tests.detection.test_results import make_analysis

    settings.API_THROTTLE_USER = settings.API_THROTTLE_TOKEN = f"{THROTTLE_PER_MINUTE}/min"
    settings.UPLOADS_PER_HOUR = 10000
    make_analysis(owner)  # one analysis of the token's owner: ids that exist as well as ids that do not
    cli = Path(sys.executable).with_name("schemathesis")
    command = [
        str(cli), "run", f"{live_server.url}/api/schema/?format=json", "--base-url", live_server.url,
        "-H", f"Authorization: Bearer {api_token}",
        "--checks", "all", "--data-generation-method", "all",
        "--rate-limit", f"{RATE_PER_MINUTE}/m",
        "--hypothesis-max-examples", "12", "--hypothesis-seed", "32", "--hypothesis-derandomize",
        "--hypothesis-phases", "explicit,generate",
        "--request-timeout", "30000", "--no-color", "--report", "no",
        "--junit-xml", str(tmp_path / "schemathesis.xml"),
    ]
    env = {**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "SCHEMATHESIS_HOSTS_PATH": str(tmp_path / "hosts.toml")}
    run = subprocess.run(command, capture_output=True, text=True, timeout=540, env=env, cwd=tmp_path)
    output = run.stdout + run.stderr
    print(output[-2500:])  # the summary: requests per check (pytest -s shows it)
    assert run.returncode == 0, output[-6000:]
    for operation in ("GET /api/v1/analyses/", "POST /api/v1/analyses/", "GET /api/v1/analyses/{id}/",
                      "DELETE /api/v1/analyses/{id}/", "GET /api/v1/analyses/{id}/report/"):
        assert operation in output, output[-3000:]
    # paced: the throttle never had to answer (a status 429, not digits inside a timing such as 3.388445109998429)
    assert not re.search(r"(?<![\d.])429(?![\d.])", (tmp_path / "schemathesis.xml").read_text())
