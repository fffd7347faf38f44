"""Gateway specs."""
