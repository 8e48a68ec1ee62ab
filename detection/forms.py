from django import forms


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Video, image or audio",
        help_text="Video: mp4, mov, webm, avi, mkv. Image: jpg, png, webp. Audio: wav, mp3, m4a, aac, ogg, opus, flac.",
        widget=forms.ClearableFileInput(attrs={"accept": "video/*,image/jpeg,image/png,image/webp,audio/*"}),
        error_messages={"required": "No file arrived. Choose a file, or try again if the upload was interrupted."},
        allow_empty_file=True,  # the upload service gives the clearer message for empty files
    )
