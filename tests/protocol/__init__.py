"""Protocol specs. Modules without `hypothesis`/`pytest` imports also run on MicroPython."""
