"""Private file storage for uploads, heatmaps and thumbnails, through Django's storage API.

Two backends, chosen by settings at use time (so tests can switch them):

- ``PRIVATE_STORAGE=local`` (the default): a folder, ``PRIVATE_MEDIA_ROOT``, that web and workers share.
- ``PRIVATE_STORAGE=s3``: a private bucket on S3-compatible object storage (django-storages + boto3),
  ``S3_ENDPOINT_URL`` / ``S3_BUCKET`` / ``S3_ACCESS_KEY_ID`` / ``S3_SECRET_ACCESS_KEY``. Nothing is ever
  public: objects are written with the ``private`` ACL, ``url()`` refuses, and the owner-checked views
  stream them (or, with ``PRIVATE_STORAGE_REDIRECT``, answer with a presigned URL valid for
  ``PRIVATE_STORAGE_URL_SECONDS``).

Names are the same on both (``uploads/<hex>.<ext>``, ``jobs/<job id>/<hex>.jpg``), so the rows do not
change with the backend. Workers never need a path: ``local_copy()`` gives them a local file (the file
itself, or a temporary download that is removed afterwards).
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime, timezone as dt_timezone

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage
from django.utils.deconstruct import deconstructible

logger = logging.getLogger(__name__)

CHUNK = 64 * 1024


class LocalPrivateStorage(FileSystemStorage):
    """A folder outside every public URL, read at use time so tests can point it elsewhere."""

    @property
    def base_location(self):
        return str(settings.PRIVATE_MEDIA_ROOT)

    @property
    def location(self):
        return os.path.abspath(self.base_location)

    @property
    def base_url(self):
        return None  # never served by URL; detection.views streams files to their owner


def _s3_config() -> tuple:
    return (
        settings.S3_ENDPOINT_URL, settings.S3_BUCKET, settings.S3_ACCESS_KEY_ID, settings.S3_SECRET_ACCESS_KEY,
        settings.S3_REGION, settings.S3_PREFIX, settings.PRIVATE_STORAGE_URL_SECONDS,
    )


def _make_s3(config: tuple):
    from botocore.config import Config
    from storages.backends.s3 import S3Storage

    endpoint, bucket, key, secret, region, prefix, seconds = config
    return S3Storage(
        endpoint_url=endpoint or None,
        bucket_name=bucket,
        access_key=key or None,
        secret_key=secret or None,
        region_name=region or None,
        location=prefix.strip("/"),
        default_acl="private",
        querystring_auth=True,  # any URL it makes is presigned
        querystring_expire=seconds,
        file_overwrite=True,  # names are random: skip the HEAD request a rename check would cost
        client_config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                             retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60),
    )


@deconstructible(path="detection.storage.PrivateStorage")
class PrivateStorage(Storage):
    """Hands every call to the backend the settings name now (one instance per configuration)."""

    _lock = threading.Lock()
    _cache: dict = {}

    # -- which backend ----------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        kind = (settings.PRIVATE_STORAGE or "local").lower()
        if kind not in ("local", "s3"):
            raise ValueError(f"PRIVATE_STORAGE must be 'local' or 's3', not {kind!r}")
        return kind

    @property
    def is_local(self) -> bool:
        return self.kind == "local"

    @property
    def backend(self) -> Storage:
        if self.is_local:
            return _local
        config = _s3_config()
        with self._lock:
            backend = self._cache.get(config)
            if backend is None:
                backend = self._cache[config] = _make_s3(config)
            return backend

    # -- Django's storage API -----------------------------------------------------------------------
    def _open(self, name, mode="rb"):
        return self.backend._open(name, mode)

    def _save(self, name, content):
        return self.backend._save(name, content)

    def get_available_name(self, name, max_length=None):
        return self.backend.get_available_name(name, max_length=max_length)

    def generate_filename(self, filename):
        return self.backend.generate_filename(filename)

    def delete(self, name):
        if name:
            self.backend.delete(name)

    def exists(self, name):
        return self.backend.exists(name)

    def listdir(self, path):
        return self.backend.listdir(path)

    def size(self, name):
        return self.backend.size(name)

    def path(self, name):
        if not self.is_local:
            raise NotImplementedError("Objects in S3 storage have no local path; use local_copy().")
        return self.backend.path(name)

    def get_modified_time(self, name):
        return self.backend.get_modified_time(name)

    def url(self, name):
        raise NotImplementedError("Private files have no public URL.")

    # -- what the portal needs beyond it --------------------------------------------------------------
    def presigned_url(self, name: str, *, seconds: int | None = None, content_type: str = "",
                      disposition: str = "") -> str:
        """A GET URL for one object, signed and valid for ``seconds`` (S3 only)."""
        if self.is_local:
            raise NotImplementedError("Local private files have no URL.")
        params = {}
        if content_type:
            params["ResponseContentType"] = content_type
        if disposition:
            params["ResponseContentDisposition"] = disposition
        return self.backend.url(name, parameters=params or None,
                                expire=seconds or settings.PRIVATE_STORAGE_URL_SECONDS)

    def _s3_object(self, name: str):
        backend = self.backend
        return backend.bucket.Object(backend._normalize_name(_s3_clean(name)))

    def stream(self, name: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes of ``name`` from ``start`` to ``end`` (inclusive; None: to the end), in chunks,
        without reading the whole file first (S3: one ranged GET)."""
        if self.is_local:
            return _file_slice(self.path(name), start, end)
        byte_range = f"bytes={start}-{'' if end is None else end}"
        body = self._s3_object(name).get(Range=byte_range)["Body"]
        return _closing_chunks(body)

    @contextlib.contextmanager
    def local_copy(self, name: str, directory: str | None = None):
        """A local path holding the file: the file itself (local), or a temporary download (S3) that
        is removed when the block ends, whatever happens in it."""
        if self.is_local:
            yield self.path(name)
            return
        ext = os.path.splitext(name)[1]
        fd, path = tempfile.mkstemp(prefix="portal-in-", suffix=ext, dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                self._s3_object(name).download_fileobj(out)
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def save_file(self, name: str, source: str) -> str:
        """Store the local file ``source`` under ``name`` (exactly; names are random) and return it."""
        if self.is_local:
            path = self.path(name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            shutil.copyfile(source, path)
            return name
        content_type = _content_type(name)
        extra = {"ACL": "private", **({"ContentType": content_type} if content_type else {})}
        self._s3_object(name).upload_file(source, ExtraArgs=extra)
        return name

    def delete_prefix(self, prefix: str) -> int:
        """Remove everything under ``prefix`` (e.g. ``jobs/12/``); returns how many objects went."""
        prefix = prefix.rstrip("/") + "/"
        if self.is_local:
            directory = self.path(prefix)
            if not os.path.isdir(directory):
                return 0
            count = sum(len(files) for _, _, files in os.walk(directory))
            shutil.rmtree(directory, ignore_errors=True)
            return count
        names = [name for name, _ in self.walk(prefix)]
        for start in range(0, len(names), 1000):
            self._delete_many(names[start:start + 1000])
        return len(names)

    def _delete_many(self, names: list[str]) -> None:
        backend = self.backend
        keys = [{"Key": backend._normalize_name(_s3_clean(n))} for n in names]
        if keys:
            backend.bucket.delete_objects(Delete={"Objects": keys, "Quiet": True})

    def walk(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        """(name, modified time in UTC) of every file under ``prefix``."""
        if self.is_local:
            root = self.backend.location
            top = os.path.join(root, prefix) if prefix else root
            for directory, _, files in os.walk(top):
                for file_name in files:
                    path = os.path.join(directory, file_name)
                    try:
                        modified = datetime.fromtimestamp(os.stat(path).st_mtime, tz=dt_timezone.utc)
                    except OSError:
                        continue
                    yield os.path.relpath(path, root).replace(os.sep, "/"), modified
            return
        backend = self.backend
        location = backend.location.strip("/")
        full_prefix = f"{location}/{prefix}" if location else prefix
        for obj in backend.bucket.objects.filter(Prefix=full_prefix):
            name = obj.key[len(location) + 1:] if location else obj.key
            yield name, obj.last_modified


def _s3_clean(name: str) -> str:
    from storages.utils import clean_name

    return clean_name(name)


def _content_type(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name)[0] or ""


def _file_slice(path: str, start: int, end: int | None) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(start)
        left = None if end is None else end - start + 1
        while left is None or left > 0:
            data = fh.read(CHUNK if left is None else min(CHUNK, left))
            if not data:
                break
            if left is not None:
                left -= len(data)
            yield data


def _closing_chunks(body) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


_local = LocalPrivateStorage()
private_storage = PrivateStorage()


def get_private_storage() -> PrivateStorage:
    return private_storage


try:  # object storage that refuses or is away: a storage error like a full disk
    from botocore.exceptions import BotoCoreError, ClientError

    STORAGE_ERRORS: tuple = (BotoCoreError, ClientError)
except ImportError:  # pragma: no cover - boto3 is only needed with PRIVATE_STORAGE=s3
    STORAGE_ERRORS = ()


def remove_quietly(names: list[str]) -> None:
    """Delete stored files by name; a failure is logged (the sweeper's orphan pass removes them later)."""
    for name in names:
        try:
            private_storage.delete(name)
        except Exception:  # noqa: BLE001 - storage may be away; never mask the caller's own outcome
            logger.warning("could not remove %s from storage", name, exc_info=True)
