"""Perimeter node firmware (MicroPython): HAL, drivers, detectors, link, supervisor.

Imports nothing itself, so a board loads only the modules it uses.
"""
