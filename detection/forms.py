"""The upload form: one file, its accepted types named from ml.media.decode (the one list)."""
from django import forms

from ml.media.decode import AUDIO_NAMES, IMAGE_NAMES, VIDEO_NAMES


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Video, image or audio",
        help_text=f"Video: {', '.join(VIDEO_NAMES)}. Image: {', '.join(IMAGE_NAMES)}. Audio: {', '.join(AUDIO_NAMES)}.",
        # A hint for the file picker only (the type is decided from the content): every name we take.
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(
            ["video/*", "image/jpeg", "image/png", "image/webp", "audio/*"]
            + [f".{name}" for name in VIDEO_NAMES + AUDIO_NAMES])}),
        error_messages={"required": "No file arrived. Choose a file, or try again if the upload was interrupted."},
        allow_empty_file=True,  # the upload service gives the clearer message for empty files
    )
