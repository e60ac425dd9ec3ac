#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian/Ubuntu machine: gcc, the aarch64 cross
# compiler and qemu (the C core as on a Raspberry Pi), clang with libFuzzer and the sanitizer
# runtimes (the fuzz harnesses in tests/fuzz), a JACK server (dummy backend) and PortAudio for
# the live and MIDI tests (no sound card needed), systemd for systemd-analyze (the deploy units'
# check; no running systemd needed), then pymaster with its test extra.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(gcc libc6-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user jackd2
              libportaudio2 systemd clang libclang-rt-14-dev)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python3 -m pip install -q --upgrade pip
python3 -m pip install -q -e '.[test]'
