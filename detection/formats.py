"""The accepted formats as the pages, the form, the API docs and the file views name them.

Every list here is read from ``ml.media.decode``, the one home of what is accepted; nothing is spelt out twice.
"""
from ml.media.decode import ACCEPTED_WORDS, AUDIO_NAMES, CONTENT_TYPES, IMAGE_NAMES, VIDEO_CODECS, VIDEO_NAMES

TYPES = {"video": ", ".join(VIDEO_NAMES), "image": ", ".join(IMAGE_NAMES), "audio": ", ".join(AUDIO_NAMES)}
IN_WORDS = ACCEPTED_WORDS  # "video (mp4, ...), image (jpg, png, webp) or audio file (wav, ...)"

# A hint for the file picker only (the type is decided from the content): every name we take, and the image
# types by content type.
PICKER_ACCEPT = ",".join(["video/*", *(CONTENT_TYPES[name] for name in IMAGE_NAMES), "audio/*"]
                         + [f".{name}" for name in VIDEO_NAMES + AUDIO_NAMES])


def content_type(fmt: str) -> str:
    """The content type a stored format is served as."""
    return CONTENT_TYPES.get(fmt, "application/octet-stream")


def page_context() -> dict:
    """The lists for a page's template: ``video_types``, ``video_codecs``, ``image_types``, ``audio_types``."""
    return {"video_types": TYPES["video"], "video_codecs": VIDEO_CODECS, "image_types": TYPES["image"],
            "audio_types": TYPES["audio"]}
