"""The worker's side of the registry: which version serves, and its file on this machine, checked by sha256."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings

from detection import errors
from detection.detector import Checkpoint
from detection.storage import private_storage
from ml.paths import sha256_file

from .models import ModelVersion

logger = logging.getLogger(__name__)


def serving_version() -> ModelVersion | None:
    """The serving row, read fresh for every job so a promotion is noticed without a restart."""
    return ModelVersion.objects.filter(status=ModelVersion.Status.SERVING).only("pk", "version", "sha256", "file").first()


def serving_checkpoint() -> Checkpoint | None:
    """What detection asks at every job (``detection.detector.serve_from``): the serving version's
    checkpoint, fetched only when its sha256 is not the one already loaded; None for an empty registry."""
    version = serving_version()
    return Checkpoint(key=version.sha256, fetch=lambda: local_file(version)) if version is not None else None


def local_file(version: ModelVersion) -> Path:
    """The version's checkpoint on this machine's disk (REGISTRY_MODEL_CACHE/<sha256>.pt), fetched from
    private storage once; raises ``errors.ModelUnavailable`` if it is missing or its bytes are not its sha256."""
    cache = Path(settings.REGISTRY_MODEL_CACHE)
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"{version.sha256}.pt"
    if target.is_file() and sha256_file(target) == version.sha256:
        return target
    try:
        with private_storage.local_copy(version.file) as source:
            fd, tmp = tempfile.mkstemp(dir=cache, suffix=".part")
            os.close(fd)
            shutil.copyfile(source, tmp)
    except OSError as exc:
        raise errors.ModelUnavailable(f"The file of model {version.version} is missing from storage.") from exc
    except Exception as exc:  # noqa: BLE001 - object storage errors: the same for the job
        raise errors.ModelUnavailable(f"The file of model {version.version} could not be read: {exc}") from exc
    actual = sha256_file(Path(tmp))
    if actual != version.sha256:
        os.unlink(tmp)
        raise errors.ModelUnavailable(
            f"The file of model {version.version} does not match its sha256 (expected {version.sha256[:12]}, "
            f"found {actual[:12]}); it was not loaded.")
    os.replace(tmp, target)
    return target
