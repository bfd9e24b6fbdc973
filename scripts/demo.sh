#!/usr/bin/env bash
# The main job in one command: installs what is needed, builds, starts `frontdoor serve` on
# 127.0.0.1 with the default configuration, places a demo call to it with a real SIP client
# (sipp) that presses keys, saves what the caller heard to a WAV, prints the call summary and
# stops the server. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build --release --bin frontdoor
exec ./target/release/frontdoor demo "$@"
