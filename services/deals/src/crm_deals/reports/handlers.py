"""Reports consume no events: they read the opportunity table, which deals owns."""
