"""The Makefile's Debian package step, run for real against fake ``dpkg-query``, ``apt-get``, ``sudo`` and ``id``.

PATH holds only the fakes and links to the few real tools make needs, so nothing here can touch the
machine's packages: the fakes record how they were called and the test reads the record.
"""
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

REAL_TOOLS = ("make", "bash", "sha256sum", "cut")

FAKES = {
    # Reports every package installed except those named in $FAKE_MISSING.
    "dpkg-query": """#!/bin/bash
pkg="${@: -1}"
for m in $FAKE_MISSING; do
  if [[ "$m" == "$pkg" ]]; then echo "dpkg-query: no packages found matching $pkg" >&2; exit 1; fi
done
printf 'install ok installed'
""",
    "apt-get": """#!/bin/bash
echo "apt-get $*" >>"$FAKE_LOG"
exit "${FAKE_APT_RC:-0}"
""",
    "sudo": """#!/bin/bash
echo "sudo $*" >>"$FAKE_LOG"
exec "$@"
""",
    "id": """#!/bin/bash
echo "$FAKE_UID"
""",
}


def _which(tool: str) -> str:
    for folder in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin", "/bin"]:
        candidate = Path(folder) / tool
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.fail(f"{tool} is needed to run the Makefile")


@pytest.fixture
def fake_debian(tmp_path):
    """Run ``make <target>`` with PATH = fakes + the real make, bash, sha256sum and cut; return (result, calls)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in REAL_TOOLS:
        (bin_dir / tool).symlink_to(_which(tool))
    log = tmp_path / "calls.log"

    def run(*make_args, missing=(), uid=0, sudo=True, apt_rc=0):
        for name, body in FAKES.items():
            if name == "sudo" and not sudo:
                continue
            path = bin_dir / name
            path.write_text(body)
            path.chmod(0o755)
        if not sudo:
            (bin_dir / "sudo").unlink(missing_ok=True)
        log.write_text("")
        env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "FAKE_LOG": str(log), "FAKE_UID": str(uid),
               "FAKE_MISSING": " ".join(missing), "FAKE_APT_RC": str(apt_rc)}
        result = subprocess.run([str(bin_dir / "make"), "--no-print-directory", "-C", str(REPO), *make_args],
                                env=env, capture_output=True, text=True, timeout=60)
        return result, log.read_text().splitlines()

    return run


def test_it_installs_a_missing_package_as_root(fake_debian):
    result, calls = fake_debian("system-packages", missing=["libmariadb-dev"], uid=0)
    assert result.returncode == 0, result.stderr
    assert calls == ["apt-get update -q", "apt-get install -y -q --no-install-recommends libmariadb-dev"]
    assert "libmariadb-dev" in result.stderr  # says what it is installing


def test_it_uses_sudo_when_not_root(fake_debian):
    result, calls = fake_debian("test-packages", missing=["chromium", "redis-server"], uid=1000)
    assert result.returncode == 0, result.stderr
    install = "apt-get install -y -q --no-install-recommends chromium redis-server"
    assert calls == ["sudo apt-get update -q", "apt-get update -q", f"sudo {install}", install]


def test_without_root_or_sudo_it_prints_the_apt_get_line_and_fails(fake_debian):
    result, calls = fake_debian("system-packages", missing=["libmariadb-dev", "pkg-config"], uid=1000, sudo=False)
    assert result.returncode != 0
    assert "apt-get install -y --no-install-recommends pkg-config libmariadb-dev" in result.stdout
    assert calls == []


def test_a_failed_install_stops_make_with_the_line(fake_debian):
    result, calls = fake_debian("test-packages", missing=["ffmpeg"], uid=0, apt_rc=100)
    assert result.returncode != 0
    assert "apt-get install -y --no-install-recommends ffmpeg" in result.stdout
    assert calls[-1] == "apt-get install -y -q --no-install-recommends ffmpeg"


def test_nothing_is_installed_when_nothing_is_missing(fake_debian):
    result, calls = fake_debian("test-packages", uid=0)
    assert result.returncode == 0, result.stderr
    assert calls == []


@pytest.mark.parametrize("target, first_step, needed", [
    ("run", "pip install", ["libmariadb-dev", "pkg-config", "python3-venv", "build-essential", "ffmpeg"]),
    ("test", "pytest", ["libmariadb-dev", "ffmpeg", "chromium", "mariadb-server", "redis-server", "poppler-utils"]),
    ("services", "mariadbd", ["mariadb-server", "mariadb-client", "redis-server"]),
])
def test_run_test_and_services_install_packages_first(fake_debian, target, first_step, needed):
    """``make -n`` lists the commands a target would run, in order: the package step comes before the rest."""
    result, calls = fake_debian("-n", "-B", target)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    package_steps = [i for i, line in enumerate(lines) if "scripts/system_packages.sh" in line]
    assert package_steps, result.stdout
    later = [i for i, line in enumerate(lines) if first_step in line]
    assert later and package_steps[0] < later[0], result.stdout
    listed = " ".join(lines[i] for i in package_steps).split()
    assert all(pkg in listed for pkg in needed), (needed, listed)
    assert calls == []  # a dry run installs nothing


def test_ci_runs_the_readmes_command_and_nothing_more():
    script = (REPO / ".ci" / "run").read_text()
    commands = [line for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == "exec make test"
    assert "apt-get" not in script and "mysqladmin" not in script and "redis" not in script
    assert "make test" in (REPO / "README.md").read_text()
