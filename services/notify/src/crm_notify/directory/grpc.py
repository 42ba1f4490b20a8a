"""The directory is served over REST; SendNotification resolves record references through it."""
