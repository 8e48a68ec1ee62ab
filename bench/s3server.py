"""The S3 server the tests, the drills and `make run-stack` talk to over HTTP: moto's server mode
(`moto_server`, from the `moto[server]` package), an S3 emulator run as its own process. Nothing is
patched in-process: boto3 speaks HTTP to it exactly as to a real object store.

    endpoint, process = ensure_server("http://127.0.0.1:9000")   # reuse one that answers, else start one
    create_bucket(endpoint, "portal-test")
    names(endpoint, "portal-test")                               # every key in the bucket

The keys below are moto's; any pair works with it, none is a secret.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ACCESS_KEY = "portal-dev-access-key"
SECRET_KEY = "portal-dev-secret-key"
REGION = "us-east-1"


def _moto_server() -> str | None:
    local = Path(sys.executable).parent / "moto_server"
    return str(local) if local.exists() else shutil.which("moto_server")


def answers(endpoint: str, timeout: float = 2) -> bool:
    try:
        urllib.request.urlopen(endpoint.rstrip("/") + "/", timeout=timeout)
        return True
    except urllib.error.HTTPError:
        return True  # it answered, with an S3 error
    except Exception:  # noqa: BLE001
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int | None = None, log: Path | None = None) -> tuple[str, subprocess.Popen]:
    """A new moto_server on 127.0.0.1 (a free port unless given); the caller stops it."""
    binary = _moto_server()
    if binary is None:
        raise RuntimeError("moto_server is not installed (pip install 'moto[server]')")
    port = port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    out = open(log, "ab") if log else subprocess.DEVNULL
    process = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + 30
    while not answers(endpoint, timeout=1):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"moto_server did not start on port {port}")
        time.sleep(0.2)
    return endpoint, process


def ensure_server(endpoint: str | None = None) -> tuple[str, subprocess.Popen | None]:
    """The server at ``endpoint`` (or $S3_ENDPOINT_URL) if it answers; else a new one of our own."""
    endpoint = endpoint or os.environ.get("S3_ENDPOINT_URL", "")
    if endpoint and answers(endpoint):
        return endpoint, None
    return start_server()


def client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, region_name=REGION,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


def create_bucket(endpoint: str, bucket: str) -> None:
    s3 = client(endpoint)
    try:
        s3.create_bucket(Bucket=bucket, ACL="private")
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    # No public access, whatever a later ACL says.
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})


def names(endpoint: str, bucket: str, prefix: str = "") -> list[str]:
    s3 = client(endpoint)
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [item["Key"] for item in page.get("Contents", [])]
    return sorted(found)


def delete_bucket(endpoint: str, bucket: str) -> None:
    s3 = client(endpoint)
    keys = names(endpoint, bucket)
    for start in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]]})
    s3.delete_bucket(Bucket=bucket)


def env(endpoint: str, bucket: str) -> dict[str, str]:
    """The portal's settings for this server and bucket."""
    return {"PRIVATE_STORAGE": "s3", "S3_ENDPOINT_URL": endpoint, "S3_BUCKET": bucket,
            "S3_ACCESS_KEY_ID": ACCESS_KEY, "S3_SECRET_ACCESS_KEY": SECRET_KEY, "S3_REGION": REGION}


def serve(port: int, log: Path) -> None:
    """Make sure an S3 server answers on 127.0.0.1:``port``: one already there, or a new moto_server
    left running in the background (like `redis-server --daemonize`), its log in ``log``."""
    endpoint = f"http://127.0.0.1:{port}"
    if answers(endpoint):
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    _, process = start_server(port, log=log)
    print(f"moto_server (S3) started at {endpoint}, pid {process.pid}, log {log}")


USAGE = "usage: s3server.py serve PORT [LOG] | create-bucket ENDPOINT BUCKET"

if __name__ == "__main__":  # used by the Makefile (test, run-stack)
    if len(sys.argv) in (3, 4) and sys.argv[1] == "serve":
        serve(int(sys.argv[2]), Path(sys.argv[3] if len(sys.argv) == 4 else "var/log/s3.log"))
    elif len(sys.argv) == 4 and sys.argv[1] == "create-bucket":
        create_bucket(sys.argv[2], sys.argv[3])
        print(f"bucket {sys.argv[3]} ready at {sys.argv[2]}")
    else:
        sys.exit(USAGE)
