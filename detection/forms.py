"""The upload form: one file, its accepted types named from ml.media.decode (the one list)."""
from django import forms

from .formats import PICKER_ACCEPT, TYPES


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Video, image or audio",
        help_text=f"Video: {TYPES['video']}. Image: {TYPES['image']}. Audio: {TYPES['audio']}.",
        widget=forms.ClearableFileInput(attrs={"accept": PICKER_ACCEPT}),
        error_messages={"required": "No file arrived. Choose a file, or try again if the upload was interrupted."},
        allow_empty_file=True,  # the upload service gives the clearer message for empty files
    )
