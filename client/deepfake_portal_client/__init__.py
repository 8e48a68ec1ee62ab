"""A client for the Deepfake Portal REST API, using only the standard library."""
from .client import PortalClient, PortalError, evidence_summary

__all__ = ["PortalClient", "PortalError", "evidence_summary"]
