#!/usr/bin/env bash
# Sets up .venv (pinned) and runs the whole test suite: CPython specs, the same protocol specs
# on the real MicroPython interpreter, hypothesis properties and the CLI. Extra arguments go
# to pytest (e.g. scripts/test.sh -k vectors).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
exec .venv/bin/python -m pytest "$@"
