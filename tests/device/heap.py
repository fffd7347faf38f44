"""Proof of no allocation: on MicroPython a call runs with the heap locked, so any
allocation raises MemoryError; on CPython (which has no such lock) the call just runs.
It takes one argument, because a `*args` call allocates on MicroPython."""

try:
    import micropython

    def without_allocation(function, arg):
        micropython.heap_lock()
        try:
            return function(arg)
        finally:
            micropython.heap_unlock()

except ImportError:

    def without_allocation(function, arg):
        return function(arg)
