"""Reads unsigned AI-generation labels (IPTC/XMP digital source type, EXIF Software, generator names) from a file.

Django-free. Every read is bounded: metadata blocks over MAX_BLOCK bytes are ignored, an ISO BMFF box walk
stops after MAX_BOXES boxes, and the XMP packet is searched with plain patterns (never handed to an XML
parser, so no entity expansion). Nothing here can prove anything: anyone can write or strip these fields.
"""
from __future__ import annotations

import os
import re
import struct
from dataclasses import asdict, dataclass

MAX_BLOCK = 1 << 20  # bytes of one XMP packet or text chunk we look at
MAX_BOXES = 2000  # ISO BMFF boxes walked per file
MAX_VALUE = 300  # characters kept of one field's value

IPTC_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# IPTC digital source types (the vocabulary C2PA uses too), with what each says in words.
SOURCE_TYPES = {
    "trainedAlgorithmicMedia": "made with an AI tool",
    "compositeWithTrainedAlgorithmicMedia": "contains elements made with an AI tool",
    "algorithmicMedia": "made by an algorithm (no camera)",
    "compositeSynthetic": "a composite including synthetic elements",
    "algorithmicallyEnhanced": "enhanced by an algorithm",
    "digitalCapture": "captured by a digital camera",
    "computationalCapture": "captured by a camera with computational processing",
    "negativeFilm": "scanned from a film negative",
    "positiveFilm": "scanned from film",
    "print": "scanned from a print",
    "humanEdits": "edited by a person",
    "digitalCreation": "made digitally by a person",
    "dataDrivenMedia": "made from data",
    "screenCapture": "a screen capture",
    "virtualRecording": "a recording of a virtual event",
    "composite": "a composite of several sources",
    "compositeCapture": "a composite of camera captures",
}
AI_SOURCE_TYPES = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "compositeSynthetic"})
CAPTURE_SOURCE_TYPES = frozenset({"digitalCapture", "computationalCapture", "compositeCapture"})

# Generators known to write their name into Software, CreatorTool and similar fields.
AI_TOOLS = re.compile(
    r"\b(dall[\s\-·.]?e|midjourney|stable[\s\-]?diffusion|sdxl|firefly|imagen|gemini|sora|runway|novelai|comfyui"
    r"|automatic1111|invokeai|flux\.?1|leonardo\.ai|ideogram|bing image creator|image creator|kling|pika|veo"
    r"|chatgpt|openai|grok|made with (?:google )?ai|ai[\s\-]generated)\b",
    re.IGNORECASE,
)

# XMP: a namespace-agnostic look for a property as an attribute, an element or an rdf:resource.
_XMP_PROPERTY = r"(?:\w+:)?{name}(?:\s*=\s*\"|>|\s+rdf:resource\s*=\s*\")([^\"<]{{1,{n}}})"
XMP_FIELDS = {
    name: re.compile(_XMP_PROPERTY.format(name=name, n=MAX_VALUE).encode())
    for name in ("DigitalSourceType", "CreatorTool", "Software", "Credit")
}
XMP_PREFIX = {"DigitalSourceType": "Iptc4xmpExt", "CreatorTool": "xmp", "Software": "tiff", "Credit": "photoshop"}
EXIF_TAGS = {0x0131: "Software", 0x010E: "ImageDescription", 0x013B: "Artist", 0x8298: "Copyright"}
PNG_TEXT_KEYS = ("Software", "Description", "Comment", "Source", "Title", "Author")
# Stable Diffusion front ends store their settings in PNG text chunks with these keys.
PNG_GENERATOR_KEYS = {"parameters": "AUTOMATIC1111 / Stable Diffusion web UI", "prompt": "ComfyUI",
                      "workflow": "ComfyUI", "invokeai_metadata": "InvokeAI", "sd-metadata": "InvokeAI"}
VIDEO_TAG_KEYS = ("encoder", "software", "comment", "description", "title", "artist", "copyright",
                  "com.apple.quicktime.software", "com.apple.quicktime.description", "synopsis")
XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")  # the XMP box's uuid in ISO BMFF


@dataclass(frozen=True)
class Label:
    source: str  # where it was found: "XMP", "EXIF", "PNG text", "container tag"
    field: str  # e.g. "Iptc4xmpExt:DigitalSourceType"
    value: str
    meaning: str  # in words, "" when it says nothing about how the file was made
    ai: bool  # it says the file was (partly) made with an AI tool

    def as_dict(self) -> dict:
        return asdict(self)


def source_type_key(value: str) -> str:
    """The short key of an IPTC digital source type, from a full URL or a bare key ("" if unknown)."""
    key = value.strip().rsplit("/", 1)[-1]
    return key if key in SOURCE_TYPES else ""


def _clip(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value).split())[:MAX_VALUE]


def _tool_label(source: str, field: str, value) -> Label | None:
    """A free-text field: a label if it names a known AI generator; else kept, saying nothing, only when it
    names the software (Software, CreatorTool, encoder)."""
    text = _clip(value)
    if not text:
        return None
    match = AI_TOOLS.search(text)
    if match:
        return Label(source, field, text, f"names an AI tool ({match.group(0)})", True)
    if field.lower().endswith(("software", "creatortool", "encoder")):
        return Label(source, field, text, "", False)
    return None


