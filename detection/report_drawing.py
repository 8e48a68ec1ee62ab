"""How a report is drawn: the PDF of one analysis (fpdf2), built from the report's JSON document."""
from __future__ import annotations

import datetime as dt
import io
import math

from fpdf import FPDF

from . import selectors
from .models import FrameResult, Media
from .report_voice import draw_sync, draw_voice
from .reports import HEATMAP_CAVEAT, SECTIONS, model_paragraph, report_data

# Two pages for a typical clip, the per-face table last.
COLOURS = {"fake": (179, 38, 30), "authentic": (30, 107, 53), "inconclusive": (138, 90, 0)}
INK, MUTED, LINE, BAND = (29, 35, 48), (91, 100, 117), (200, 205, 214), (241, 231, 200)
TOP_FACES = 4  # the most suspicious faces shown, each with and without its heatmap
FACE_MARGIN = 0.45  # context kept around a face box, as a fraction of its size on each side
FACE_PIXELS = 360  # each face crop is enlarged (or reduced) to this many pixels a side
FACE_MM = 40  # printed size of each face crop
CHART_MM = 50  # height of the score timeline


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


def _size(n: int | None) -> str:
    if not n:
        return "-"
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit} ({n:,} bytes)"
    return f"{n:,} bytes"


class _ReportPDF(FPDF):
    def footer(self):
        self.set_y(-11)
        self.set_font("Helvetica", size=8)
        self.set_text_color(*MUTED)
        self.cell(0, 6, f"Deepfake Portal analysis report - page {self.page_no()} of {{nb}}", align="C")


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


def _nice_step(span: float, ticks: int = 6) -> float:
    raw = max(span, 1e-6) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _timeline(pdf: FPDF, frames: list[dict], *, duration: float, threshold: float, band: float,
              x: float, y: float, w: float, h: float) -> None:
    """Per-frame scores against time: the threshold dashed, the inconclusive band shaded, one line per
    face track, each analysed face a mark in its verdict's colour and shape (see ``side_of``)."""
    left, bottom = 12.0, 8.0  # room for the axis labels
    cx, cy, cw, ch = x + left, y, w - left - 2, h - bottom
    end = max(duration or 0.0, max((f["time_seconds"] for f in frames), default=0.0), 0.1)

    def px(t: float) -> float:
        return cx + cw * t / end

    def py(score: float) -> float:
        return cy + ch * (1 - min(max(score, 0.0), 1.0))

    pdf.set_fill_color(*BAND)
    lo, hi = max(0.0, threshold - band), min(1.0, threshold + band)
    pdf.rect(cx, py(hi), cw, py(lo) - py(hi), style="F")
    pdf.set_draw_color(*LINE)
    pdf.set_line_width(0.2)
    pdf.set_font("Helvetica", size=7)
    pdf.set_text_color(*MUTED)
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        pdf.line(cx, py(tick), cx + cw, py(tick))
        pdf.set_xy(x, py(tick) - 2)
        pdf.cell(left - 1.5, 4, f"{tick:.2f}", align="R")
    step = _nice_step(end)
    t = 0.0
    while t <= end + 1e-9:
        pdf.line(px(t), cy + ch, px(t), cy + ch + 1)
        pdf.set_xy(px(t) - 8, cy + ch + 1.2)
        pdf.cell(16, 4, f"{t:g} s", align="C")
        t += step
    pdf.set_draw_color(*MUTED)
    pdf.line(cx, cy + ch, cx + cw, cy + ch)
    pdf.line(cx, cy, cx, cy + ch)
    # The threshold, dashed and labelled.
    pdf.set_draw_color(*COLOURS["inconclusive"])
    pdf.set_line_width(0.35)
    pdf.set_dash_pattern(dash=1.5, gap=1)
    pdf.line(cx, py(threshold), cx + cw, py(threshold))
    pdf.set_dash_pattern()
    pdf.set_text_color(*COLOURS["inconclusive"])
    label_y = py(threshold) - 4.2 if threshold < 0.88 else py(threshold) + 0.4
    pdf.set_xy(cx + cw - 40, label_y)
    pdf.cell(40, 4, f"threshold {threshold:.2f}", align="R")
    # One line per face track, then the dots on top.
    tracks: dict[int, list[dict]] = {}
    for frame in frames:
        tracks.setdefault(frame["track"], []).append(frame)
    pdf.set_draw_color(150, 160, 180)
    pdf.set_line_width(0.3)
    for points in tracks.values():
        points.sort(key=lambda f: f["time_seconds"])
        if len(points) > 1:
            pdf.polyline([(px(f["time_seconds"]), py(f["score"])) for f in points])
    pdf.set_line_width(0.15)
    for frame in frames:  # the verdict's three colours and shapes, as on the result page
        key = side_of(frame["score"], threshold, band)
        fx, fy, r = px(frame["time_seconds"]), py(frame["score"]), 1.1
        pdf.set_fill_color(*COLOURS[key])
        pdf.set_draw_color(255, 255, 255)
        if key == "fake":
            pdf.polygon([(fx, fy - r), (fx + r, fy + r * 0.8), (fx - r, fy + r * 0.8)], style="FD")
        elif key == "inconclusive":
            pdf.polygon([(fx, fy - r), (fx + r, fy), (fx, fy + r), (fx - r, fy)], style="FD")
        else:
            pdf.circle(fx, fy, r * 0.85, style="FD")
    pdf.set_text_color(*INK)
    pdf.set_draw_color(*INK)


