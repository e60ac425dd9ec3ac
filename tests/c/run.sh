#!/usr/bin/env bash
# Builds every C test in tests/c against csrc/ with AddressSanitizer and UBSan, and runs them.
# Usage: tests/c/run.sh [CC] [RUNNER]   e.g. tests/c/run.sh aarch64-linux-gnu-gcc "qemu-aarch64 -L /usr/aarch64-linux-gnu"
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cc="${1:-gcc}"
runner="${2:-}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
flags=(-std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror -I"$root/csrc")
if [ -z "$runner" ]; then
    flags+=(-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
else  # cross build: optimised as shipped, static so the emulator needs no target libraries
    flags+=(-O3 -fno-math-errno -fno-trapping-math -static)
fi
for test in "$here"/test_*.c; do
    name="$(basename "$test" .c)"
    "$cc" "${flags[@]}" "$test" "$root"/csrc/*.c -lm -o "$out/$name"
    $runner "$out/$name"
done
