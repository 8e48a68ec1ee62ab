"""How a report is drawn: the PDF of one analysis (fpdf2), built from the report's JSON document."""
from __future__ import annotations

import datetime as dt
import io
import math

from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from fpdf import FPDF

from . import selectors
from .models import FrameResult, Media
from .report_voice import draw_sync, draw_voice
from .reports import HEATMAP_CAVEAT, SECTIONS, model_paragraph, report_data
from .timeline import timeline

# Two pages for a typical clip, the per-face table last.
COLOURS = {"fake": (179, 38, 30), "authentic": (30, 107, 53), "inconclusive": (138, 90, 0)}
INK, MUTED, LINE, BAND = (29, 35, 48), (91, 100, 117), (200, 205, 214), (241, 231, 200)
TOP_FACES = 4  # the most suspicious faces shown, each with and without its heatmap
FACE_MARGIN = 0.45  # context kept around a face box, as a fraction of its size on each side
FACE_PIXELS = 360  # each face crop is enlarged (or reduced) to this many pixels a side
FACE_MM = 40  # printed size of each face crop
CHART_MM = 50  # height of the score timeline
SVG_COLOURS = {name: ",".join(map(str, rgb)) for name, rgb in
               {**COLOURS, "ink": INK, "muted": MUTED, "line": LINE, "band": BAND, "track": (150, 160, 180)}.items()}


def _latin1(text: object) -> str:
    """The PDF's core fonts speak Latin-1 only; a few common characters are mapped, the rest become '?'."""
    text = str(text).translate({0x2013: "-", 0x2014: "-", 0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"',
                                0x2026: "...", 0x00D7: "x"})
    return text.encode("latin-1", "replace").decode("latin-1")


