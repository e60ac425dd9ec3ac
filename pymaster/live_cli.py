"""The ``devices`` and ``live`` subcommands; pymaster's CLI wires them in with add_commands.

Each maps to one library call (:func:`pymaster.devices.list_devices`,
:func:`pymaster.live_run.run_live`). ``python -m pymaster.live_cli`` runs them on their own.
"""
import argparse
import json
import logging
import os
import sys

from .errors import UserError


def _devices(args):
    from .devices import format_devices, host_api_names, list_devices, portaudio

    sd = portaudio()
    found = list_devices(sd)
    if args.json:
        print(json.dumps({"host_apis": host_api_names(sd), "devices": found}, indent=2))
    else:
        print(format_devices(found, host_api_names(sd)))
    return 0


def _live(args):
    from .live import BackendStuck
    from .live_run import EXIT_RESTART, run_live, setup_logging

    setup_logging()
    if args.midi:
        logging.getLogger("pymaster.live").warning(
            "--midi %s: MIDI control arrives with issue 5; running without it", args.midi)
    try:
        return run_live(args.device, args.preset, input_gain_db=args.input_gain_db,
                        headless=args.headless, log_interval_s=args.log_interval,
                        duration_s=args.duration)
    except BackendStuck:
        # PortAudio would hang in its exit handler on the dead stream: leave at once.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(EXIT_RESTART)


def add_commands(subparsers):
    """Register ``devices`` and ``live`` on an argparse subparsers object.

    Each parser gets ``run(args) -> exit status``, as pymaster.cli dispatches; a
    :class:`pymaster.errors.UserError` raised by it is printed with exit status 2 (see
    :func:`main`).
    """
    p = subparsers.add_parser("devices", help="list audio devices, host APIs, channels, rates")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_devices)

    p = subparsers.add_parser("live", help="master live through an audio interface",
                              description="Runs until Ctrl-C or SIGTERM. With --headless, SIGHUP "
                              "reloads the device config and the preset without stopping audio.")
    p.add_argument("--device", required=True, metavar="CONFIG",
                   help="device config: configs/devices/NAME.toml, or just NAME")
    p.add_argument("--preset", metavar="P", help="preset name or .toml file")
    p.add_argument("--midi", metavar="MAP.toml", help="MIDI controller map (issue 5)")
    p.add_argument("--headless", action="store_true",
                   help="no terminal display: log meters to stderr, wait for a missing device")
    p.add_argument("--input-gain-db", type=float, default=0.0, metavar="DB",
                   help="drive into the chain, -24..24 dB (default 0)")
    p.add_argument("--log-interval", type=float, default=10.0, metavar="S",
                   help="seconds between meter log lines when headless (default 10)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.set_defaults(run=_live)


def main(argv=None):
    """Run ``devices`` or ``live`` on their own (pymaster's main CLI has them too)."""
    parser = argparse.ArgumentParser(prog="pymaster")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UserError as exc:
        print(f"pymaster {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
