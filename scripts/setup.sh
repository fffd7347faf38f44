#!/usr/bin/env bash
# Creates .venv beside the checkout and installs the pinned project and tooling into it;
# installs Mosquitto (broker and clients) and Chromium from Debian if the machine lacks them,
# since the gateway's tests run against a real broker and the dashboard's in a real browser.
# Idempotent: a second run only re-checks.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ] || ! command -v mosquitto_sub >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients >/dev/null
    else
        echo "setup: Mosquitto is missing; install the mosquitto and mosquitto-clients packages" >&2
    fi
fi
# The dashboard's browser specs drive Debian's Chromium (Playwright never downloads a browser here).
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "setup: Chromium is missing; install the chromium package for the dashboard's browser specs" >&2
    fi
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e '.[sim]'
# The MicroPython stubs of each port go in a folder of their own: the packages for two
# ports overwrite each other in one environment (device/mypy-stubs.ini says how they are used).
for port in esp32 rp2; do
    if [ ! -f ".venv/stubs/$port/machine.pyi" ]; then
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --target ".venv/stubs/$port" \
            -r "requirements-stubs-$port.txt"
    fi
done
