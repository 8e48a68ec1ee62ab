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

# Audio (ml/audio/): the voice detector's outcomes that are not a score.
NO_AUDIO = "no_audio"  # a video (or other container) with no sound track
NO_SPEECH = "no_speech"  # sound, but too little speech to judge (silence, music, noise)
AUDIO_UNREADABLE = "audio_unreadable"  # the sound track is damaged and cannot be decoded
AUDIO_TRUNCATED = "audio_truncated"  # the file ends well before its header says it should
