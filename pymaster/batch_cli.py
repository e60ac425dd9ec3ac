"""``pymaster batch``: master a catalogue on the local cores or a dask cluster.

Thin over :func:`pymaster.batch.run_batch`. Exit status: 0 every file done (or skipped as
already done), 1 some failed (see the results manifest), 2 usage error (nothing mastered),
130 interrupted.
"""
import argparse
import os
import sys

EXIT_FAILED = 1  # usage errors (2) and interruptions (130): pymaster.cli
MAX_LISTED = 20  # failures printed; the manifest has them all


def _clock(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _Bar:
    """One tqdm bar over the files, on a terminal only (never with -q or when piped)."""

    def __init__(self, enabled):
        self.enabled = enabled and sys.stderr.isatty()
        self.bar = None

    def __call__(self, p):
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm
            self.bar = tqdm(total=p.files_total, file=sys.stderr, leave=False,
                            bar_format="{percentage:3.0f}%|{bar}| {desc}")
        self.bar.update(p.files_done - self.bar.n)
        eta = "--:--:--" if p.eta_s is None else _clock(p.eta_s)
        failed = f", {p.failed} failed" if p.failed else ""
        self.bar.set_description_str(f"{p.files_done}/{p.files_total} files{failed}, "
                                 f"{p.x_realtime:.0f}x real time, ETA {eta}")

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_batch(args):
    import time

    from .batch import RESULTS_NAME, run_batch
    bar, started = _Bar(not args.quiet), time.perf_counter()
    try:
        results = run_batch(args.inputs, args.outdir, preset=args.preset, auto=args.auto,
                            target_lufs=args.target_lufs, ceiling_dbtp=args.ceiling_dbtp,
                            format=args.format, bit_depth=args.bit_depth, workers=args.workers,
                            scheduler=args.scheduler, manifest_path=args.manifest,
                            progress=bar)
    finally:
        bar.close()
    failed = [r for r in results if r["status"] == "failed"]
    for r in failed[:MAX_LISTED]:
        print(f"pymaster: failed: {r['error']}", file=sys.stderr)
    if len(failed) > MAX_LISTED:
        print(f"pymaster: ... and {len(failed) - MAX_LISTED} more failures", file=sys.stderr)
    if not args.quiet:
        count = {s: sum(r["status"] == s for r in results) for s in ("done", "skipped")}
        audio = sum(r["duration_s"] or 0 for r in results if r["status"] == "done")
        elapsed = time.perf_counter() - started
        warned = sum(bool(r["warnings"]) for r in results)
        if count["skipped"] == len(results):
            print(f"nothing to do: all {len(results)} files are already mastered with these "
                  "settings")
        else:
            print(f"{len(results)} files: {count['done']} mastered, {count['skipped']} already "
                  f"done, {len(failed)} failed, in {elapsed:.1f} s"
                  + (f" ({audio / elapsed:.0f}x real time)" if audio else "")
                  + (f"; {warned} with warnings" if warned else ""))
        print(f"results: {args.manifest or os.path.join(args.outdir, RESULTS_NAME)}")
    return EXIT_FAILED if failed else 0


def _workers(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers (1 or more)")
    return value


def add_commands(subparsers):
    """Register ``batch`` on the ``pymaster`` command's subparsers."""
    b = subparsers.add_parser(
        "batch", help="master many files (local cores or a dask cluster)",
        description="Master files, folders (recursively), globs and CSV manifests into OUTDIR, "
        "mirroring the input folders, one file per worker at a time. Re-running skips the "
        "outputs that are complete and valid. Exit status: 0 every file done, 1 some failed "
        "(see the results manifest), 2 usage error, 130 interrupted.",
        epilog="examples:\n"
        "  pymaster batch mixes/ -o masters/ --preset loud\n"
        "  pymaster batch 'mixes/**/*.flac' album.csv -o masters/ --auto --workers 2\n"
        "  pymaster batch mixes/ -o masters/ --scheduler tcp://10.0.0.5:8786")
    b.add_argument("inputs", nargs="+", metavar="INPUTS",
                   help="audio files, folders, globs, or .csv manifests (columns: path, preset, "
                   "target_lufs, ceiling_dbtp, title, artist, album, isrc, ...)")
    b.add_argument("-o", "--outdir", metavar="OUTDIR", required=True,
                   help="where the masters go (created if needed; never inside an input "
                   "folder)")
    which = b.add_mutually_exclusive_group()
    which.add_argument("--preset", help="preset name or .toml for every file (default: "
                       "streaming; a manifest row may name its own)")
    which.add_argument("--auto", action="store_true",
                       help="pick each file's preset from its loudness range and crest factor")
    b.add_argument("--target-lufs", type=float, metavar="X", help="override the target")
    b.add_argument("--ceiling-dbtp", type=float, metavar="Y", help="override the ceiling")
    b.add_argument("--format", choices=["wav", "flac"],
                   help="default: FLAC for FLAC inputs, WAV otherwise")
    b.add_argument("--bit-depth", choices=["16", "24", "32f"], help="default: the preset's")
    where = b.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_workers, metavar="N",
                       help="local worker processes (default: all cores)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on a dask.distributed cluster, e.g. tcp://host:8786")
    b.add_argument("--manifest", metavar="RESULTS.csv|.json",
                   help="the results manifest (default: OUTDIR/pymaster-results.csv)")
    b.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar and no summary (failures still show)")
    b.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show the traceback of an error")
    b.set_defaults(run=cmd_batch)
    return b

