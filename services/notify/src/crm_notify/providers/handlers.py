"""Providers consume no events."""
