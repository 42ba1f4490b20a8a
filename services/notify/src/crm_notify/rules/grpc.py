"""Rules are managed over REST."""
