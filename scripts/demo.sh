#!/usr/bin/env bash
# Sets up .venv (pinned) and runs the demo. Until the simulated perimeter lands, the demo is
# the frame tool's round trip (every golden vector encoded and decoded by `perimeter frame`,
# then one frame built from JSON and piped through the decoder, as an installer would), then a
# small live perimeter: three frame-level nodes on a pty, the real gateway, a real Mosquitto.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
bin=.venv/bin
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== perimeter frame check-vectors (encrypted and plaintext golden vectors)"
"$bin/perimeter" frame check-vectors

# The vectors' site key, in a file only its owner can read, as the gateway will demand.
umask 077
"$bin/python" -c 'import json; print(json.load(open("protocol/vectors/frames.json"))["site_key"])' >"$work/site.key"
site_id="$("$bin/python" -c 'import json; print(json.load(open("protocol/vectors/frames.json"))["site_id"])')"
keyed=(--site-key-file "$work/site.key" --site-id "$site_id")

spec='{"type": "FENCE", "node_id": 12, "ctr": 4096, "ack_req": true,
       "fields": {"event_no": 7, "age_ds": 4, "class": "climb", "peak": 2200,
                  "noise_floor": 40, "pulses": 18, "duration_ds": 38}}'
echo
echo "== perimeter frame encode: a climb on node 12, as JSON"
echo "$spec"
frame="$("$bin/perimeter" frame encode "${keyed[@]}" "$spec")"
echo "-> serial frame: $frame (${#frame} hex digits = $(( ${#frame} / 2 )) bytes)"
echo
echo "== perimeter frame decode: the same frame back"
echo "$frame" | "$bin/perimeter" frame decode "${keyed[@]}" -
echo
echo "== the same frame replayed to a gateway that has seen ctr 4096"
"$bin/perimeter" frame decode "${keyed[@]}" --last-ctr 4096 "$frame" || true
echo
echo "== the same frame with one bit flipped on the line"
flipped="${frame:0:20}$(printf '%x' $(( 0x${frame:20:1} ^ 1 )))${frame:21}"
"$bin/perimeter" frame decode "${keyed[@]}" "$flipped" || true

echo
echo "== a live perimeter: three nodes on a pty, the real gateway, a real Mosquitto"
"$bin/python" -m simulators.gateway_demo
