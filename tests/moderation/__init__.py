"""Tests of moderation/."""
