"""The whole-picture section of the PDF report (issue 32), drawn with the report's own helpers."""
from __future__ import annotations

from typing import Callable


def draw_whole_image(data: dict | None, *, heading: Callable, paragraph: Callable, fact: Callable) -> None:
    """The reading of an image without a face as a whole picture (detection.whole_image.whole_image_data)."""
    if not data:
        return
    heading("The whole picture")
    paragraph(data["reading"] if data["reading"].endswith(".") else data["reading"] + ".")
    if data["judged"]:
        fact("Score", f"{data['score']:.3f} probability that the picture was generated as a whole "
                      f"(threshold {data['threshold']:.2f})")
        fact("Probe", data["model_version"] or "-", mono=True)
        paragraph("No face was found, so the picture was read as a whole: a probe on the CLIP encoder's "
                  "whole-picture features tells AI-generated pictures from camera photos. It does not look for "
                  "edits of a real photo.", size=8)


def score_meaning(data: dict) -> str:
    """What the report's score is a probability of: the whole picture's score when it decided."""
    if data.get("whole_image") and data["whole_image"]["judged"]:
        return "a picture generated as a whole"
    return "synthetic speech" if data["file"]["kind"] == "audio" else "manipulation"
