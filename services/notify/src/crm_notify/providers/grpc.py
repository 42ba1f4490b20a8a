"""Providers are configured over REST only."""
