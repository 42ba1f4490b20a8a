"""The directory runs no tasks."""
