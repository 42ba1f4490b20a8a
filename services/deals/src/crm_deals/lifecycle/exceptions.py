"""Lifecycle errors are PermanentEventError (dead letter) raised by the service for malformed events."""
