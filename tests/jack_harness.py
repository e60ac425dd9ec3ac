"""A JACK client for the live tests, run as its own process (one PortAudio JACK client each).

    python jack_harness.py CLIENT PLAY.npy RECORD.npy [--inputs N]

Opens a duplex PortAudio stream named CLIENT (--inputs in, 2 out, 64-frame blocks), prints
``ready``, waits for ``go`` on stdin, then plays PLAY (float32 frames x 2) from one callback on,
recording its inputs from that same callback: recorded frame i lines up with played frame i, so
the round trip is read straight off the recording. Prints ``done xruns=N`` and exits.
"""
import argparse
import ctypes
import sys
import threading

import numpy as np


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("client")
    parser.add_argument("play")
    parser.add_argument("record")
    parser.add_argument("--tail-seconds", type=float, default=0.5)
    parser.add_argument("--inputs", type=int, default=2, help="channels to record")
    args = parser.parse_args()

    import sounddevice as sd
    name = ctypes.create_string_buffer(args.client.encode())  # PortAudio keeps the pointer
    sd._terminate()
    ctypes.CDLL(sd._libname).PaJack_SetClientName(name)
    sd._initialize()

    play = np.load(args.play).astype(np.float32)
    rate = 48000
    total = len(play) + int(args.tail_seconds * rate)
    record = np.zeros((total, args.inputs), np.float32)
    state = {"go": False, "pos": 0, "xruns": 0}
    finished = threading.Event()

    def callback(indata, outdata, frames, time, status):
        if status:
            state["xruns"] += 1
        outdata.fill(0)
        if not state["go"] or finished.is_set():
            return
        pos = state["pos"]
        n = min(frames, total - pos)
        chunk = play[pos:pos + n]
        outdata[:len(chunk)] = chunk
        record[pos:pos + n] = indata[:n]
        state["pos"] = pos + n
        if state["pos"] >= total:
            finished.set()

    with sd.Stream(samplerate=rate, blocksize=64, device="system", channels=(args.inputs, 2),
                   dtype="float32", callback=callback, latency="low"):
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            return 1
        state["go"] = True
        finished.wait(total / rate + 30)
    np.save(args.record, record)
    print(f"done xruns={state['xruns']}", flush=True)
    sd._terminate()  # close the JACK client before exit, while the server still runs
    return 0


if __name__ == "__main__":
    sys.exit(main())
