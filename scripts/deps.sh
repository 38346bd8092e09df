#!/bin/bash
# Installs the Debian packages riskpipe needs to build, run and test.
# As root (or with sudo) it runs apt-get; otherwise it prints the exact
# command and exits 1.  RISKPIPE_DEPS_TEST=1 adds the test-only packages.
set -euo pipefail

pkgs=(gcc make pkg-config libc6-dev
      libpq-dev postgresql-15 postgresql-contrib
      libopenblas-dev liblapacke-dev libjansson-dev libcmocka-dev)
if [ "${RISKPIPE_DEPS_TEST:-0}" = 1 ]; then
    pkgs+=(python3 python3-numpy python3-sklearn python3-statsmodels python3-pil valgrind chromium)
    # make fuzz: clang with libFuzzer and the sanitizer runtimes (issue 6)
    pkgs+=(clang-14 libclang-rt-14-dev)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" = 0 ]; then
    echo "riskpipe: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    echo "riskpipe: installing ${missing[*]} with sudo" >&2
    sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "riskpipe: missing Debian packages: ${missing[*]}" >&2
    echo "run as root:  sudo $line" >&2
    exit 1
fi
