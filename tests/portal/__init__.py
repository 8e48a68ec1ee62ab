"""Tests of the project as a whole (pages, layout, setup, security)."""
