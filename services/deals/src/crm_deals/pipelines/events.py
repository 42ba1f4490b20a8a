"""Pipelines publish no events: stage changes are published by the opportunities domain."""
