"""A worker on "another host" on this machine, sharing nothing with the web server but the services.

It runs from its own copy of the repository (the tracked files, as they are in the working tree) in a
temporary folder, with no PRIVATE_MEDIA_ROOT (so only object storage can give it the uploads), and, when
this machine allows it (root, `unshare`), in its own UTS and mount namespaces: its own host name (so its
job claims read ``worker-host-2:<pid>``, a host the sweeper cannot look into) and with the web server's
folders, this checkout included, covered by empty read-only tmpfs mounts. The network is shared: it
reaches MariaDB, Redis and the S3 server on 127.0.0.1 like a worker on another machine reaches their
hosts. The virtual environment is bind-mounted into the copy (a real second host installs its own).

    copy = make_copy(tmp / "host2")
    argv = worker_argv(copy, queue="q", name="remote-1", hide=[web_private_root])
    subprocess.Popen(argv, cwd=copy, env=worker_env(...))
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)
HOSTNAME = "worker-host-2"


def make_copy(dest: Path) -> Path:
    """Copy the working tree (tracked files and new ones git does not ignore) into ``dest``; no .git, var/ or venv."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout
    for rel in filter(None, listed.decode().split("\0")):
        if rel.split("/")[0] in (".hypothesis", "test-artifacts", "var"):
            continue
        source = REPO / rel
        if not source.is_file():
            continue  # deleted in the working tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    (dest / ".venv").mkdir(exist_ok=True)  # mount point for the environment
    return dest


@lru_cache(maxsize=1)
def namespaces_available() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--uts", "--mount", "--propagation", "private", "--", "sh", "-c",
                            f"hostname {HOSTNAME} && mount -t tmpfs -o ro,size=1m tmpfs /mnt"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


def worker_env(base: dict, **settings: str) -> dict:
    """The environment of a worker on the other host: ``base`` without anything naming local folders."""
    env = {k: v for k, v in base.items() if k not in ("PRIVATE_MEDIA_ROOT", "VAR_DIR", "PWD", "OLDPWD", "VIRTUAL_ENV")}
    env.update(settings)
    return env


def worker_argv(copy: Path, *, queue: str, name: str, pool: str = "solo", hide: list[Path] = (),
                loglevel: str = "INFO") -> list[str]:
    """The command that starts a Celery worker on the other host (``copy`` is its working copy)."""
    python = str(copy / ".venv" / "bin" / "python")
    celery = [python, "-m", "celery", "-A", "deepfake_portal", "worker", f"--pool={pool}", "-c", "1",
              "-Q", queue, "-n", f"{name}@%h", f"--loglevel={loglevel}", "--without-gossip", "--without-mingle"]
    if not namespaces_available():
        # Own copy, own cwd, no PRIVATE_MEDIA_ROOT; the environment is the only thing shared.
        return [str(VENV / "bin" / "python"), *celery[1:]]
    hidden = [str(p) for p in [*hide, REPO] if Path(p).exists()]
    script = "\n".join([
        "set -e",
        f"hostname {HOSTNAME}",
        f'mount --bind "{VENV}" "{copy}/.venv"',
        *[f'mount -t tmpfs -o ro,size=1m,mode=000 tmpfs "{path}"' for path in hidden],
        f'cd "{copy}"',
        'exec "$@"',
    ])
    return ["unshare", "--uts", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", *celery]
