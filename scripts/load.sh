#!/bin/sh
# Load test of issue 2's "Speed" section against a release build:
#   scripts/load.sh [CALLS] [SECONDS]     (defaults 1000 and 20)
# Prints calls attempted/completed/failed, Frontdoor's CPU% and RSS, INVITE->200 p50/p99
# and the p50/p99 deviation of its RTP send times from the 20 ms schedule (captured on lo).
# Needs root (tcpdump). Not part of CI (CI runs the 50-call version via `cargo test`).
set -eu
CALLS="${1:-1000}"
SECONDS_PER_CALL="${2:-20}"
cd "$(dirname "$0")/.."

# sipp and frontdoor each hold a socket per call (RTP + RTCP) plus captures and logs.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release --bin frontdoor
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
export FRONTDOOR_LOAD_BINARY="$(cd "$TARGET_DIR/release" && pwd)/frontdoor"
export FRONTDOOR_LOAD_CALLS="$CALLS"
export FRONTDOOR_LOAD_SECONDS="$SECONDS_PER_CALL"
exec cargo test --release --test load -- --include-ignored --nocapture --test-threads=1
