#!/usr/bin/env bash
# Fuzzes one harness by hand, as long as you like: builds every harness into tests/fuzz/build,
# then runs HARNESS on its checked-in corpus with any libFuzzer flags. New inputs go to
# tests/fuzz/build/corpus-HARNESS, crashes to tests/fuzz/build/ (fix, then copy the crashing
# input into tests/fuzz/corpus/HARNESS/ as a regression case).
# Usage: tests/fuzz/run.sh HARNESS [libFuzzer flags]
#   e.g. tests/fuzz/run.sh fuzz_chain -max_total_time=3600 -jobs=2 -workers=2
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -lt 1 ]; then
    echo "usage: $0 HARNESS [libFuzzer flags]; harnesses:" $(cd "$here" && ls fuzz_*.c) >&2
    exit 2
fi
name="$(basename "$1" .c)"
shift
bash "$here/build.sh" "$here/build"
mkdir -p "$here/build/corpus-$name"
cd "$here/build"
exec "./$name" -max_len=4096 -artifact_prefix="$here/build/" "$@" \
    "corpus-$name" "$here/corpus/$name"
