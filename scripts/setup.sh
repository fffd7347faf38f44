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
# The node images (perimeter node build --board unix32|rp2) build MicroPython from the pinned
# sources in ../shared/third_party: the 32-bit unix port needs gcc-multilib, the RP2040 image
# the Arm toolchain, newlib and cmake. The images themselves are built on first use and
# cached in ~/.cache/perimeter (PERIMETER_CACHE), keyed by their inputs.
need=()
ls /usr/lib/gcc/x86_64-linux-gnu/*/32/libgcc.a >/dev/null 2>&1 || need+=(gcc-multilib)
command -v arm-none-eabi-gcc >/dev/null 2>&1 || need+=(gcc-arm-none-eabi)
[ -d /usr/lib/arm-none-eabi/newlib ] || need+=(libnewlib-arm-none-eabi)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
# The units perimeter site init writes are checked with systemd-analyze verify.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "setup: the node images need Debian's ${need[*]}; install them" >&2
    fi
fi
# The region's specs start a RabbitMQ cluster (MQTT plugin) and PostgreSQL with PostGIS of their own.
region=()
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || region+=(rabbitmq-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || region+=(postgresql)
ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || region+=(postgresql-15-postgis-3)
if [ ${#region[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${region[@]}" >/dev/null
    else
        echo "setup: the region's specs need Debian's ${region[*]}; install them" >&2
    fi
fi
# The RP2040 image runs on the rp2040js emulator (Node.js), pinned in simulators/rp2040.
if [ ! -d simulators/rp2040/node_modules/rp2040js ] && command -v npm >/dev/null 2>&1; then
    npm --prefix simulators/rp2040 ci --no-audit --no-fund --silent
fi
# The console draws the site plan with Leaflet, pinned in gateway/dashboard (and carried in the wheel).
if [ ! -f gateway/dashboard/node_modules/leaflet/dist/leaflet.js ] && command -v npm >/dev/null 2>&1; then
    npm --prefix gateway/dashboard ci --no-audit --no-fund --silent
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e '.[sim,region]'
# The MicroPython stubs of each port go in a folder of their own: the packages for two
# ports overwrite each other in one environment (device/mypy-stubs.ini says how they are used).
for port in esp32 rp2; do
    if [ ! -f ".venv/stubs/$port/machine.pyi" ]; then
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --target ".venv/stubs/$port" \
            -r "requirements-stubs-$port.txt"
    fi
done