def xmp_labels(packet: bytes) -> list[Label]:
    """Labels in one XMP packet (bytes), found by pattern."""
    packet = packet[:MAX_BLOCK]
    labels = []
    for name, pattern in XMP_FIELDS.items():
        for raw in pattern.findall(packet)[:5]:
            field = f"{XMP_PREFIX[name]}:{name}"
            if name == "DigitalSourceType":
                value = _clip(raw)
                key = source_type_key(value)
                labels.append(Label("XMP", field, value, SOURCE_TYPES.get(key, "unknown source type"),
                                    key in AI_SOURCE_TYPES))
            else:
                label = _tool_label("XMP", field, raw)
                if label:
                    labels.append(label)
    return labels


def _image_labels(path: str) -> list[Label]:
    from PIL import Image

    labels: list[Label] = []
    with Image.open(path) as image:  # reads the headers only; no pixels are decoded
        info = image.info
        for key in ("xmp", "XML:com.adobe.xmp"):
            packet = info.get(key)
            if isinstance(packet, str):
                packet = packet.encode("utf-8", "replace")
            if isinstance(packet, bytes) and len(packet) <= MAX_BLOCK:
                labels += xmp_labels(packet)
                break
        try:
            exif = image.getexif()
        except Exception:  # noqa: BLE001 - a damaged EXIF block is not our business here
            exif = {}
        for tag, name in EXIF_TAGS.items():
            if tag in exif:
                label = _tool_label("EXIF", name, exif[tag])
                if label:
                    labels.append(label)
        if image.format == "PNG":
            for key, generator in PNG_GENERATOR_KEYS.items():
                value = info.get(key)
                if isinstance(value, str) and value.strip():
                    labels.append(Label("PNG text", key, _clip(value), f"settings written by {generator}", True))
            for key in PNG_TEXT_KEYS:
                label = _tool_label("PNG text", key, info.get(key) or "")
                if label:
                    labels.append(label)
        comment = info.get("comment")
        if comment:
            label = _tool_label("JPEG comment", "Comment", comment)
            if label:
                labels.append(label)
    return labels


def _bmff_xmp(path: str) -> bytes | None:
    """The XMP packet of an MP4/MOV file: a top-level uuid box, or moov/udta/XMP_."""
    size = os.path.getsize(path)
    seen = 0

    def boxes(fh, start: int, end: int):
        nonlocal seen
        offset = start
        while offset + 8 <= end and seen < MAX_BOXES:
            seen += 1
            fh.seek(offset)
            header = fh.read(16)
            if len(header) < 8:
                return
            length, kind = struct.unpack(">I4s", header[:8])
            body = offset + 8
            if length == 1 and len(header) >= 16:
                length = struct.unpack(">Q", header[8:16])[0]
                body = offset + 16
            elif length == 0:
                length = end - offset
            if length < body - offset or offset + length > end:
                return
            yield kind, body, offset + length
            offset += length

    with open(path, "rb") as fh:
        for kind, body, end in boxes(fh, 0, size):
            if kind == b"uuid" and end - body - 16 <= MAX_BLOCK:
                fh.seek(body)
                if fh.read(16) == XMP_UUID:
                    return fh.read(end - body - 16)
            if kind == b"moov":
                for inner, ibody, iend in list(boxes(fh, body, end)):
                    if inner != b"udta":
                        continue
                    for leaf, lbody, lend in list(boxes(fh, ibody, iend)):
                        if leaf == b"XMP_" and lend - lbody <= MAX_BLOCK:
                            fh.seek(lbody)
                            return fh.read(lend - lbody)
    return None


def _video_labels(path: str) -> list[Label]:
    import av

    labels: list[Label] = []
    with av.open(path, metadata_errors="ignore") as container:
        tags = [("container tag", dict(container.metadata))]
        tags += [("stream tag", dict(stream.metadata)) for stream in list(container.streams)[:8]]
    for source, found in tags:
        lowered = {str(k).lower(): v for k, v in found.items()}
        for key in VIDEO_TAG_KEYS:
            if key in lowered:
                value = _clip(lowered[key])
                key_of = source_type_key(value)
                if key_of:
                    labels.append(Label(source, key, value, SOURCE_TYPES[key_of], key_of in AI_SOURCE_TYPES))
                    continue
                label = _tool_label(source, key, value)
                if label:
                    labels.append(label)
    packet = _bmff_xmp(path)
    if packet:
        labels += xmp_labels(packet)
    return labels


def read_labels(path: str, *, kind: str) -> list[Label]:
    """Every label found in the file (``kind``: "image" or "video"), duplicates removed, in order found."""
    found = _image_labels(path) if kind == "image" else _video_labels(path)
    unique: dict[tuple, Label] = {}
    for label in found:
        unique.setdefault((label.field, label.value), label)
    return list(unique.values())
