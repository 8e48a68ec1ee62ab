"""A throwaway portal stack on loopback for the drills: its own MariaDB database, its own Redis queues, its
own private storage folder (or, with storage="s3", its own bucket on an S3 server: moto_server, reused if
one answers at $S3_ENDPOINT_URL, else started for the stack), gunicorn on a free port, N Celery workers
on the fast queue (and ``long_workers`` on the long-video queue, ``live_workers`` on the live check's;
``web="daphne"`` or ``"uvicorn"`` serves it over ASGI instead of gunicorn) and the sweeper. Other engineers'
databases and queues on the same services are never touched. ``start_worker(i, remote=True)`` starts a
worker on "another host" (bench/remote_host.py: own copy, own host name, no local storage).

    with Stack(workers=2) as stack:
        session = stack.session()          # logged-in HTTP session (urllib, CSRF handled)
        media_id = session.upload(path)
        session.status(media_id)
"""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
PASSWORD = "bench-passphrase-2026"
DATA = Path(os.environ.get("DEEPFAKE_DATA", REPO.parent / "shared" / "data"))
FACE_SOURCE = DATA / "train" / "OpenTalker_SadTalker/examples/ref_video/WDA_KatieHill_000.mp4"  # 512x512 head


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_clips(out: Path, count: int, *, seconds: float = 2, width: int = 256) -> list[Path]:
    """``count`` distinct small face clips: a few real encodes, each copy made unique by a trailing
    mp4 ``free`` box (valid MP4, different sha256, so no upload is deduplicated)."""
    out.mkdir(parents=True, exist_ok=True)
    bases = []
    for i in range(min(count, 4)):
        base = out / f"base{i}.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", str(i * 0.5), "-i", str(FACE_SOURCE),
                        "-t", str(seconds), "-an", "-vf", f"scale={width}:-2", "-c:v", "libx264",
                        "-preset", "veryfast", "-pix_fmt", "yuv420p", str(base)], check=True, timeout=120)
        bases.append(base.read_bytes())
    clips = []
    for i in range(count):
        tag = f"bench clip {i} {uuid.uuid4().hex}".encode()
        path = out / f"clip{i:04d}.mp4"
        path.write_bytes(bases[i % len(bases)] + (8 + len(tag)).to_bytes(4, "big") + b"free" + tag)
        clips.append(path)
    return clips


