"""Asks the C2PA reading process (provenance.c2pa_child) about one file, within a time and memory limit.

Django-free. One child per worker process, started on first use and kept; a request that runs past its
timeout, or a child that dies (its memory limit, a crash in native code), ends with an error answer and
the child is replaced on the next request.
"""
from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ReadLimits:
    timeout: float = 10.0  # seconds for one file
    memory_mb: int = 1024  # address space of the reading process
    max_bytes: int = 200 * 1024 * 1024  # larger files are not handed to the reader
    max_json: int = 1 << 20  # a larger manifest store is cut to its active manifest's essentials


@dataclass(frozen=True)
class StoreAnswer:
    found: bool | None  # a manifest store is there (readable or not); None: the reader could not tell
    state: str | None  # c2pa's validation state: "Trusted", "Valid", "Invalid"
    store: str | None  # the manifest store as JSON text
    truncated: bool
    error: str | None  # why it could not be read ("Timeout: ...", "Manifest: ...")


class C2paProcess:
    """The long-lived reading process and the pipe to it."""

    def __init__(self, limits: ReadLimits):
        self.limits = limits
        self.process: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        # The child sets its own memory limit first thing (no preexec_fn: the worker has threads).
        return subprocess.Popen(
            [sys.executable, "-m", "provenance.c2pa_child", "--memory-mb", str(self.limits.memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=str(REPO),
            env={**os.environ, "PYTHONPATH": str(REPO)}, close_fds=True,
        )

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            for pipe in (self.process.stdin, self.process.stdout):
                pipe.close()
            self.process = None

    def ask(self, request: dict, timeout: float) -> dict:
        """Send one request and wait for its answer line; raises TimeoutError or EOFError."""
        if self.process is None or self.process.poll() is not None:
            self.stop()
            self.process = self._start()
        process = self.process
        process.stdin.write((json.dumps(request) + "\n").encode())
        process.stdin.flush()
        deadline = time.monotonic() + timeout
        fd = process.stdout.fileno()
        chunks, size = [], 0
        cap = self.limits.max_json * 8 + 65536  # JSON escaping may grow the store; anything beyond is broken
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            size += len(chunk)
            if chunk.endswith(b"\n"):
                return json.loads(b"".join(chunks))
            if size > cap:
                raise EOFError


_process: C2paProcess | None = None
_process_lock = threading.Lock()


def _shared_process(limits: ReadLimits) -> C2paProcess:
    global _process
    with _process_lock:
        if _process is None or _process.limits != limits:
            if _process is not None:
                _process.stop()
            _process = C2paProcess(limits)
        return _process


def read_manifest_store(path: str, *, mime: str | None, anchors: str = "", allowed: str = "",
                        limits: ReadLimits = ReadLimits()) -> StoreAnswer:
    """The C2PA manifest store of ``path``, read in the reading process. Never raises for a bad file.

    ``anchors`` and ``allowed``: paths of PEM files (trust anchors; end-entity certificates allowed as
    they are), read by the reading process and reloaded when they change.
    """
    if os.path.getsize(path) > limits.max_bytes:
        return StoreAnswer(None, None, None, False,
                           f"TooLarge: files over {limits.max_bytes // (1024 * 1024)} MB are not checked")
    request = {"path": os.path.abspath(path), "mime": mime, "anchors": anchors, "allowed": allowed,
               "max_json": limits.max_json}
    process = _shared_process(limits)
    with process.lock:
        try:
            answer = process.ask(request, limits.timeout)
        except TimeoutError:
            process.stop()
            logger.warning("C2PA read of %s took over %.0f s; reading process replaced", path, limits.timeout)
            return StoreAnswer(None, None, None, False, f"Timeout: reading took over {limits.timeout:g} s")
        except (EOFError, OSError, ValueError):
            process.stop()
            logger.warning("C2PA reading process died on %s (memory limit or crash); replaced", path)
            return StoreAnswer(None, None, None, False,
                               f"Limit: reading needed more than {limits.memory_mb} MB, or the reader crashed")
        except BaseException:  # the task's time limit, say: the answer still in the pipe belongs to no one
            process.stop()
            raise
    found = answer.get("found")
    return StoreAnswer(None if found is None else bool(found), answer.get("state"), answer.get("store"),
                       bool(answer.get("truncated")), answer.get("error"))
