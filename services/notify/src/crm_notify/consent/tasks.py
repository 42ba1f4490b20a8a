"""Consent runs no tasks."""
