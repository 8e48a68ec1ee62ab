"""Tests of detection/."""
