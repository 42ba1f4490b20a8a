"""Templates consume no events."""
