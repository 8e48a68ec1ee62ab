"""Stop and start the shared Redis and MariaDB for the outage drills, and always start them again.

``restore()`` is registered with atexit and on SIGINT/SIGTERM as soon as this module is imported, so a
drill that crashes or is interrupted still leaves both services running.
"""
from __future__ import annotations

import atexit
import signal
import subprocess
import sys
import time

REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379", "--save", "",
               "--appendonly", "no"]
MARIADB_START = ["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/mariadbd"]


def redis_up() -> bool:
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping"], capture_output=True,
                          timeout=10).stdout.strip() == b"PONG"


def mariadb_up() -> bool:
    return subprocess.run(["mysqladmin", "--silent", "ping"], capture_output=True, timeout=10).returncode == 0


def stop_redis() -> None:
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"], capture_output=True, timeout=30)
    wait(lambda: not redis_up(), 30, "Redis did not stop")


def start_redis() -> None:
    if not redis_up():
        subprocess.run(REDIS_START, capture_output=True, timeout=30)
    wait(redis_up, 30, "Redis did not start")


def stop_mariadb() -> None:
    subprocess.run(["mysqladmin", "-uroot", "shutdown"], capture_output=True, timeout=120)
    wait(lambda: not mariadb_up(), 60, "MariaDB did not stop")


def start_mariadb() -> None:
    if not mariadb_up():
        subprocess.run(["mkdir", "-p", "/run/mysqld"], timeout=10)
        subprocess.run(["chown", "mysql:mysql", "/run/mysqld"], timeout=10)
        subprocess.run(MARIADB_START, capture_output=True, timeout=30)
    wait(mariadb_up, 90, "MariaDB did not start")


def wait(check, seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(message)


def restore() -> None:
    for start in (start_redis, start_mariadb):
        try:
            start()
        except Exception as exc:  # noqa: BLE001 - try the other one anyway
            print(f"restore: {exc}", file=sys.stderr)


def _on_signal(signum, frame):
    restore()
    sys.exit(128 + signum)


atexit.register(restore)
signal.signal(signal.SIGINT, _on_signal)
signal.signal(signal.SIGTERM, _on_signal)
