"""Perimeter simulators: signal models, radio channel, fleet runner and scorer (CPython)."""