class Session:
    """A logged-in browser-like session over urllib: cookies, CSRF token, multipart upload."""

    def __init__(self, base: str, username: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  _NoRedirect())
        self.get("/accounts/login/")
        status, _, _ = self.post_form("/accounts/login/", {"username": username, "password": PASSWORD})
        if status != 302:
            raise RuntimeError(f"login failed: {status}")

    def csrf(self) -> str:
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 60):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers or {}), exc.read()

    def get(self, path: str, timeout: float = 60):
        return self.request("GET", path, timeout=timeout)

    def post_form(self, path: str, fields: dict):
        body = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": self.csrf()}).encode()
        return self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded",
                                                 "Referer": self.base + path})

    def upload(self, path: Path) -> tuple[int, int | None]:
        """(HTTP status, media id or None)."""
        boundary = uuid.uuid4().hex
        body = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\n{self.csrf()}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        status, headers, _ = self.request("POST", "/", body, {
            "Content-Type": f"multipart/form-data; boundary={boundary}", "Referer": self.base + "/"})
        match = re.search(r"/media/(\d+)/", headers.get("Location", "")) if status == 302 else None
        return status, int(match[1]) if match else None

    def status(self, media_id: int, timeout: float = 30) -> tuple[int, dict | None, float]:
        started = time.perf_counter()
        status, _, body = self.get(f"/media/{media_id}/status/", timeout=timeout)
        elapsed = time.perf_counter() - started
        try:
            return status, json.loads(body) if status == 200 else None, elapsed
        except ValueError:
            return status, None, elapsed


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Stack:
    def __init__(self, *, workers: int = 2, frames: int = 8, name: str = "bench", sweep_every: float = 5,
                 queued_after: float = 20, web_workers: int = 2, threads: int = 8, extra_env: dict | None = None,
                 storage: str = "local", long_workers: int = 0, remote_workers: bool = False,
                 web: str = "gunicorn", live_workers: int = 0):
        self.workers, self.frames, self.name = workers, frames, name
        self.long_workers, self.storage_kind, self.remote_workers = long_workers, storage, remote_workers
        self.s3_process = None
        self.s3_endpoint = ""
        self.bucket = ""
        self.host2: Path | None = None
        self.sweep_every, self.queued_after = sweep_every, queued_after
        self.web_workers, self.threads = web_workers, threads
        self.web, self.live_workers = web, live_workers  # web: gunicorn (WSGI), daphne or uvicorn (ASGI, live check)
        self.db = f"portal_{name}"
        self.queue = f"{name}-{os.getpid()}"
        self.long_queue = f"{self.queue}-long"
        self.live_queue = f"{self.queue}-live"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.tmp = Path(tempfile.mkdtemp(prefix=f"rel_{name}_"))
        self.storage = self.tmp / "private"
        self.logs = self.tmp / "logs"
        self.logs.mkdir(parents=True)
        self.processes: dict[str, subprocess.Popen] = {}
        self.username = "bench"
        self.env = {
            **os.environ,
            "DATABASE_URL": f"mysql://portal:portal@127.0.0.1:3306/{self.db}",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
            "CELERY_QUEUE": self.queue,
            "CELERY_LONG_QUEUE": self.long_queue,
            "LIVE_QUEUE": self.live_queue,
            "PRIVATE_MEDIA_ROOT": str(self.storage),
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "UPLOADS_PER_HOUR": "100000",
            "API_THROTTLE_USER": "100000/min",
            "DETECTOR_FRAMES": str(frames),
            # the workers share this machine's cores: each takes its share of threads (ml/inference/cpu_features.py)
            "DETECTOR_WORKERS_PER_HOST": str(max(1, workers + long_workers)),
            "SWEEP_QUEUED_SECONDS": str(queued_after),
            "LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> "Stack":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def manage(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run([PY, "manage.py", *args], cwd=REPO, env=self.env, capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def start(self) -> None:
        if self.storage_kind == "s3":
            import s3server

            self.s3_endpoint, self.s3_process = s3server.ensure_server()
            self.bucket = f"portal-{self.name}-{os.getpid()}"
            s3server.create_bucket(self.s3_endpoint, self.bucket)
            self.env.update(s3server.env(self.s3_endpoint, self.bucket))
        subprocess.run(["mysql", "-uroot", "-e", f"DROP DATABASE IF EXISTS `{self.db}`; CREATE DATABASE `{self.db}` "
                        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"], check=True, timeout=60)
        self.manage("migrate", "--noinput")
        self.manage("shell", "-c", "from django.contrib.auth.models import User; "
                    f"User.objects.create_user('{self.username}', 'bench@example.com', '{PASSWORD}')")
        self.start_web()
        for i in range(1, self.workers + 1):
            self.start_worker(i, remote=self.remote_workers)
        for i in range(1, self.long_workers + 1):
            self.start_worker(i, queue=self.long_queue, remote=self.remote_workers)
        for i in range(1, self.live_workers + 1):
            self.start_worker(i, queue=self.live_queue)
        self.start_sweeper()
        self.wait_ready()

    def _spawn(self, key: str, args: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{key}.log", "ab")
        process = subprocess.Popen(args, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes[key] = process
        return process

    def start_web(self) -> None:
        if self.web == "daphne":  # one process, as `make run-stack` runs it
            self._spawn("web", [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
                                "deepfake_portal.asgi:application"])
        elif self.web == "uvicorn":
            self._spawn("web", [PY, "-m", "uvicorn", "deepfake_portal.asgi:application", "--host", "127.0.0.1",
                                "--port", str(self.port), "--workers", str(self.web_workers), "--log-level", "warning"])
        else:
            self._spawn("web", [str(Path(PY).parent / "gunicorn"), "deepfake_portal.wsgi", "--bind",
                                f"127.0.0.1:{self.port}", "--workers", str(self.web_workers), "--threads",
                                str(self.threads), "--timeout", "120"])

    def worker_key(self, i: int, queue: str | None = None) -> str:
        if queue == self.live_queue:
            return f"live{i}"
        return f"worker{i}" if queue in (None, self.queue) else f"long{i}"

    def start_worker(self, i: int, *, queue: str | None = None, remote: bool = False) -> subprocess.Popen:
        """Worker ``i`` on ``queue`` (the fast one by default); ``remote``: on the other host."""
        queue = queue or self.queue
        key = self.worker_key(i, queue)
        if not remote:
            return self._spawn(key, [PY, "-m", "celery", "-A", "deepfake_portal", "worker", "--pool=prefork",
                                     "-c", "1", "-Q", queue, "-n", f"{queue}-{i}@%h",
                                     "--loglevel=INFO", "--without-gossip", "--without-mingle"])
        import remote_host

        if self.storage_kind != "s3":
            raise RuntimeError("a worker on another host needs storage='s3'")
        if self.host2 is None:
            self.host2 = remote_host.make_copy(self.tmp / "host2")
        argv = remote_host.worker_argv(self.host2, queue=queue, name=f"{queue}-{i}-host2", pool="prefork",
                                       hide=[self.storage, self.logs.parent / "clips"])
        log = open(self.logs / f"{key}.log", "ab")
        process = subprocess.Popen(argv, cwd=self.host2, env=remote_host.worker_env(self.env), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[key] = process
        return process

    def start_sweeper(self) -> None:
        self._spawn("sweeper", [PY, "manage.py", "sweep_jobs", "--every", str(self.sweep_every)])

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = all(b" ready." in (self.logs / f"{key}.log").read_bytes()
                        for key in self.processes if key.startswith(("worker", "long", "live")))
            try:
                urllib.request.urlopen(self.base + "/accounts/login/", timeout=5)
                web = True
            except Exception:
                web = False
            if ready and web:
                return
            time.sleep(0.5)
        raise RuntimeError(f"stack not ready; logs in {self.logs}")

    def kill(self, key: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.get(key)
        if process and process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(timeout=30)

    def stop(self) -> None:
        for key in list(self.processes):
            try:
                self.kill(key, signal.SIGTERM)
            except Exception:
                self.kill(key, signal.SIGKILL)
        try:
            import redis

            redis.Redis(host="127.0.0.1", port=6379, socket_timeout=5).delete(self.queue, self.long_queue,
                                                                              self.live_queue)
        except Exception:
            pass
        if self.bucket:
            try:
                import s3server

                s3server.delete_bucket(self.s3_endpoint, self.bucket)
            except Exception:
                pass
        if self.s3_process is not None:
            os.killpg(self.s3_process.pid, signal.SIGTERM)
            self.s3_process.wait(timeout=20)
        subprocess.run(["mysql", "-uroot", "-e", f"DROP DATABASE IF EXISTS `{self.db}`"], timeout=60)
        if os.environ.get("BENCH_KEEP_LOGS"):
            print(f"logs kept in {self.logs}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- reading the stack's database --------------------------------------------------------------
    def sql(self, query: str) -> list[list[str]]:
        result = subprocess.run(["mysql", "-uroot", "-N", "-B", self.db, "-e", query], capture_output=True,
                                text=True, timeout=60)
        if result.returncode:
            raise RuntimeError(result.stderr)
        return [line.split("\t") for line in result.stdout.splitlines()]

    def job_counts(self) -> dict[str, int]:
        return {status: int(n) for status, n in self.sql("SELECT status, COUNT(*) FROM detection_detectionjob GROUP BY status")}

    def duplicate_frames(self) -> int:
        """Frame rows that repeat (job, index, track): a job whose result was written twice."""
        rows = self.sql("SELECT COUNT(*) FROM (SELECT job_id, `index`, track, COUNT(*) c FROM detection_frameresult "
                        "GROUP BY job_id, `index`, track HAVING c > 1) d")
        return int(rows[0][0])

    def bucket_names(self, prefix: str = "") -> list[str]:
        import s3server

        return s3server.names(self.s3_endpoint, self.bucket, prefix)

    def stored_names(self) -> set[str]:
        """Every file name the stack's rows refer to: uploads, heatmaps and thumbnails."""
        rows = self.sql("SELECT file FROM detection_media UNION ALL SELECT heatmap FROM detection_frameresult "
                        "UNION ALL SELECT thumbnail FROM detection_frameresult")
        return {row[0] for row in rows if row and row[0]}

    def session(self) -> Session:
        return Session(self.base, self.username)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) as the nearest rank's value (a time that was measured); nan for none."""
    import numpy as np

    return float(np.percentile(values, q, method="nearest")) if values else float("nan")
