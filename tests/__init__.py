"""Perimeter test suite: one folder per room, plus e2e."""
