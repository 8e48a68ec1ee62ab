"""Writes of the registry: register a checkpoint, put it in shadow, promote it, roll back; each audited."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from detection.storage import private_storage
from ml.paths import sha256_file

from .models import ModelEvent, ModelVersion

logger = logging.getLogger(__name__)
Status = ModelVersion.Status


class RegistryError(Exception):
    """A registry action that cannot be done; the message says why, in words an admin can act on."""


class PromotionRefused(RegistryError):
    def __init__(self, reasons: list[str]):
        super().__init__("Promotion refused: " + " ".join(reasons))
        self.reasons = reasons


def audit(*, action: str, version: ModelVersion | None, actor: AbstractBaseUser | None, **detail) -> ModelEvent:
    return ModelEvent.objects.create(
        version=version, version_name=version.version if version else "", action=action, actor=actor,
        actor_name=actor.get_username() if actor is not None else "", detail=plain_json(detail),
    )


def plain_json(value):
    """``value`` as strict JSON (MariaDB checks it): NaN and infinities become null, other objects strings."""
    return json.loads(json.dumps(value, default=str), parse_constant=lambda _: None)


def read_card(path: str | Path) -> dict:
    from ml.inference.backends import read_card as ml_read_card

    return plain_json(ml_read_card(path))


def register(path: str | Path, *, actor: AbstractBaseUser | None = None, source: str = "registered",
             status: str = Status.CANDIDATE) -> ModelVersion:
    """Store a checkpoint in private storage (``models/<sha256>.pt``) and add its row, as a candidate by default.

    The same file registered again gives its existing row; another file under a version name already
    taken is refused.
    """
    path = Path(path)
    sha = sha256_file(path)
    card = read_card(path)
    version = str(card.get("version") or f"unnamed-{sha[:12]}")
    existing = ModelVersion.objects.filter(version=version).first()
    if existing is not None:
        if existing.sha256 != sha:
            raise RegistryError(f"Version {version} is already registered with another file (sha256 {existing.sha256[:12]}).")
        return existing
    name = f"models/{sha}.pt"
    if not private_storage.exists(name):
        private_storage.save_file(name, str(path))
    with transaction.atomic():
        row = ModelVersion.objects.create(version=version, status=status, card=card, sha256=sha, file=name,
                                          size=path.stat().st_size, source=source, created_by=actor)
        audit(action=ModelEvent.Action.REGISTER, version=row, actor=actor, sha256=sha, source=source, status=status)
    return row


def ensure_embedded() -> ModelVersion:
    """An empty registry gets the embedded model (DETECTOR_CHECKPOINT) as its serving version."""
    serving = ModelVersion.objects.filter(status=Status.SERVING).first()
    if serving is not None:
        return serving
    row = register(settings.DETECTOR_CHECKPOINT, source="embedded", status=Status.CANDIDATE)
    with transaction.atomic():
        ModelVersion.objects.filter(pk=row.pk).update(status=Status.SERVING, promoted_at=timezone.now())
        audit(action=ModelEvent.Action.PROMOTE, version=row, actor=None, reason="the embedded default, registered on first start")
    row.refresh_from_db()
    return row


def serving_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=Status.SERVING).first()


def shadow_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=Status.SHADOW).first()


def set_shadow(version: ModelVersion, *, actor: AbstractBaseUser | None) -> ModelVersion:
    """Score every new job with ``version`` too, beside the serving model (one shadow at a time)."""
    if version.status not in (Status.CANDIDATE, Status.RETIRED, Status.SHADOW):
        raise RegistryError(f"{version.version} is {version.status}; only a candidate can go in shadow.")
    with transaction.atomic():
        for old in ModelVersion.objects.select_for_update().filter(status=Status.SHADOW).exclude(pk=version.pk):
            old.status = Status.CANDIDATE
            old.save(update_fields=["status"])
            audit(action=ModelEvent.Action.UNSHADOW, version=old, actor=actor, reason=f"replaced by {version.version}")
        version.status = Status.SHADOW
        version.save(update_fields=["status"])
        audit(action=ModelEvent.Action.SHADOW, version=version, actor=actor)
    return version


def unshadow(version: ModelVersion, *, actor: AbstractBaseUser | None) -> ModelVersion:
    if version.status != Status.SHADOW:
        raise RegistryError(f"{version.version} is not in shadow.")
    version.status = Status.CANDIDATE
    version.save(update_fields=["status"])
    audit(action=ModelEvent.Action.UNSHADOW, version=version, actor=actor)
    return version


def promote(version: ModelVersion, *, actor: AbstractBaseUser | None, gate_result: dict | None = None) -> ModelVersion:
    """Make ``version`` the serving model, if its gate result (against the serving model) passed.

    ``gate_result``: the result of ``gate.run_gate`` for this version; without one the version's stored
    gate is used, and it must have been run against today's serving model. A refusal is audited and raised
    with the reasons and numbers.
    """
    if version.status == Status.SERVING:
        raise RegistryError(f"{version.version} is already serving.")
    current = serving_version()
    result = gate_result if gate_result is not None else version.gate
    reasons = []
    if not result:
        reasons.append("No gate run for this version: run the gate first (manage.py models gate VERSION).")
    elif current is not None and result.get("serving_sha256") != current.sha256:
        reasons.append(f"The gate ran against {result.get('serving_version')}, but {current.version} is serving now: run it again.")
    elif not result.get("passed"):
        reasons.extend(result.get("reasons") or ["The gate did not pass."])
    if reasons:
        audit(action=ModelEvent.Action.REFUSE, version=version, actor=actor, reasons=reasons,
              candidate=(result or {}).get("candidate"), serving=(result or {}).get("serving"))
        raise PromotionRefused(reasons)
    with transaction.atomic():
        if current is not None:
            ModelVersion.objects.filter(pk=current.pk).update(status=Status.RETIRED)
        version.status, version.previous = Status.SERVING, current
        version.promoted_by, version.promoted_at = actor, timezone.now()
        version.save(update_fields=["status", "previous", "promoted_by", "promoted_at"])
        audit(action=ModelEvent.Action.PROMOTE, version=version, actor=actor,
              replaced=current.version if current else "", candidate=result.get("candidate"), serving=result.get("serving"))
    return version


def rollback(*, actor: AbstractBaseUser | None) -> ModelVersion:
    """Return to the version that served before the current one, in one step."""
    current = serving_version()
    if current is None or current.previous is None:
        raise RegistryError("There is no earlier serving version to return to.")
    back = current.previous
    with transaction.atomic():
        ModelVersion.objects.filter(pk=current.pk).update(status=Status.RETIRED)
        ModelVersion.objects.filter(pk=back.pk).update(status=Status.SERVING, promoted_by=actor, promoted_at=timezone.now())
        audit(action=ModelEvent.Action.ROLLBACK, version=back, actor=actor, replaced=current.version)
    back.refresh_from_db()
    return back


def retire(version: ModelVersion, *, actor: AbstractBaseUser | None) -> ModelVersion:
    if version.status == Status.SERVING:
        raise RegistryError("The serving version cannot be retired; promote another or roll back.")
    version.status = Status.RETIRED
    version.save(update_fields=["status"])
    audit(action=ModelEvent.Action.RETIRE, version=version, actor=actor)
    return version
