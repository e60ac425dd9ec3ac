#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/fuzz_*.c) with clang under AddressSanitizer and
# UBSan into OUTDIR (default: tests/fuzz/build). The C core is compiled once (clang takes the
# portable code paths: the x86-64-v3 clones are GCC-only) and linked into each harness.
# Usage: tests/fuzz/build.sh [OUTDIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here/build}"
cc="${CC_FUZZ:-clang}"
mkdir -p "$out/obj"
pids=()
wait_all() {  # every background compile must succeed
    for pid in "${pids[@]}"; do wait "$pid"; done
    pids=()
}
flags=(-std=gnu11 -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all -I"$root/csrc")
for src in "$root"/csrc/*.c; do
    "$cc" "${flags[@]}" -fsanitize=fuzzer-no-link,address,undefined -c "$src" \
        -o "$out/obj/$(basename "$src" .c).o" &
    pids+=($!)
done
wait_all
for harness in "$here"/fuzz_*.c; do
    "$cc" "${flags[@]}" -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined "$harness" \
        "$out"/obj/*.o -lm -o "$out/$(basename "$harness" .c)" &
    pids+=($!)
done
wait_all
