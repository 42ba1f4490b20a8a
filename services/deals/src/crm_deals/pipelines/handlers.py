"""Pipelines consume no events."""
