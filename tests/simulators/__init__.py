"""Simulator specs."""
