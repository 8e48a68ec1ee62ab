"""Tests of provenance/."""
