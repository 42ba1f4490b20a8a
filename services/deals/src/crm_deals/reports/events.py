"""Reports publish no events."""
