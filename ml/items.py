"""Labelled media items, as the retraining loop and the promotion gate take them: ``Item`` and ``read_items``.

One item is a local media file with its label, kind, group (items sharing a group stay in one split) and
source (for the card). The registry app builds them from the moderators' reviews; a CSV names the rest.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

LABELS = {"real": 0, "0": 0, "fake": 1, "1": 1}
KINDS = ("video", "image")


class RetrainError(Exception):
    """A retrain (or its item list) that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Item:
    path: str    # a local media file
    label: int   # 1 fake, 0 real
    kind: str    # "video" | "image"
    group: str   # items sharing a group stay in one split
    source: str  # where it came from, for the card: "review:<media id>" or "base:<relative path>"


def read_items(csv_path) -> list[Item]:
    """Items from a CSV with columns path, label (real|fake or 0|1), kind (video|image) and optionally
    group (default: the item's own path) and source (default ``base:<path>``); paths are relative to
    the CSV's folder."""
    csv_path = Path(csv_path)
    try:
        with open(csv_path, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"path", "label", "kind"} - set(reader.fieldnames or ())
            if missing:
                raise RetrainError(f"{csv_path}: missing column(s) {', '.join(sorted(missing))} "
                                   "(expected path,label,kind,group,source)")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RetrainError(f"cannot read the item list {csv_path}: {exc}") from exc
    items = []
    for line, row in enumerate(rows, start=2):
        rel, label, kind = (row.get("path") or "").strip(), (row.get("label") or "").strip().lower(), (row.get("kind") or "").strip()
        if not rel:
            raise RetrainError(f"{csv_path}:{line}: empty path")
        if label not in LABELS:
            raise RetrainError(f"{csv_path}:{line}: label {row.get('label')!r} is not real, fake, 0 or 1")
        if kind not in KINDS:
            raise RetrainError(f"{csv_path}:{line}: kind {row.get('kind')!r} is not video or image")
        items.append(Item(path=str(csv_path.parent / rel), label=LABELS[label], kind=kind,
                          group=(row.get("group") or "").strip() or f"item:{rel}",
                          source=(row.get("source") or "").strip() or f"base:{rel}"))
    return items
