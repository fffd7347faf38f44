#!/usr/bin/env bash
# Creates .venv beside the checkout and installs the pinned project and tooling into it.
# Idempotent: a second run only re-checks the pins.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e .
