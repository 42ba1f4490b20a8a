"""Templates publish no events."""
