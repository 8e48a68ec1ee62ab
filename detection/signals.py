"""Signals that apps above detection connect to (in their AppConfig.ready), so detection never imports them."""
from django.dispatch import Signal

# Sent once a job's final state (done or failed) is committed; receivers must not raise into the worker.
# Keyword arguments: job_id (int), status ("done" | "failed").
job_ended = Signal()

# Sent inside a job, with the upload's file on this machine, before the detector runs (provenance reads its
# Content Credentials here). Receivers must never fail the job, but let the exceptions in ``passthrough``
# (the task's soft time limit) through. Keyword arguments: media (Media), path (str), passthrough (tuple).
job_file_opened = Signal()
