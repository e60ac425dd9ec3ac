"""The ``devices``, ``live`` and ``midi-ports`` subcommands; pymaster's CLI wires them in with
add_commands.

Each maps to one library call (:func:`pymaster.devices.list_devices`,
:func:`pymaster.live_run.run_live` or, with ``--check``, :func:`pymaster.live_run.check_live`,
:func:`pymaster.midi_ports.list_ports`).
"""
import json
import logging
import os
import sys


def _devices(args):
    from .devices import format_devices, host_api_names, list_devices, portaudio

    sd = portaudio()
    found = list_devices(sd)
    if args.json:
        print(json.dumps({"host_apis": host_api_names(sd), "devices": found}, indent=2))
    else:
        print(format_devices(found, host_api_names(sd)))
    return 0


def _check(args):
    from .live_run import check_live

    items = check_live(args.device, args.preset, input_gain_db=args.input_gain_db,
                       midi=args.midi, midi_learn=args.midi_learn)
    for status, item, detail in items:
        print(f"{status:<8} {item}: {detail}")
    bad = [item for status, item, _ in items if status != "ok"]
    print(f"pymaster live --check: {len(items) - len(bad)} of {len(items)} ok"
          + (f"; to fix: {', '.join(bad)}" if bad else ""))
    return 2 if bad else 0


def _live(args):
    from .live import BackendStuck
    from .live_run import EXIT_RESTART, run_live, setup_logging

    if args.check:
        return _check(args)
    setup_logging()
    try:
        return run_live(args.device, args.preset, input_gain_db=args.input_gain_db,
                        headless=args.headless, log_interval_s=args.log_interval,
                        duration_s=args.duration, midi=args.midi, midi_learn=args.midi_learn)
    except BackendStuck:
        # PortAudio would hang in its exit handler on the dead stream: leave at once.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(EXIT_RESTART)


def _midi_ports(args):
    from .midi_map import load_midi_map
    from .midi_ports import format_ports, list_ports

    api = args.api or (load_midi_map(args.map).api if args.map else "auto")
    found = list_ports(api)
    print(json.dumps(found, indent=2) if args.json else format_ports(found))
    return 0


def add_commands(subparsers):
    """Register ``devices``, ``live`` and ``midi-ports`` on an argparse subparsers object.

    Each parser gets ``run(args) -> exit status``, as pymaster.cli dispatches; a
    :class:`pymaster.errors.UserError` raised by it is printed with exit status 2 (see
    :func:`main`).
    """
    p = subparsers.add_parser("devices", help="list audio devices, host APIs, channels, rates",
                              description="Lists the audio devices PortAudio sees: host API, "
                              "channels in and out, supported rates; their names go into a "
                              "device config's `device` key.",
                              epilog="examples:\n  pymaster devices\n  pymaster devices --json")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_devices)

    p = subparsers.add_parser("live", help="master live through an audio interface",
                              description="Runs until Ctrl-C or SIGTERM. With --headless, SIGHUP "
                              "reloads the device config and the preset without stopping audio.",
                              epilog="examples:\n"
                              "  pymaster live --device usb-2x2 --preset streaming "
                              "--input-gain-db 4\n"
                              "  pymaster live --device jack --midi nanokontrol2 --headless")
    p.add_argument("--device", required=True, metavar="CONFIG",
                   help="device config: configs/devices/NAME.toml, or just NAME")
    p.add_argument("--preset", metavar="P", help="preset name or .toml file")
    p.add_argument("--midi", metavar="MAP",
                   help="MIDI controller map: configs/midi/NAME.toml, or just NAME")
    p.add_argument("--midi-learn", metavar="PARAM",
                   help="bind the next moved MIDI control to PARAM (e.g. output_gain_db, "
                   "eq[1].gain_db, bypass.compressor) and save it in the --midi map")
    p.add_argument("--headless", action="store_true",
                   help="no terminal display: log meters to stderr, wait for a missing device")
    p.add_argument("--input-gain-db", type=float, default=0.0, metavar="DB",
                   help="drive into the chain, -24..24 dB (default 0)")
    p.add_argument("--log-interval", type=float, default=10.0, metavar="S",
                   help="seconds between meter log lines when headless (default 10)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--check", action="store_true",
                   help="open no audio: validate the device config, preset and MIDI map, say "
                   "whether the device and MIDI ports are there (one line each); exit 0 if all "
                   "is, 2 if not")
    p.set_defaults(run=_live)

    p = subparsers.add_parser("midi-ports", help="list MIDI input and output ports",
                              description="Lists the ports of a MIDI backend: --api, else the "
                              "--map's [midi] api, else rtmidi's default (ALSA on Linux).",
                              epilog="examples:\n  pymaster midi-ports --api jack\n"
                              "  pymaster midi-ports --map nanokontrol2 --json")
    p.add_argument("--api", choices=["auto", "alsa", "jack", "coremidi", "winmm"],
                   help="MIDI backend")
    p.add_argument("--map", metavar="MAP", help="take the backend from this MIDI map")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_midi_ports)

