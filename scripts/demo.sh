#!/usr/bin/env bash
# Sets up .venv (pinned) and runs the demo: `perimeter demo`, the bundled scenario
# (simulators/scenarios/demo.toml) with its nodes running the real firmware on MicroPython,
# the real gateway and a Mosquitto of its own. Alarms are shown as the security office gets
# them, then the score table. Extra arguments go to `perimeter demo`, e.g.
# `scripts/demo.sh --mqtt mqtt://127.0.0.1:1883` to forward to a broker you watch, or
# `--speed 1` for real time (the default, 2, runs the 4-minute scenario in 2 minutes).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
exec .venv/bin/perimeter demo --report "${PERIMETER_DEMO_REPORT:-demo-report}" "$@"
