"""A JACK MIDI client for the MIDI tests, run as its own process (a controller stand-in).

    python midi_sender.py CLIENT

Opens JACK MIDI ports CLIENT:out (sends) and CLIENT:in (receives feedback), prints ``ready``,
then runs one command per stdin line, answering one line each:

    cc CH NUM VALUE | note CH NUM VELOCITY | pc CH PROGRAM   -> ok   (CH is 1..16)
    flood RATE SECONDS CH NUM    CCs at RATE per second, values 0..127 cycling -> flooded N LAST
    recv SECONDS                 what arrived on CLIENT:in meanwhile -> recv [[bytes...], ...]
    recvn N SECONDS              the first N messages to arrive on CLIENT:in (fewer if SECONDS
                                 pass first) -> recv [[bytes...], ...]
    quit
"""
import json
import sys
import time

import rtmidi


def flood(out, rate, seconds, channel, number):
    """Paced by deadlines (not sleeps of 1/rate), so the average rate holds on a busy box."""
    total, start = int(rate * seconds), time.monotonic()
    value = 0
    for k in range(total):
        delay = start + k / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        value = k % 128
        out.send_message([0xB0 | channel, number, value])
    return total, value


def main():
    client = sys.argv[1]
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=client)
    out.open_virtual_port("out")
    inp = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=f"{client}-in")
    inp.open_virtual_port("in")
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            cmd, *args = line.split()
            if cmd == "quit":
                break
            if cmd in ("cc", "note", "pc"):
                ch, *data = (int(a) for a in args)
                status = {"cc": 0xB0, "note": 0x90, "pc": 0xC0}[cmd] | (ch - 1)
                out.send_message([status, *data])
                print("ok", flush=True)
            elif cmd == "flood":
                n, last = flood(out, float(args[0]), float(args[1]), int(args[2]) - 1,
                                int(args[3]))
                print(f"flooded {n} {last}", flush=True)
            elif cmd in ("recv", "recvn"):
                want = int(args.pop(0)) if cmd == "recvn" else None
                got, end = [], time.monotonic() + float(args[0])
                while time.monotonic() < end and (want is None or len(got) < want):
                    item = inp.get_message()
                    if item is None:
                        time.sleep(0.001)
                    else:
                        got.append(item[0])
                print("recv " + json.dumps(got), flush=True)
    finally:
        time.sleep(0.05)  # let JACK's next cycle carry the last messages out
        for port in (out, inp):
            port.close_port()
            port.delete()  # the JACK clients go before the test stops the server
    return 0


if __name__ == "__main__":
    sys.exit(main())
