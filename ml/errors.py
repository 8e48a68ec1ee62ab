"""Errors a person can act on. Each has a stable code the portal stores on the job."""


class MediaError(Exception):
    """The input file cannot be analysed; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# Stable error codes (the portal maps them to failed jobs).
EMPTY_FILE = "empty_file"
UNSUPPORTED_TYPE = "unsupported_type"
CORRUPT_MEDIA = "corrupt_media"
TOO_LONG = "too_long"
TOO_LARGE = "too_large"
NO_FACE = "no_face"
