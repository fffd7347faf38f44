"""Stores for the device specs: RAM that counts its writes (what a flash write costs), and
fresh file paths for the real file store. Runs on CPython and MicroPython."""

import os


class CountingStore:
    """A store that remembers values in RAM and counts writes (what a flash write costs)."""

    def __init__(self, values=None):
        self.values = dict(values or {})
        self.writes = 0

    def get(self, name, default=0):
        return self.values.get(name, default)

    def set(self, name, value):
        self.values[name] = value
        self.writes += 1


def _tmp(name):
    base = os.getenv("TMPDIR") or "/tmp"
    path = "%s/perimeter-spec-%s-%d" % (base, name, os.getpid() if hasattr(os, "getpid") else 0)
    for leftover in (path, path + ".new"):
        try:
            os.remove(leftover)
        except OSError:
            pass
    return path
