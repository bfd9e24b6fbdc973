#!/bin/bash
# Load test against a release build:
#   scripts/load.sh [CALLS] [SECONDS] [RUNS] [FLOW]     (defaults 1000, 20, 3 and demo)
# FLOW is `demo` (the DTMF demo menu, prompts playing, callers streaming a warble) or `council`
# (call-flows/council.yaml, the real job: speech listening on every call, callers streaming
# silence). Runs the load RUNS times against one `frontdoor serve` and prints, per run and as medians: calls attempted/completed/failed, Frontdoor's CPU% while
# the calls stream, its RSS before/peak/after, INVITE->200 p50/p99, and the p50/p99/max
# deviation of its RTP send times from the 20 ms schedule (tcpdump on lo, Frontdoor's
# source ports only). FRONTDOOR_LOAD_RATE sets the call arrival rate (default 1000/s).
# Needs root (tcpdump). Not part of CI (CI runs the 50-call version via `cargo test`).
# Every call comes from sipp on 127.0.0.1, far past the per-source defaults sized for a PBX
# trunk: tests/load.rs turns the `sip_limits` rates off and gives that source the whole call cap
# (docs/security.md, "Sizing the per-source limits").
set -euo pipefail
CALLS="${1:-1000}"
SECONDS_PER_CALL="${2:-20}"
RUNS="${3:-3}"
FLOW="${4:-demo}"
case "$FLOW" in demo|council) ;; *) echo "load.sh: FLOW must be demo or council" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."

# sipp and frontdoor each hold a socket per call (RTP + RTCP) plus captures and logs.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release --bin frontdoor
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
export FRONTDOOR_LOAD_BINARY="$(cd "$TARGET_DIR/release" && pwd)/frontdoor"
export FRONTDOOR_LOAD_CALLS="$CALLS"
export FRONTDOOR_LOAD_SECONDS="$SECONDS_PER_CALL"
export FRONTDOOR_LOAD_RUNS="$RUNS"
export FRONTDOOR_LOAD_FLOW="$FLOW"
cargo test --release --test load -- --include-ignored --nocapture --test-threads=1 \
    | tee "$TARGET_DIR/load-$FLOW-$CALLS.log"
# The summary table (cargo test interleaves it with its own lines).
sed -n '/^load summary:/,/^med /p' "$TARGET_DIR/load-$FLOW-$CALLS.log"