def _when(value: str | None) -> str:
    """An ISO time from the report data, as people read it (UTC)."""
    if not value:
        return "-"
    moment = dt.datetime.fromisoformat(value).astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class _ReportPDF(FPDF):
    """An A4 page with the report's footer and its three ways of writing: heading, paragraph, fact."""

    def footer(self):
        self.set_y(-11)
        self.set_font("Helvetica", size=8)
        self.set_text_color(*MUTED)
        self.cell(0, 6, f"Deepfake Portal analysis report - page {self.page_no()} of {{nb}}", align="C")

    def heading(self, text: str) -> None:
        self.ln(2.5)
        self.set_font("Helvetica", "B", 12)
        self.cell(self.epw, 7, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", size=9.5)

    def paragraph(self, text: str, size: float = 9.5, style: str = "", colour=INK) -> None:
        self.set_font("Helvetica", style, size)
        self.set_text_color(*colour)
        self.multi_cell(self.epw, size * 0.48, _latin1(text), align="L", new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(*INK)

    def fact(self, label: str, value: object, mono: bool = False) -> None:
        self.set_font("Helvetica", "B", 9.5)
        self.set_text_color(*MUTED)
        self.cell(32, 5.2, _latin1(label))
        self.set_text_color(*INK)
        self.set_font("Courier" if mono else "Helvetica", size=9 if mono else 9.5)
        self.multi_cell(self.epw - 32, 5.2, _latin1("-" if value in (None, "") else value), align="L",
                        new_x="LMARGIN", new_y="NEXT")

    def writers(self) -> dict:
        """What a section drawn elsewhere (provenance, voice) writes with."""
        return {"heading": self.heading, "paragraph": self.paragraph, "fact": self.fact}

    def room_for(self, mm: float) -> None:
        """A new page unless ``mm`` more fit on this one."""
        if self.get_y() + mm > self.h - self.b_margin:
            self.add_page()


def _face_crops(frame: FrameResult, media: Media):
    """The face, cut from the stored frame and from its heatmap with some context, both enlarged."""
    from PIL import Image

    crops = []
    for field in (frame.thumbnail, frame.heatmap):
        with field.open("rb") as fh:
            image = Image.open(io.BytesIO(fh.read()))
            image.load()
        image = image.convert("RGB")
        # The stored pictures are the frame scaled down; the face box is in the original's pixels.
        scale = image.width / media.width if media.width else 1.0
        x0, y0, x1, y1 = (v * scale for v in (frame.x0, frame.y0, frame.x1, frame.y1))
        side = max(x1 - x0, y1 - y0) * (1 + 2 * FACE_MARGIN)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        side = min(side, image.width, image.height)
        left = min(max(0.0, cx - side / 2), image.width - side)
        top = min(max(0.0, cy - side / 2), image.height - side)
        face = image.crop((round(left), round(top), round(left + side), round(top + side)))
        crops.append(face.resize((FACE_PIXELS, FACE_PIXELS), Image.Resampling.LANCZOS))
    return crops


def _clip_parts_lines(parts: dict | None) -> list[str]:
    """How the clip score was made, in one line (videos scored with clip parts)."""
    if not parts:
        return []
    names = (("frame_mean", "frame mean"), ("topk_mean", "top-k mean"), ("temporal", "temporal"))
    numbers = [f"{name} {parts[key]:.3f}" for key, name in names if isinstance(parts.get(key), (int, float))]
    line = "Clip score parts: " + ", ".join(numbers)
    if isinstance(parts.get("frames"), int):
        line += f"; {parts.get('frames_above', 0)} of {parts['frames']} frames above the threshold"
    return [line + "."]


def report_pdf(media: Media) -> bytes:
    """The PDF of one analysis: its sections in reading order, the per-face table last."""
    data = report_data(media)
    pdf = _ReportPDF(format="A4")
    pdf.set_margins(14, 12, 14)
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_text_color(*INK)
    _draw_title(pdf, data)
    _draw_verdict(pdf, data)
    for name, section in SECTIONS.items():  # issue 22: provenance
        section.draw(data[name], **pdf.writers())
    _draw_file(pdf, data)
    _draw_timeline(pdf, data)
    draw_voice(pdf, data["voice"], selectors.voice_row(media.job), **pdf.writers())
    draw_sync(data["sync"], **pdf.writers())
    _draw_suspicious_faces(pdf, data, media)
    if data["model"].get("version"):
        pdf.room_for(30)
        pdf.heading("The model")
        pdf.paragraph(model_paragraph(data["model"]))
    _draw_face_table(pdf, data)
    return bytes(pdf.output())


def _draw_title(pdf: _ReportPDF, data: dict) -> None:
    pdf.set_font("Helvetica", "B", 17)
    pdf.cell(pdf.epw * 0.6, 9, "Deepfake analysis report")
    pdf.set_font("Helvetica", size=8.5)
    pdf.set_text_color(*MUTED)
    pdf.cell(pdf.epw * 0.4, 9, _latin1(f"Generated {_when(data['generated_at'])}"), align="R",
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*INK)
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(pdf.epw, 5, _latin1(data["file"]["name"]), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def _verdict_lines(analysis: dict, kind: str) -> list[str]:
    """The verdict's confidence, what drove it, why, and the score against the threshold."""
    lines = []
    if analysis["confidence"] is not None:
        lines.append(f"Confidence {analysis['confidence']:.0%} that the file is "
                     f"{'manipulated' if analysis['verdict'] == 'fake' else 'authentic'}.")
    if analysis["verdict_driver"]["words"]:  # issue 29
        lines.append(f"What drove it: {analysis['verdict_driver']['words']}.")
    if analysis["reason_words"]:
        lines.append(analysis["reason_words"])
    if analysis["status"] == "failed" and analysis["error_message"] not in (None, "", analysis["reason_words"]):
        lines.append(analysis["error_message"])
    if analysis["score"] is not None:
        lines.append(f"Score {analysis['score']:.3f} (the model's probability of "
                     f"{'synthetic speech' if kind == 'audio' else 'manipulation'}); threshold "
                     f"{analysis['threshold']:.2f}; scores within {analysis['inconclusive_band']:.2f} of it read "
                     "inconclusive.")
    return lines + _clip_parts_lines(analysis["clip_parts"])


def _draw_verdict(pdf: _ReportPDF, data: dict) -> None:
    """The verdict in its colour, with its confidence and what it can and cannot tell, under a side bar."""
    analysis, width, top = data["analysis"], pdf.epw, pdf.get_y()
    colour = COLOURS.get(analysis["verdict"], MUTED if analysis["status"] != "failed" else COLOURS["fake"])
    if analysis["verdict_words"]:
        headline = analysis["verdict_words"]
    elif analysis["status"] == "failed":
        headline = "Analysis failed"
    else:
        headline = f"Analysis not finished ({analysis['status']})"
    pdf.set_x(pdf.l_margin + 5)
    pdf.set_font("Helvetica", "B", 16)
    pdf.set_text_color(*colour)
    pdf.cell(width - 5, 8, _latin1(headline), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*INK)
    pdf.set_font("Helvetica", size=10)
    for line in _verdict_lines(analysis, data["file"]["kind"]):
        pdf.set_x(pdf.l_margin + 5)
        pdf.multi_cell(width - 5, 5, _latin1(line), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(pdf.l_margin + 5)
    pdf.set_font("Helvetica", "I", 9)
    pdf.set_text_color(*MUTED)
    pdf.multi_cell(width - 5, 4.4, _latin1(
        "A screening signal, not proof: the verdict is a statistical estimate by an automated model with "
        "known limits (see The model, below). Treat it as one piece of evidence."), align="L",
        new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*INK)
    pdf.set_fill_color(*colour)
    pdf.rect(pdf.l_margin, top, 1.8, pdf.get_y() - top, style="F")


def _draw_file(pdf: _ReportPDF, data: dict) -> None:
    """The file's type, size, sha256 and times, and how many faces were analysed."""
    file, times, frames = data["file"], data["times"], data["frames"]
    pdf.heading("File")
    kind = {"video": "Video", "audio": "Audio"}.get(file["kind"], "Image")
    shape = f"{kind} ({file['format']})" + (f", {file['width']} x {file['height']} px" if file["kind"] != "audio" else "")
    if file["kind"] in ("video", "audio") and file["duration_seconds"]:
        shape += f", {file['duration_seconds']:.1f} s"
    pdf.fact("Type", shape)
    pdf.fact("Size", f"{filesizeformat(file['size_bytes'])} ({file['size_bytes']:,} bytes)" if file["size_bytes"] else "-")
    pdf.fact("SHA-256", file["sha256"], mono=True)
    pdf.fact("Uploaded", _when(times["uploaded_at"]))
    if times["finished_at"]:
        took = ""
        if times["started_at"]:
            seconds = (dt.datetime.fromisoformat(times["finished_at"])
                       - dt.datetime.fromisoformat(times["started_at"])).total_seconds()
            took = f" (analysis took {seconds:.1f} s)"
        pdf.fact("Analysed", _when(times["finished_at"]) + took)
    if data["analysis"]["status"] == "done" and file["kind"] != "audio":
        tracks = len({f["track"] for f in frames})
        pdf.fact("Faces", f"{len(frames)} face{'s' if len(frames) != 1 else ''} analysed"
                          + (f" in {len({f['index'] for f in frames})} frames, {tracks} face track"
                             f"{'s' if tracks != 1 else ''}" if file["kind"] == "video" and frames else ""))


def _draw_timeline(pdf: _ReportPDF, data: dict) -> None:
    """A video's per-face scores against time: the SVG of ``detection.timeline``, drawn into the page."""
    file, analysis, frames = data["file"], data["analysis"], data["frames"]
    if file["kind"] != "video" or not frames:
        return
    pdf.heading("Score over time")
    chart = timeline(frames, duration=file["duration_seconds"] or 0.0, threshold=analysis["threshold"],
                     band=analysis["inconclusive_band"], width=pdf.epw, height=CHART_MM)
    svg = render_to_string("detection/timeline.svg", {"c": chart, "colours": SVG_COLOURS})
    top = pdf.get_y() + 1
    pdf.image(io.BytesIO(svg.encode()), x=pdf.l_margin, y=top, w=pdf.epw, h=CHART_MM)
    pdf.set_xy(pdf.l_margin, top + CHART_MM + 1)
    pdf.paragraph("Each mark is one analysed face: a red triangle reads likely fake, an amber diamond (inside the "
                  "shaded band around the dashed threshold) inconclusive, a green circle likely authentic.",
                  size=8, colour=MUTED)


def _draw_suspicious_faces(pdf: _ReportPDF, data: dict, media: Media) -> None:
    """The faces at or over the threshold, most suspicious first, each with and without its heatmap."""
    analysis = data["analysis"]
    if analysis["status"] != "done":
        return
    faces = sorted(FrameResult.objects.filter(job=media.job, score__gte=analysis["threshold"])
                   .exclude(heatmap="").exclude(thumbnail=""), key=lambda f: (-f.score, f.time))[:TOP_FACES]
    if not faces:
        if data["frames"]:
            pdf.heading("The most suspicious faces")
            pdf.paragraph(f"None: no analysed face scored at or over the threshold ({analysis['threshold']:.2f}).")
        return
    width, gap, pair_gap, caption_h = pdf.epw, 2.0, 8.0, 9.0
    side = min(FACE_MM, (width - pair_gap - 2 * gap) / 4)
    pdf.room_for(7 + 10 + (side + caption_h) * (1 if len(faces) <= 2 else 2))
    pdf.heading("The most suspicious faces")
    pdf.paragraph("Each face as analysed (left) and with the model's heatmap (right): warm colours mark the "
                  "areas that weighed most in its score. " + HEATMAP_CAVEAT.split(". ")[0] + ".",
                  size=8.5, colour=MUTED)
    pdf.ln(1.5)
    y = pdf.get_y()
    for n, frame in enumerate(faces):
        col, row = n % 2, n // 2
        x = pdf.l_margin + (width - 4 * side - 2 * gap - pair_gap) / 2 + col * (2 * side + gap + pair_gap)
        top_y = y + row * (side + caption_h)
        plain, heat = _face_crops(frame, media)
        pdf.image(plain, x=x, y=top_y, w=side, h=side)
        pdf.image(heat, x=x + side + gap, y=top_y, w=side, h=side)
        pdf.set_xy(x, top_y + side + 0.8)
        pdf.set_font("Helvetica", size=8)
        where = f"{frame.time:.2f} s, " if data["file"]["kind"] == "video" else ""
        pdf.cell(2 * side + gap, 4, _latin1(f"{where}face {frame.track + 1}: score {frame.score:.3f}"), align="C")
    pdf.set_xy(pdf.l_margin, y + ((len(faces) + 1) // 2) * (side + caption_h))


TABLE_COLUMNS = (("Time", 0.34), ("Face", 0.22), ("Score", 0.30))  # share of a column group's width
TABLE_GROUPS, ROW_MM = 3, 4.3


def _table_header(pdf: _ReportPDF, y: float, groups: int) -> None:
    group_w = pdf.epw / TABLE_GROUPS
    pdf.set_font("Helvetica", "B", 8)
    pdf.set_draw_color(*LINE)
    for g in range(groups):
        x = pdf.l_margin + g * group_w
        for title, share in TABLE_COLUMNS:
            pdf.set_xy(x, y)
            pdf.cell(group_w * share, ROW_MM + 0.5, title, border="B", align="R")
            x += group_w * share


def _draw_face_table(pdf: _ReportPDF, data: dict) -> None:
    """Every analysed face, last: three groups of (time, face, score) columns across the page."""
    if not data["frames"]:
        return
    threshold, video = data["analysis"]["threshold"], data["file"]["kind"] == "video"
    group_w = pdf.epw / TABLE_GROUPS
    pdf.room_for(7 + 4 * ROW_MM)
    pdf.heading("Every analysed face")
    left = sorted(data["frames"], key=lambda f: (f["time_seconds"], f["track"]))
    while left:
        y = pdf.get_y()
        fit = int((pdf.h - pdf.b_margin - y - ROW_MM - 1) // ROW_MM)
        if fit < 3:
            pdf.add_page()
            continue
        chunk, left = left[: fit * TABLE_GROUPS], left[fit * TABLE_GROUPS:]
        per_col = math.ceil(len(chunk) / TABLE_GROUPS)
        _table_header(pdf, y, math.ceil(len(chunk) / per_col))
        pdf.set_font("Helvetica", size=8)
        for i, frame in enumerate(chunk):
            g, r = divmod(i, per_col)
            x = pdf.l_margin + g * group_w
            values = (f"{frame['time_seconds']:.2f} s" if video else "-", str(frame["track"] + 1),
                      f"{frame['score']:.3f}")
            for value, (title, share) in zip(values, TABLE_COLUMNS):
                pdf.set_xy(x, y + ROW_MM + 0.8 + r * ROW_MM)
                if title == "Score":
                    pdf.set_text_color(*(COLOURS["fake"] if frame["score"] >= threshold else INK))
                pdf.cell(group_w * share, ROW_MM, value, align="R")
                pdf.set_text_color(*INK)
                x += group_w * share
        pdf.set_xy(pdf.l_margin, y + ROW_MM + 0.8 + per_col * ROW_MM + 1)
        if left:
            pdf.add_page()
