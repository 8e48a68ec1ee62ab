"""Sent once a job's final state (done or failed) is committed; receivers must not raise into the worker."""
from django.dispatch import Signal

# Keyword arguments: job_id (int), status ("done" | "failed").
job_ended = Signal()
