"""Consent is managed over REST."""
