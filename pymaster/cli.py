"""The ``pymaster`` command: master, analyze, presets, demo. Thin: each maps to one library call.

Exit status: 0 done; 2 error (one line on stderr, a traceback only with --debug); 3 target not
reached with --strict (nothing written); 130 interrupted.
"""
import argparse
import json
import signal
import sys

from . import __version__

EXIT_ERROR, EXIT_NOT_REACHED, EXIT_INTERRUPTED = 2, 3, 130


def _fmt(value, unit="", spec=".2f"):
    return "-inf" if value is None or value == float("-inf") else f"{value:{spec}}{unit}"


class _Progress:
    """tqdm bars, one per stage, on a terminal only (never with -q or when piped)."""

    def __init__(self, enabled):
        self.enabled = enabled and sys.stderr.isatty()
        self.bar, self.stage = None, None

    def __call__(self, stage, done, total):
        if not self.enabled:
            return
        if stage != self.stage:
            self.close()
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=f"{stage:>9}", unit="frames", unit_scale=True,
                            leave=False, file=sys.stderr)
            self.stage = stage
        self.bar.update(done - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar, self.stage = None, None


def cmd_master(args):
    from .metadata import FIELDS
    from .render import master
    progress = _Progress(not args.quiet)
    try:
        report = master(
            args.input, args.output, preset=args.preset, target_lufs=args.target_lufs,
            ceiling_dbtp=args.ceiling_dbtp, format=args.format, bit_depth=args.bit_depth,
            sample_rate=args.sample_rate, tags={k: getattr(args, k) for k in FIELDS},
            overwrite=args.overwrite, report_path=args.report, plot_path=args.plot,
            strict=args.strict, progress=progress)
    finally:
        progress.close()
    for warning in report["warnings"]:
        print(f"pymaster: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        out, target, gr = report["output"], report["target"], report["gain_reduction"]
        renders = len(report["renders"])
        print(f"mastered {args.input} -> {args.output}\n"
              f"  loudness   {_fmt(out['integrated_lufs'], ' LUFS')} "
              f"(target {target['integrated_lufs']:g})   true peak "
              f"{_fmt(out['true_peak_dbtp'], ' dBTP')} (ceiling {target['ceiling_dbtp']:g})\n"
              f"  limiter    max {gr['limiter_max_db']:.1f} dB, mean {gr['limiter_mean_db']:.1f} dB"
              f"   LRA {_fmt(out['loudness_range_lu'], ' LU', '.1f')}\n"
              f"  delivery   {report['delivery']['format']}, {report['delivery']['bit_depth']}"
              f" bit, {report['delivery']['sample_rate']} Hz, preset {report['preset']['name']}"
              f"\n  speed      {report['speed_x_realtime']:.0f}x real time "
              f"({renders} render{'s' if renders > 1 else ''})")
        if args.report:
            print(f"report: {args.report}")
        if args.plot:
            print(f"plot: {args.plot}")
    return 0


def cmd_analyze(args):
    from .analysis import KEYS, analyze
    from .report import jsonable
    result = analyze(args.input)
    if args.json:
        print(json.dumps(jsonable({k: result[k] for k in KEYS})))
        return 0
    units = {"lufs": " LUFS", "_lu": " LU", "dbtp": " dBTP", "dbfs": " dBFS", "_db": " dB",
             "_s": " s"}
    for key in KEYS:
        unit = next((u for suffix, u in units.items() if key.endswith(suffix)), "")
        value = result[key]
        text = _fmt(value, unit, ".4f" if key == "dc_offset" else ".2f") \
            if isinstance(value, float) else f"{value}"
        print(f"{key:<20} {text}")
    return 0


def cmd_presets(args):
    from .presets import list_presets
    presets = list_presets()
    if args.json:
        print(json.dumps([{"name": p.name, "integrated_lufs": p.target_lufs,
                           "ceiling_dbtp": p.ceiling_dbtp, "description": p.description,
                           "path": p.path} for p in presets], indent=2))
        return 0
    print(f"{'preset':<11} {'target':>10} {'ceiling':>10}  description")
    for p in presets:
        print(f"{p.name:<11} {p.target_lufs:>5g} LUFS {p.ceiling_dbtp:>5g} dBTP  {p.description}")
    return 0


def cmd_demo(args):
    from .demo import write_demo
    write_demo(args.output, args.seconds, args.sample_rate, args.seed, args.overwrite)
    if not args.quiet:
        print(f"wrote a {args.seconds:g} s demo mix ({args.sample_rate} Hz, stereo, 24-bit): "
              f"{args.output}")
    return 0


def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error")
    common.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar and no summary (warnings and errors still show)")
    parser = argparse.ArgumentParser(
        prog="pymaster", description="Audio mastering: EQ, glue compression and a true-peak "
        "limiter that hit a loudness target.")
    parser.add_argument("--version", action="version", version=f"pymaster {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    m = commands.add_parser("master", parents=[common], help="master a file",
                            description="Master IN to a loudness target under a true-peak "
                            "ceiling and write OUT (WAV or FLAC).")
    m.add_argument("input", metavar="IN")
    m.add_argument("-o", "--output", metavar="OUT", required=True)
    m.add_argument("--preset", default="streaming",
                   help="built-in preset name (see `pymaster presets`) or a .toml file; "
                   "default: streaming")
    m.add_argument("--target-lufs", type=float, metavar="X", help="override the target")
    m.add_argument("--ceiling-dbtp", type=float, metavar="Y", help="override the ceiling")
    m.add_argument("--format", choices=["wav", "flac"], help="default: OUT's extension")
    m.add_argument("--bit-depth", choices=["16", "24", "32f"], help="default: the preset's")
    m.add_argument("--sample-rate", type=int, metavar="N", help="resample the output")
    m.add_argument("--report", metavar="REPORT.json", help="write a JSON report")
    m.add_argument("--plot", metavar="PLOT.png", help="write a PNG plot")
    for tag in ("title", "artist", "album", "date", "genre", "track", "comment", "copyright"):
        m.add_argument(f"--{tag}", help=f"{tag} tag")
    m.add_argument("--isrc", help="ISRC, CC-XXX-YY-NNNNN")
    m.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    m.add_argument("--strict", action="store_true",
                   help="fail (exit 3, nothing written) if the target cannot be reached")
    m.set_defaults(run=cmd_master)

    a = commands.add_parser("analyze", parents=[common], help="measure a file")
    a.add_argument("input", metavar="IN")
    a.add_argument("--json", action="store_true", help="one JSON object")
    a.set_defaults(run=cmd_analyze)

    p = commands.add_parser("presets", parents=[common], help="list the presets")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_presets)

    d = commands.add_parser("demo", parents=[common], help="write a demo mix to master")
    d.add_argument("output", metavar="OUT")
    d.add_argument("--seconds", type=float, default=30.0)
    d.add_argument("--sample-rate", type=int, default=44100)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--overwrite", action="store_true")
    d.set_defaults(run=cmd_demo)

    from .batch_cli import add_commands as add_batch_commands  # batch
    add_batch_commands(commands)
    from .live_cli import add_commands as add_live_commands  # devices, live
    add_live_commands(commands)
    return parser


def main(argv=None):
    """Entry point of the ``pymaster`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so temporary files are removed on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    from .errors import UserError
    from .render import TargetNotReached
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("pymaster: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        code = EXIT_NOT_REACHED if isinstance(exc, TargetNotReached) else EXIT_ERROR
        if isinstance(exc, UserError):  # may list choices on further lines (e.g. devices)
            message = str(exc).strip()
        elif isinstance(exc, ValueError):
            message = " ".join(str(exc).split())
        else:  # not expected: still one line, the traceback is one flag away
            message = " ".join(f"{type(exc).__name__}: {exc} (run with --debug for details)"
                               .split())
        print(f"pymaster: error: {message}", file=sys.stderr)
        return code
