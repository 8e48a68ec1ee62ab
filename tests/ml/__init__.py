"""Tests of ml/."""
