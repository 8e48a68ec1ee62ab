"""Downloadable reports of one analysis: a JSON document and a PDF built from it (fpdf2)."""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from fpdf import FPDF

from . import selectors
from .models import FrameResult, Media

REPORT_FORMAT = 1


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def report_data(media: Media) -> dict:
    """Everything a report holds: the file, the verdict, per-frame scores, the model card, the times."""
    job = media.job
    verdict = selectors.job_verdict(job)
    frames = list(FrameResult.objects.filter(job=job)) if job.status == job.Status.DONE else []
    return {
        "format": REPORT_FORMAT,
        "generated_at": _iso(timezone.now()),
        "file": {
            "name": media.original_name,
            "sha256": media.sha256,
            "kind": media.kind,
            "format": media.format,
            "size_bytes": media.size,
            "width": media.width,
            "height": media.height,
            "duration_seconds": media.duration,
        },
        "analysis": {
            "status": job.status,
            "verdict": verdict.key if verdict else None,
            "verdict_words": verdict.words if verdict else None,
            "inconclusive_reason": verdict.explanation if verdict and verdict.reason else None,
            "score": job.score,
            "threshold": job.threshold,
            "inconclusive_band": settings.RESULT_INCONCLUSIVE_BAND,
            "confidence": selectors.job_confidence(job),
            "faces_found": job.faces_found,
            "error_code": job.error_code or None,
            "error_message": job.error_message or None,
        },
        "model": {"version": job.model_version or None, **(job.model_card or {})},
        "frames": [
            {
                "index": f.index,
                "time_seconds": round(f.time, 3),
                "track": f.track,
                "face_box": [f.x0, f.y0, f.x1, f.y1],
                "score": round(f.score, 6),
                "has_heatmap": bool(f.heatmap),
            }
            for f in frames
        ],
        "times": {
            "uploaded_at": _iso(media.created),
            "queued_at": _iso(job.queued_at),
            "started_at": _iso(job.started_at),
            "finished_at": _iso(job.finished_at),
            "stage_seconds": job.timings or {},
        },
        "caveat": HEATMAP_CAVEAT,
    }


HEATMAP_CAVEAT = (
    "A heatmap shows where the model looked when it scored a face, not proof of manipulation. "
    "The verdict is a statistical estimate; treat it as one piece of evidence."
)


def _latin1(text: object) -> str:
    """The PDF's core fonts speak Latin-1 only; anything else becomes '?'."""
    return str(text).encode("latin-1", "replace").decode("latin-1")


class _ReportPDF(FPDF):
    def footer(self):
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.set_text_color(100)
        self.cell(0, 8, f"Deepfake Portal report - page {self.page_no()}", align="C")


def report_pdf(media: Media) -> bytes:
    data = report_data(media)
    pdf = _ReportPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw

    def heading(text: str) -> None:
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 13)
        pdf.cell(width, 8, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)

    def row(label: str, value: object) -> None:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(45, 6, _latin1(label))
        pdf.set_font("Helvetica", size=10)
        pdf.multi_cell(width - 45, 6, _latin1("-" if value is None or value == "" else value),
                       new_x="LMARGIN", new_y="NEXT")

    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(width, 10, "Deepfake analysis report", new_x="LMARGIN", new_y="NEXT")
    analysis, file, model, times = data["analysis"], data["file"], data["model"], data["times"]

    heading("File")
    row("Name", file["name"])
    row("SHA-256", file["sha256"])
    row("Type", f"{file['kind']} ({file['format']}), {file['width']}x{file['height']}"
               + (f", {file['duration_seconds']:.1f} s" if file["duration_seconds"] else ""))
    row("Size", f"{file['size_bytes']:,} bytes")

    heading("Verdict")
    if analysis["verdict_words"]:
        row("Verdict", analysis["verdict_words"])
    if analysis["inconclusive_reason"]:
        row("Why", analysis["inconclusive_reason"])
    if analysis["status"] == "failed" and analysis["error_message"]:
        row("Analysis failed", analysis["error_message"])
    if analysis["score"] is not None:
        row("Score", f"{analysis['score']:.3f} probability of manipulation (threshold "
                     f"{analysis['threshold']:.2f}, inconclusive within +/-{analysis['inconclusive_band']:.2f})")
    if analysis["confidence"] is not None:
        row("Confidence", f"{analysis['confidence']:.0%}")
    row("Faces found", analysis["faces_found"])

    heading("Model")
    row("Version", model.get("version"))
    for key, label in (("date", "Trained"), ("training_data", "Training data"), ("input_size", "Input size"),
                       ("clip_rule", "Clip rule"), ("backend", "Runtime")):
        if model.get(key) not in (None, ""):
            row(label, model[key])
    if model.get("metrics"):
        row("Metrics", ", ".join(f"{k}: {v}" for k, v in model["metrics"].items()))

    heading("Times (UTC)")
    for key, label in (("uploaded_at", "Uploaded"), ("queued_at", "Queued"), ("started_at", "Started"),
                       ("finished_at", "Finished")):
        row(label, times[key])
    if times["stage_seconds"]:
        row("Stages", ", ".join(f"{k} {v:.2f} s" for k, v in times["stage_seconds"].items()))

    if data["frames"]:
        heading("Scores per frame")
        pdf.set_font("Helvetica", "B", 9)
        columns = (("Frame", 25), ("Time (s)", 25), ("Face", 15), ("Face box", 60), ("Score", 25))
        for title, w in columns:
            pdf.cell(w, 6, title, border="B")
        pdf.ln()
        pdf.set_font("Helvetica", size=9)
        for frame in data["frames"]:
            values = (frame["index"], f"{frame['time_seconds']:.2f}", frame["track"] + 1,
                      ", ".join(str(v) for v in frame["face_box"]), f"{frame['score']:.3f}")
            for value, (_, w) in zip(values, columns):
                pdf.cell(w, 5, str(value))
            pdf.ln()

    heatmaps = [f for f in FrameResult.objects.filter(job=media.job).exclude(heatmap="")] \
        if analysis["status"] == "done" else []
    if heatmaps:
        heading("Heatmaps")
        pdf.multi_cell(width, 5, _latin1(HEATMAP_CAVEAT), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        cell_w, gap = (width - 8) / 3, 4
        for n, frame in enumerate(heatmaps):
            col = n % 3
            if col == 0 and n:
                pdf.ln(cell_w * 0.75 + 10)
            if pdf.get_y() + cell_w * 0.75 + 10 > pdf.h - 15:
                pdf.add_page()
            x = pdf.l_margin + col * (cell_w + gap)
            y = pdf.get_y()
            with frame.heatmap.open("rb") as fh:
                pdf.image(fh, x=x, y=y, w=cell_w, h=cell_w * 0.75, keep_aspect_ratio=True)
            pdf.set_xy(x, y + cell_w * 0.75 + 1)
            pdf.set_font("Helvetica", size=8)
            pdf.cell(cell_w, 5, f"frame {frame.index}, {frame.time:.2f} s, score {frame.score:.3f}")
            pdf.set_xy(pdf.l_margin, y)
        pdf.ln(cell_w * 0.75 + 10)
    return bytes(pdf.output())
