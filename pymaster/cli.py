"""The ``pymaster`` command: master, analyze, presets, demo. Thin: each maps to one library call.

Exit status: 0 done; 2 error (one line on stderr, a traceback only with --debug); 3 target not
reached with --strict (nothing written); 130 interrupted.
"""
import argparse
import json
import os
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
    progress = _Progress(not args.quiet)
    try:
        write_demo(args.output, args.seconds, args.sample_rate, args.seed, args.overwrite,
                   progress=progress)
    finally:
        progress.close()
    if not args.quiet:
        print(f"wrote a {args.seconds:g} s demo mix ({args.sample_rate} Hz, stereo, 24-bit): "
              f"{args.output}")
    return 0


class HelpFormatter(argparse.HelpFormatter):
    """Wraps each paragraph of a description or epilog on its own; a paragraph with indented
    lines (examples) stays as written."""

    def _fill_text(self, text, width, indent):
        def fill(part):
            if any(line.startswith("  ") for line in part.splitlines()):
                return "\n".join(indent + line for line in part.splitlines())
            return super(HelpFormatter, self)._fill_text(part, width, indent)
        return "\n\n".join(fill(part) for part in text.split("\n\n"))


class ArgumentParser(argparse.ArgumentParser):
    """argparse with :class:`HelpFormatter`; the subcommands' parsers are of this class too."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def _examples(*lines):
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def build_parser():
    debug = ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the traceback of an error")
    parser = ArgumentParser(
        prog="pymaster", description="Audio mastering: EQ, glue compression and a true-peak "
        "limiter that hit a loudness target. `pymaster COMMAND --help` describes a command.",
        epilog=_examples("pymaster demo mix.wav",
                         "pymaster master mix.wav -o master.wav --plot master.png",
                         "pymaster batch mixes/ -o masters/ --auto"))
    parser.add_argument("--version", action="version", version=f"pymaster {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    m = commands.add_parser(
        "master", parents=[debug], help="master a file",
        description="Master IN to a loudness target under a true-peak ceiling and write OUT "
        "(WAV or FLAC). Exit status: 0 done, 2 error, 3 target not reached with --strict, "
        "130 interrupted.",
        epilog=_examples("pymaster master mix.wav -o master.wav",
                         "pymaster master mix.flac -o master.flac --preset loud --title Song",
                         "pymaster master mix.wav -o m.wav --target-lufs -12 --plot m.png"))
    m.add_argument("input", metavar="IN",
                   help="the mix: WAV, FLAC, AIFF, OGG, MP3..., mono or stereo")
    m.add_argument("-o", "--output", metavar="OUT", required=True,
                   help="the master to write: .wav or .flac (never IN)")
    m.add_argument("--preset", default="streaming",
                   help="built-in preset name (see `pymaster presets`) or a .toml file; "
                   "default: streaming")
    m.add_argument("--target-lufs", type=float, metavar="X",
                   help="integrated loudness target, LUFS (default: the preset's)")
    m.add_argument("--ceiling-dbtp", type=float, metavar="Y",
                   help="true-peak ceiling, dBTP (default: the preset's)")
    m.add_argument("--format", choices=["wav", "flac"],
                   help="file format of OUT (default: from its extension)")
    m.add_argument("--bit-depth", choices=["16", "24", "32f"],
                   help="16 or 24 (TPDF dithered) or 32-bit float; default: the preset's")
    m.add_argument("--sample-rate", type=int, metavar="N",
                   help="resample to N Hz before the chain (default: the preset's, else IN's)")
    m.add_argument("--report", metavar="REPORT.json", help="also write a JSON report")
    m.add_argument("--plot", metavar="PLOT.png",
                   help="also write a PNG plot: loudness, gain reduction, spectrum")
    for tag in ("title", "artist", "album", "date", "genre", "track", "comment", "copyright"):
        m.add_argument(f"--{tag}", help=f"the {tag} tag")
    m.add_argument("--isrc", help="the ISRC tag, CC-XXX-YY-NNNNN (checked)")
    m.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    m.add_argument("--strict", action="store_true",
                   help="fail (exit 3, nothing written) if the target cannot be reached")
    m.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bars and no summary (warnings and errors still show)")
    m.set_defaults(run=cmd_master)

    a = commands.add_parser(
        "analyze", parents=[debug], help="measure a file",
        description="Measure IN: integrated, momentary and short-term loudness (BS.1770-4), "
        "loudness range, true peak, sample peak, crest factor, PLR, DC offset.",
        epilog=_examples("pymaster analyze master.wav", "pymaster analyze master.wav --json"))
    a.add_argument("input", metavar="IN", help="any audio file soundfile reads")
    a.add_argument("--json", action="store_true",
                   help="print one JSON object (null where undefined, e.g. silence)")
    a.set_defaults(run=cmd_analyze)

    p = commands.add_parser(
        "presets", parents=[debug], help="list the presets",
        description="List the built-in presets: loudness target, true-peak ceiling and what "
        "each is for (loudest first). `--preset FILE.toml` takes your own: see the README.",
        epilog=_examples("pymaster presets", "pymaster presets --json"))
    p.add_argument("--json", action="store_true",
                   help="print a JSON list (name, integrated_lufs, ceiling_dbtp, description, "
                   "path)")
    p.set_defaults(run=cmd_presets)

    d = commands.add_parser(
        "demo", parents=[debug], help="write a demo mix to master",
        description="Write a demo mix to try pymaster on: drums, bass, chords and a lead with "
        "quiet and loud sections, unmastered (about -18 LUFS, peaks at -3 dBFS), as a 24-bit "
        "stereo WAV. The same seed gives the same mix.",
        epilog=_examples("pymaster demo demo_mix.wav",
                         "pymaster demo long.wav --seconds 180 --sample-rate 48000 --seed 2"))
    d.add_argument("output", metavar="OUT", help="the WAV file to write")
    d.add_argument("--seconds", type=float, default=30.0, metavar="S",
                   help="length, 1..600 s (default 30)")
    d.add_argument("--sample-rate", type=int, default=44100, metavar="N",
                   help="8000..192000 Hz (default 44100)")
    d.add_argument("--seed", type=int, default=0,
                   help="another seed, another mix (default 0)")
    d.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    d.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar and no summary line")
    d.set_defaults(run=cmd_demo)

    from .batch_cli import add_commands as add_batch_commands  # batch
    add_batch_commands(commands)
    from .live_cli import add_commands as add_live_commands  # devices, live
    add_live_commands(commands)
    return parser


# A reader that stops early (`pymaster presets --json | head -3`) closes our stdout. The
# convention of command-line tools: stop at once, quietly, with the status of a process ended
# by SIGPIPE as the shell shows it (128 + 13 = 141): not 0, since the output was cut short, and
# not 2 (an error), since nothing went wrong. Python ignores SIGPIPE (sockets need EPIPE), so
# this is done by hand: the write fails with BrokenPipeError, which main() turns into that.
EXIT_PIPE_CLOSED = 128 + getattr(signal, "SIGPIPE", 13)


def _closed_stream(fd):
    """True if `fd` is a pipe or socket whose reader is gone (or if that cannot be told)."""
    try:
        import select
        poller = select.poll()
    except (ImportError, AttributeError):  # no poll (Windows): assume it is closed
        return True
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _closed_outputs():
    """The file descriptors of stdout and stderr whose reader is gone."""
    closed = []
    for stream in (sys.stdout, sys.stderr):
        try:
            fd = stream.fileno()
        except (AttributeError, ValueError, OSError):  # replaced (e.g. by a test harness)
            continue
        if _closed_stream(fd):
            closed.append(fd)
    return closed


def main(argv=None):
    """Entry point of the ``pymaster`` console script; returns the exit status."""
    try:
        try:
            return _main(argv)
        finally:
            if sys.stdout:
                sys.stdout.flush()  # a closed pipe shows here, not at interpreter shutdown
    except BrokenPipeError:
        # Whatever is still buffered goes to /dev/null: the interpreter's final flush must
        # not fail again (`Exception ignored ... BrokenPipeError`).
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in _closed_outputs():
            os.dup2(devnull, fd)
        os.close(devnull)
        return EXIT_PIPE_CLOSED


def _main(argv):
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
        if isinstance(exc, BrokenPipeError) and _closed_outputs():
            raise  # our reader is gone (not some other pipe): main() ends quietly
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
