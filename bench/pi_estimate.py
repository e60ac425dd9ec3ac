"""Per-block CPU estimate of the live path on a Raspberry Pi 4 (Cortex-A72), made without a Pi.

    python bench/pi_estimate.py [--frames 64] [--blocks 50 250]

1. Cross-compiles bench/pi_block.c with the C core for aarch64 (Debian's gcc-aarch64-linux-gnu),
   with the flags of the Python build (-O3 -fno-math-errno -fno-trapping-math), static.
2. Runs it under qemu-aarch64 with ``-d in_asm,exec,nochain``: every translated block's
   instructions are listed once and every execution of a block is logged, so the sum is the
   exact count of aarch64 instructions executed. Two run lengths are differenced, so start-up
   and the material table cancel out: what remains is instructions per block of the chain
   (pm_chain_process_device with 4-band EQ, compressor, busy 4x true-peak limiter and meter).
3. Converts to time with an assumed A72 IPC (instructions per cycle) and clock: a Pi 4 runs at
   1.5 GHz (1.8 GHz on boards from 2020 on). IPC 1.0 is a pessimistic figure for this
   float-heavy, vectorised code on a 3-wide out-of-order core; 1.5 a typical one.
The audio callback itself is C (pm_live_callback calls pm_chain_process_device and bumps
counters): no Python runs on the audio thread, so nothing else is added.

Needs: gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user (all in .ci/run).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["-std=gnu11", "-O3", "-fno-math-errno", "-fno-trapping-math", "-static"]
CLOCKS_GHZ = (1.5, 1.8)
IPCS = (1.0, 1.5)
RATE = 48000

_IN = re.compile(r"^0x([0-9a-f]+):\s")
_EXEC = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")


def build(out):
    sources = [str(ROOT / "bench" / "pi_block.c")] + sorted(str(p) for p in
                                                            (ROOT / "csrc").glob("*.c"))
    subprocess.run(["aarch64-linux-gnu-gcc", *FLAGS, f"-I{ROOT / 'csrc'}", *sources, "-lm",
                    "-o", out], check=True)


def count_instructions(binary, blocks, frames):
    """Executed aarch64 instructions of one run (qemu's TB log, parsed as it streams)."""
    proc = subprocess.Popen(["qemu-aarch64", "-d", "in_asm,exec,nochain", binary, str(blocks),
                             str(frames)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, bufsize=1 << 20)
    sizes, total, current, n = {}, 0, None, 0
    for line in proc.stderr:
        if line.startswith("Trace"):
            m = _EXEC.match(line)
            total += sizes[int(m.group(1), 16)]
        elif line.startswith("0x"):
            m = _IN.match(line)
            if m:
                if current is None:
                    current = int(m.group(1), 16)
                n += 1
        elif current is not None:  # end of an IN: listing
            sizes[current], current, n = n, None, 0
    if proc.wait() != 0:
        raise RuntimeError(f"{binary} failed under qemu")
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--blocks", type=int, nargs=2, default=(50, 250))
    args = parser.parse_args(argv)
    frames, (b1, b2) = args.frames, args.blocks
    period_us = frames / RATE * 1e6
    with tempfile.TemporaryDirectory() as tmp:
        binary = os.path.join(tmp, "pi_block")
        build(binary)
        i1, i2 = (count_instructions(binary, b, frames) for b in (b1, b2))
    per_block = (i2 - i1) / (b2 - b1)
    print(f"aarch64 instructions per {frames}-frame block (chain, C): {per_block:,.0f} "
          f"({per_block / frames:,.0f} per frame)")
    print(f"block period at {RATE} Hz: {period_us:.0f} us")
    for ghz in CLOCKS_GHZ:
        for ipc in IPCS:
            c_us = per_block / (ipc * ghz * 1e3)
            print(f"  A72 {ghz} GHz, IPC {ipc}: {c_us:5.1f} us per callback "
                  f"({100 * c_us / period_us:4.1f}% of the period)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
