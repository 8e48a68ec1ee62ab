"""Tests of live/."""
