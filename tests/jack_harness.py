"""A JACK client for the live tests, run as its own process (one PortAudio JACK client each).

    python jack_harness.py CLIENT PLAY.npy RECORD.npy [--inputs N] [--hold START:END]

Opens a duplex PortAudio stream named CLIENT (--inputs in, 2 out, 64-frame blocks), prints
``ready``, waits for ``go`` on stdin, then plays PLAY (float32 frames x 2) from one callback on,
recording its inputs from that same callback: recorded frame i lines up with played frame i, so
the round trip is read straight off the recording. Prints ``finished`` when it has recorded all,
waits for ``close``, closes its stream, prints ``done xruns=N frames=F`` and exits.

``--hold START:END``: on reaching frame END the first time, prints ``held`` and keeps playing
PLAY[START:END] over and over (give it a whole number of periods of a periodic signal, so the
loop is seamless) until ``release`` arrives on stdin, then plays on from END. A test holds the
programme there while it makes a change (a MIDI message) and waits for it to take effect: in
JACK's freewheel mode the graph runs many times faster than real time, so a change timed by the
wall clock would land anywhere; a hold makes it land inside a known, steady stretch.
"""
import argparse
import ctypes
import sys
import threading

import numpy as np


class Player:
    """The callback's state: where in PLAY it is, what it recorded, whether it holds."""

    def __init__(self, play, inputs, tail, hold):
        self.play, self.inputs, self.hold = play, inputs, hold
        self.total = len(play) + tail   # frames to record when never held
        self.pos, self.loop_pos, self.looped = 0, None, 0
        self.go, self.released = False, hold is None
        self.xruns = 0
        self.chunks = []
        self.held, self.finished = threading.Event(), threading.Event()

    def next_frames(self, n):
        """The next n frames to play (zeros past the end), advancing the position."""
        out = np.zeros((n, 2), np.float32)
        k = 0
        while k < n:
            if self.loop_pos is not None:  # holding: PLAY[START:END] over and over
                start, end = self.hold
                m = min(n - k, end - self.loop_pos)
                out[k:k + m] = self.play[self.loop_pos:self.loop_pos + m]
                self.loop_pos = start if self.loop_pos + m == end else self.loop_pos + m
                self.looped += m
                if self.released and self.loop_pos == start:
                    self.loop_pos = None  # a whole loop is done: on from END
            else:
                stop = self.hold[1] if not self.released and self.pos < self.hold[1] else None
                m = min(n - k, (stop if stop is not None else self.total) - self.pos)
                m = max(m, 0)
                chunk = self.play[self.pos:self.pos + m]
                out[k:k + len(chunk)] = chunk
                self.pos += m
                if stop is not None and self.pos == stop:
                    self.loop_pos = self.hold[0]
                    self.held.set()
                if m == 0:
                    break
            k += m
        return out

    def callback(self, indata, outdata, frames, time, status):
        if not self.go or self.finished.is_set():
            outdata.fill(0)
            return
        if status:  # only while playing: the take is what counts
            self.xruns += 1
        outdata[:] = self.next_frames(frames)
        self.chunks.append(indata[:, :self.inputs].copy())
        if self.pos >= self.total and self.loop_pos is None:
            self.finished.set()

    def recording(self):
        rec = np.concatenate(self.chunks) if self.chunks else np.zeros((0, self.inputs))
        return rec[:self.total + self.looped]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("client")
    parser.add_argument("play")
    parser.add_argument("record")
    parser.add_argument("--tail-seconds", type=float, default=0.5)
    parser.add_argument("--inputs", type=int, default=2, help="channels to record")
    parser.add_argument("--hold", help="START:END frames to loop until 'release'")
    args = parser.parse_args()

    import sounddevice as sd
    name = ctypes.create_string_buffer(args.client.encode())  # PortAudio keeps the pointer
    sd._terminate()
    ctypes.CDLL(sd._libname).PaJack_SetClientName(name)
    sd._initialize()

    rate = 48000
    hold = tuple(int(v) for v in args.hold.split(":")) if args.hold else None
    player = Player(np.load(args.play).astype(np.float32), args.inputs,
                    int(args.tail_seconds * rate), hold)
    with sd.Stream(samplerate=rate, blocksize=64, device="system", channels=(args.inputs, 2),
                   dtype="float32", callback=player.callback, latency="low"):
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            return 1
        player.go = True
        if hold is not None:
            player.held.wait()
            print("held", flush=True)
            if sys.stdin.readline().strip() != "release":
                return 1
            player.released = True
        player.finished.wait()
        # The test leaves freewheel mode first: a client closing while the server freewheels
        # can wedge jackd 1.9.21 (its freewheel driver then signals a freed semaphore).
        print("finished", flush=True)
        if sys.stdin.readline().strip() != "close":
            return 1
    np.save(args.record, player.recording())
    print(f"done xruns={player.xruns} frames={player.total + player.looped}", flush=True)
    sd._terminate()  # close the JACK client before exit, while the server still runs
    return 0


if __name__ == "__main__":
    sys.exit(main())
