"""Runs spec modules on MicroPython: every `test_*` function, one PASS/FAIL line each.

    micropython tests/micropython_runner.py tests.protocol.test_vectors [...]

Ends with pytest's kind of summary line and exits 1 if any spec failed.
"""

import gc
import sys


def _root():
    parts = __file__.rsplit("/", 2)
    return parts[0] if len(parts) == 3 else "."


def _module(dotted):
    module = __import__(dotted)
    for part in dotted.split(".")[1:]:
        module = getattr(module, part)
    return module


def main(names):
    # The checkout (or compiled tree) instead of this script's own folder, where `device`
    # would name tests/device rather than the node's package.
    sys.path[0] = _root()
    passed = failed = 0
    for dotted in names:
        module = _module(dotted)
        for name in sorted(dir(module)):
            if not name.startswith("test_"):
                continue
            gc.collect()
            try:
                getattr(module, name)()
            except Exception as exc:  # report every failure, keep running the rest
                failed += 1
                print("FAIL %s::%s" % (dotted, name))
                sys.print_exception(exc)
            else:
                passed += 1
                print("PASS %s::%s" % (dotted, name))
    gc.collect()
    print("heap in use after specs: %d bytes" % gc.mem_alloc())
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


sys.exit(main(sys.argv[1:]))
