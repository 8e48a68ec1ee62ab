"""Receivers for detection's signals: an upload's provenance is read while its job has the file open."""
from .services import provenance_read


def on_job_file_opened(sender, *, media, path: str, passthrough: tuple = (), **kwargs) -> None:
    provenance_read(media=media, path=path, passthrough=passthrough)  # logs and returns on any other failure
