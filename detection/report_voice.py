"""The voice and lip-sync sections of the PDF report (issue 29), drawn with the report's own helpers:
the voice detector's reading, the spectrogram with its per-second score strip, and the lip-sync check."""
from __future__ import annotations

import io
from typing import Callable

from .storage import private_storage

RED, GREEN, GREY, MUTED = (179, 38, 30), (30, 107, 53), (154, 166, 189), (91, 100, 117)
PICTURE_MM, STRIP_MM = 26, 6


def _spectrogram_png(voice_row) -> bytes | None:
    if voice_row is None or not voice_row.image:
        return None
    try:
        with private_storage.open(voice_row.image.name, "rb") as fh:
            return fh.read()
    except Exception:  # a report without its picture beats no report
        return None


def _strip(pdf, seconds: list[dict], threshold: float, *, span: float, x: float, y: float, w: float) -> None:
    """One box per second, red at or above the threshold, green under, grey without speech."""
    span = max(span, max((s["end"] for s in seconds), default=0.0), 1e-3)
    for second in seconds:
        score = second.get("score")
        colour = GREY if score is None else (RED if score >= threshold else GREEN)
        left = x + w * second["start"] / span
        width = max(0.3, w * (second["end"] - second["start"]) / span - 0.3)
        pdf.set_fill_color(*colour)
        pdf.rect(left, y, width, STRIP_MM, style="F")
        if score is not None and width > 5:
            pdf.set_font("Helvetica", size=6)
            pdf.set_text_color(255, 255, 255)
            pdf.set_xy(left, y + 0.8)
            pdf.cell(width, STRIP_MM - 1.6, f"{score:.2f}", align="C")
    pdf.set_text_color(29, 35, 48)


def draw_voice(pdf, voice: dict | None, voice_row, *, heading: Callable, paragraph: Callable, fact: Callable) -> None:
    """The voice detector's evidence: its reading, the spectrogram and the per-second strip."""
    if voice is None:
        return
    heading("The voice")
    if voice["status"] == "ok":
        paragraph(f"{voice['reading']}: synthetic-speech score {voice['score']:.3f} (threshold "
                  f"{voice['threshold']:.2f}), over {voice['speech_seconds']:.1f} s of speech in "
                  f"{voice['duration_seconds']:.1f} s of sound.", style="B")
        fact("Voice model", voice["model_version"], mono=True)
    else:
        paragraph(f"{voice['status_words']}: {voice['reason'] or ''}".strip(": "), style="B")
    png = _spectrogram_png(voice_row)
    if not (png or voice["seconds"]):
        return
    width = pdf.epw
    if pdf.get_y() + PICTURE_MM + STRIP_MM + 14 > pdf.h - pdf.b_margin:
        pdf.add_page()
    y = pdf.get_y() + 1
    if png:
        try:
            pdf.image(io.BytesIO(png), x=pdf.l_margin, y=y, w=width, h=PICTURE_MM)
            y += PICTURE_MM
        except Exception:  # a damaged picture: the report goes on without it
            pass
    if voice["seconds"]:
        _strip(pdf, voice["seconds"], voice["threshold"] or 0.5, span=voice["spectrogram_seconds"] or
               voice["duration_seconds"] or 0.0, x=pdf.l_margin, y=y, w=width)
        y += STRIP_MM
    pdf.set_xy(pdf.l_margin, y + 1)
    paragraph("Spectrogram of the sound (time left to right, pitch bottom to top) over one box per second: "
              "red at or over the voice detector's threshold, green under it, grey where nobody speaks.",
              size=8, colour=MUTED)


def draw_sync(sync: dict | None, *, heading: Callable, paragraph: Callable, fact: Callable) -> None:
    """The lip-sync check: score, the offset found, and its segments in one line each (at most six)."""
    if sync is None:
        return
    heading("Lips and speech")
    if sync["status"] != "ok":
        paragraph(f"Not checked: {sync['status_words'].lower()}. {sync['reason'] or ''}".strip())
        return
    paragraph(f"{sync['reading']}: lip-sync score {sync['score']:.3f} (threshold {sync['threshold']:.2f}), "
              f"best offset {sync['offset_seconds'] or 0.0:+.2f} s (+: the sound is late).", style="B")
    fact("Method", sync["method_version"], mono=True)
    for seg in sync["segments"][:6]:
        fact(f"{seg['start']:.1f}-{seg['end']:.1f} s", f"offset {seg.get('offset_s') or 0.0:+.2f} s, "
             f"score {seg.get('score') or 0.0:.3f}")