def side_of(score: float, threshold: float, band: float) -> str:
    """A frame score's verdict key, with the band (frames have no face-size or disagreement rules)."""
    if abs(score - threshold) < band:
        return "inconclusive"
    return "fake" if score >= threshold else "authentic"


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
    data = report_data(media)
    analysis, file, model, times = data["analysis"], data["file"], data["model"], data["times"]
    job = media.job
    pdf = _ReportPDF(format="A4")
    pdf.set_margins(14, 12, 14)
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.alias_nb_pages()
    pdf.add_page()
    width = pdf.epw
    pdf.set_text_color(*INK)

    def heading(text: str) -> None:
        pdf.ln(2.5)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(width, 7, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=9.5)

    def paragraph(text: str, size: float = 9.5, style: str = "", colour=INK) -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.set_text_color(*colour)
        pdf.multi_cell(width, size * 0.48, _latin1(text), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*INK)

    def fact(label: str, value: object, mono: bool = False) -> None:
        pdf.set_font("Helvetica", "B", 9.5)
        pdf.set_text_color(*MUTED)
        pdf.cell(32, 5.2, _latin1(label))
        pdf.set_text_color(*INK)
        pdf.set_font("Courier" if mono else "Helvetica", size=9 if mono else 9.5)
        pdf.multi_cell(width - 32, 5.2, _latin1("-" if value in (None, "") else value), align="L",
                       new_x="LMARGIN", new_y="NEXT")

    # Title.
    pdf.set_font("Helvetica", "B", 17)
    pdf.cell(width * 0.6, 9, "Deepfake analysis report")
    pdf.set_font("Helvetica", size=8.5)
    pdf.set_text_color(*MUTED)
    pdf.cell(width * 0.4, 9, _latin1(f"Generated {_when(data['generated_at'])}"), align="R",
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*INK)
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(width, 5, _latin1(file["name"]), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    # The verdict, with its confidence and what it can and cannot tell.
    top = pdf.get_y()
    key = analysis["verdict"]
    colour = COLOURS.get(key, MUTED if analysis["status"] != "failed" else COLOURS["fake"])
    pdf.set_x(pdf.l_margin + 5)
    pdf.set_font("Helvetica", "B", 16)
    pdf.set_text_color(*colour)
    if analysis["verdict_words"]:
        headline = analysis["verdict_words"]
    elif analysis["status"] == "failed":
        headline = "Analysis failed"
    else:
        headline = f"Analysis not finished ({analysis['status']})"
    pdf.cell(width - 5, 8, _latin1(headline), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*INK)
    pdf.set_font("Helvetica", size=10)
    lines = []
    if analysis["confidence"] is not None:
        lines.append(f"Confidence {analysis['confidence']:.0%} that the file is "
                     f"{'manipulated' if key == 'fake' else 'authentic'}.")
    if analysis["verdict_driver"]["words"]:  # issue 29
        lines.append(f"What drove it: {analysis['verdict_driver']['words']}.")
    if analysis["reason_words"]:
        lines.append(analysis["reason_words"])
    if analysis["status"] == "failed" and analysis["error_message"] not in (None, "", analysis["reason_words"]):
        lines.append(analysis["error_message"])
    if analysis["score"] is not None:
        lines.append(f"Score {analysis['score']:.3f} (the model's probability of "
                     f"{'synthetic speech' if file['kind'] == 'audio' else 'manipulation'}); threshold "
                     f"{analysis['threshold']:.2f}; scores within {analysis['inconclusive_band']:.2f} of it read "
                     "inconclusive.")
    lines += _clip_parts_lines(analysis["clip_parts"])
    for line in lines:
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

    for name, section in SECTIONS.items():  # issue 22: provenance
        section.draw(data[name], heading=heading, paragraph=paragraph, fact=fact)

    # The file.
    heading("File")
    kind = {"video": "Video", "audio": "Audio"}.get(file["kind"], "Image")
    shape = f"{kind} ({file['format']})" + (f", {file['width']} x {file['height']} px" if file["kind"] != "audio" else "")
    if file["kind"] in ("video", "audio") and file["duration_seconds"]:
        shape += f", {file['duration_seconds']:.1f} s"
    fact("Type", shape)
    fact("Size", _size(file["size_bytes"]))
    fact("SHA-256", file["sha256"], mono=True)
    fact("Uploaded", _when(times["uploaded_at"]))
    if times["finished_at"]:
        took = ""
        if times["started_at"]:
            seconds = (dt.datetime.fromisoformat(times["finished_at"])
                       - dt.datetime.fromisoformat(times["started_at"])).total_seconds()
            took = f" (analysis took {seconds:.1f} s)"
        fact("Analysed", _when(times["finished_at"]) + took)
    frames = data["frames"]
    if analysis["status"] == "done" and file["kind"] != "audio":
        tracks = len({f["track"] for f in frames})
        fact("Faces", f"{len(frames)} face{'s' if len(frames) != 1 else ''} analysed"
                      + (f" in {len({f['index'] for f in frames})} frames, {tracks} face track"
                         f"{'s' if tracks != 1 else ''}" if file["kind"] == "video" and frames else ""))

    # The score timeline (videos).
    if file["kind"] == "video" and frames:
        heading("Score over time")
        chart_y = pdf.get_y() + 1
        _timeline(pdf, frames, duration=file["duration_seconds"] or 0.0, threshold=analysis["threshold"],
                  band=analysis["inconclusive_band"], x=pdf.l_margin, y=chart_y, w=width, h=CHART_MM)
        pdf.set_xy(pdf.l_margin, chart_y + CHART_MM + 1)
        paragraph("Each mark is one analysed face: a red triangle reads likely fake, an amber diamond (inside the "
                  "shaded band around the dashed threshold) inconclusive, a green circle likely authentic.",
                  size=8, colour=MUTED)

    draw_voice(pdf, data["voice"], selectors.voice_row(job), heading=heading, paragraph=paragraph, fact=fact)
    draw_sync(data["sync"], heading=heading, paragraph=paragraph, fact=fact)

    # The most suspicious faces, with and without their heatmaps.
    heat_frames = []
    if analysis["status"] == "done":
        # Only faces at or over the threshold are "suspicious"; with none, the report says so.
        heat_frames = sorted(FrameResult.objects.filter(job=job, score__gte=analysis["threshold"])
                             .exclude(heatmap="").exclude(thumbnail=""), key=lambda f: (-f.score, f.time))[:TOP_FACES]
        if not heat_frames and frames:
            heading("The most suspicious faces")
            paragraph(f"None: no analysed face scored at or over the threshold ({analysis['threshold']:.2f}).")
    if heat_frames:
        gap, pair_gap = 2.0, 8.0
        side = min(FACE_MM, (width - pair_gap - 2 * gap) / 4)
        caption_h = 9.0
        needed = 7 + 10 + (side + caption_h) * (1 if len(heat_frames) <= 2 else 2)
        if pdf.get_y() + needed > pdf.h - pdf.b_margin:
            pdf.add_page()
        heading("The most suspicious faces")
        paragraph("Each face as analysed (left) and with the model's heatmap (right): warm colours mark the "
                  "areas that weighed most in its score. " + HEATMAP_CAVEAT.split(". ")[0] + ".",
                  size=8.5, colour=MUTED)
        pdf.ln(1.5)
        y = pdf.get_y()
        for n, frame in enumerate(heat_frames):
            col, row = n % 2, n // 2
            x = pdf.l_margin + (width - 4 * side - 2 * gap - pair_gap) / 2 + col * (2 * side + gap + pair_gap)
            top_y = y + row * (side + caption_h)
            plain, heat = _face_crops(frame, media)
            pdf.image(plain, x=x, y=top_y, w=side, h=side)
            pdf.image(heat, x=x + side + gap, y=top_y, w=side, h=side)
            pdf.set_xy(x, top_y + side + 0.8)
            pdf.set_font("Helvetica", size=8)
            where = f"{frame.time:.2f} s, " if file["kind"] == "video" else ""
            pdf.cell(2 * side + gap, 4, _latin1(f"{where}face {frame.track + 1}: score {frame.score:.3f}"),
                     align="C")
        pdf.set_xy(pdf.l_margin, y + ((len(heat_frames) + 1) // 2) * (side + caption_h))

    # The model, in one paragraph.
    if model.get("version"):
        if pdf.get_y() + 30 > pdf.h - pdf.b_margin:
            pdf.add_page()
        heading("The model")
        paragraph(model_paragraph(model))

    # Every analysed face, last: three columns of (time, face, score) per page width.
    if frames:
        rows_sorted = sorted(frames, key=lambda f: (f["time_seconds"], f["track"]))
        groups, row_h = 3, 4.3
        group_w = width / groups
        cols = (("Time", 0.34), ("Face", 0.22), ("Score", 0.30))

        def table_header(y: float, used: int) -> None:
            pdf.set_font("Helvetica", "B", 8)
            pdf.set_draw_color(*LINE)
            for g in range(used):
                x = pdf.l_margin + g * group_w
                for title, share in cols:
                    pdf.set_xy(x, y)
                    pdf.cell(group_w * share, row_h + 0.5, title, border="B", align="R")
                    x += group_w * share

        if pdf.get_y() + 7 + 4 * row_h > pdf.h - pdf.b_margin:
            pdf.add_page()
        heading("Every analysed face")
        left = rows_sorted
        while left:
            y = pdf.get_y()
            fit = int((pdf.h - pdf.b_margin - y - row_h - 1) // row_h)
            if fit < 3:
                pdf.add_page()
                continue
            chunk, left = left[: fit * groups], left[fit * groups:]
            per_col = math.ceil(len(chunk) / groups)
            table_header(y, math.ceil(len(chunk) / per_col))
            pdf.set_font("Helvetica", size=8)
            for i, frame in enumerate(chunk):
                g, r = divmod(i, per_col)
                x = pdf.l_margin + g * group_w
                values = (f"{frame['time_seconds']:.2f} s" if file["kind"] == "video" else "-",
                          str(frame["track"] + 1), f"{frame['score']:.3f}")
                for value, (_, share) in zip(values, cols):
                    pdf.set_xy(x, y + row_h + 0.8 + r * row_h)
                    if share == cols[2][1]:
                        pdf.set_text_color(*(COLOURS["fake"] if frame["score"] >= analysis["threshold"]
                                             else INK))
                    pdf.cell(group_w * share, row_h, value, align="R")
                    pdf.set_text_color(*INK)
                    x += group_w * share
            pdf.set_xy(pdf.l_margin, y + row_h + 0.8 + per_col * row_h + 1)
            if left:
                pdf.add_page()
    return bytes(pdf.output())
