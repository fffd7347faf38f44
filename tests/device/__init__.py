"""Device (firmware) specs; the plain-assert modules also run on MicroPython."""
