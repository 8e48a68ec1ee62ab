"""Reviewed media with the moderators' labels, written where ``ml.training.prepare`` can read it."""
from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

from .models import ModerationItem
from .selectors import reviewed_items

FOLDER = "portal_feedback"  # the first path component: ml.training.prepare's "source"
COLUMNS = ("path", "label", "kind", "method")
METHODS = {
    "fake": "portal upload, confirmed fake by a moderator",
    "real": "portal upload, marked authentic by a moderator",
}


def feedback_export(*, out_dir: str | os.PathLike) -> list[dict]:
    """Copy each reviewed item's media into ``out_dir/portal_feedback/`` and write ``out_dir/labels.csv``.

    Rows look like the shared data's labels.csv (path relative to out_dir, label real|fake, kind
    video|image, method). Running it again rewrites labels.csv and skips files already copied.
    """
    out = Path(out_dir)
    (out / FOLDER).mkdir(parents=True, exist_ok=True)
    rows = []
    # Audio uploads are left out: their label is about the voice, and ml.training trains the face detector.
    for item in reviewed_items().exclude(job__media__kind="audio").order_by("pk"):
        media = item.job.media
        label = ModerationItem.LABELS[item.status]
        rel = f"{FOLDER}/{media.pk}-{media.sha256[:12]}.{media.format}"
        target = out / rel
        if not (target.is_file() and target.stat().st_size == media.size):
            with media.file.open("rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        rows.append({"path": rel, "label": label, "kind": media.kind, "method": METHODS[label],
                     "media_id": media.pk, "sha256": media.sha256})  # the last two for callers, not the CSV
    tmp = out / "labels.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out / "labels.csv")
    return rows
