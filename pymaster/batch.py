"""Batch mastering of a catalogue, on the local cores or on a dask.distributed cluster.

One code path: the batch always runs on a ``distributed.Client``, connected either to a
``LocalCluster`` started for the batch (one single-threaded worker process per core) or to an
existing scheduler (``scheduler="tcp://host:8786"``). Each task masters one whole file with
:func:`pymaster.render.master` (files, not blocks, are the unit of parallelism) and returns a
small record; the client plans, follows progress and writes the results manifest.

Resume: after committing ``name.wav``, the worker writes a hidden record beside it,
``.name.wav.pymaster.json`` (atomically, and only then): the input's path, size, mtime and
SHA-256, the settings that shaped the output (the preset used, by name and contents, however it
was chosen; overrides, tags, pymaster version), the preset ``--auto`` picks for this input, and
the output's size and SHA-256. A later batch skips a track whose record matches: the same
settings (with ``--auto``: those of the preset it picks for this input), the input unchanged
(same size and mtime, or else the same hash) and the output intact (same size and hash).
Anything else is mastered again and replaced. This is decided before any worker starts: a
batch with nothing to do starts no cluster.

Interruptions: outputs, records and the manifest only ever appear complete (temp file, then
rename). A worker killed outright leaves its hidden temporary files; the next batch on the
same OUTDIR deletes them before it starts (a lock file, removed at the end, keeps two batches
out of one OUTDIR), and an interrupted local batch deletes them itself once its workers have
stopped.
"""
import csv
import dataclasses
import hashlib
import itertools
import json
import logging
import math
import os
import re
import secrets
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext

import soundfile as sf

from . import __version__
from ._batch_plan import AUDIO_EXTENSIONS, MANIFEST_COLUMNS, Track, plan_batch, read_manifest
from .audio_io import AtomicFile
from .errors import AudioFileError, UserError

__all__ = ["run_batch", "plan_batch", "read_manifest", "auto_preset", "master_track", "Track",
           "Progress", "AUDIO_EXTENSIONS", "MANIFEST_COLUMNS", "RESULT_FIELDS"]

RESULT_FIELDS = ("input", "output", "status", "preset", "input_lufs", "input_true_peak_dbtp",
                 "output_lufs", "output_true_peak_dbtp", "target_lufs", "ceiling_dbtp",
                 "target_reached", "duration_s", "elapsed_s", "warnings", "error", "worker")
RESULTS_NAME = "pymaster-results.csv"
RECORD_FORMAT = "pymaster-batch-record/2"
LOCK_NAME = ".pymaster-batch.lock"
CONNECT_TIMEOUT_S, WORKER_WAIT_S, THREADS_CHECK_S = 10, 60, 5
_TEMP = re.compile(r"^\.(?P<name>.+)\.\d+-[0-9a-f]{8}\.(part|f32|tmp)$")  # audio_io.temp_path


@dataclasses.dataclass
class Progress:
    """A snapshot passed to ``run_batch(progress=...)`` after each finished file."""

    files_done: int
    files_total: int
    failed: int
    skipped: int
    audio_s_processed: float  # input seconds mastered in this run (skipped files excluded)
    audio_s_left: float       # input seconds of the files not finished yet
    elapsed_s: float

    @property
    def x_realtime(self):
        return self.audio_s_processed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self):
        """Seconds left at the speed so far (None before the first mastered file)."""
        return self.audio_s_left / self.x_realtime if self.x_realtime > 0 else None


def auto_preset(analysis):
    """The preset ``--auto`` picks for a track, from its analysis (:func:`analysis.analyze`).

    Loudness range (LRA) says how much the level moves between passages; the crest factor
    (sample peak over RMS) how dense the material already is:

    - LRA >= 10 LU: ``dynamic`` (classical, jazz, film: keep the movement, -18 LUFS);
    - LRA < 6 LU and crest < 12 dB: ``loud`` (dense, already compressed: -9 LUFS);
    - otherwise, and for silence: ``streaming`` (-14 LUFS).
    """
    if not math.isfinite(analysis["integrated_lufs"]):
        return "streaming"
    lra = analysis["loudness_range_lu"]
    lra = lra if math.isfinite(lra) else 0.0  # undefined on very short files
    if lra >= 10.0:
        return "dynamic"
    if lra < 6.0 and analysis["crest_db"] < 12.0:
        return "loud"
    return "streaming"


# ---------------------------------------------------------------- one track (worker side)

def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fingerprint(path):
    try:
        st = os.stat(path)
        return {"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                "sha256": _sha256(path)}
    except FileNotFoundError:
        raise AudioFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise AudioFileError(f"{path}: cannot read ({exc.strerror})") from None


def _recorded(track):
    """The track's record if its output is complete and still valid, else None."""
    try:
        with open(track.record_path, encoding="utf-8") as f:
            record = json.load(f)
        src, out = record["input"], record["output"]
        # --auto: what it picks for this input, known from the record since the input is
        # checked unchanged below
        preset = track.preset or track.auto.get(record["auto_preset"])
        if (record["format"] != RECORD_FORMAT or src["path"] != track.input or preset is None
                or json.dumps(record["settings"], sort_keys=True) != track.settings(preset)):
            return None
        st = os.stat(track.input)
        if st.st_size != src["size"] or (st.st_mtime_ns != src["mtime_ns"]
                                         and _sha256(track.input) != src["sha256"]):
            return None
        if (os.path.getsize(track.output) != out["size"]
                or _sha256(track.output) != out["sha256"]):
            return None
        return record
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _result(track, status, started, report=None, preset="", error=""):
    def r3(value):
        return round(value, 3) if isinstance(value, float) and math.isfinite(value) else None
    result = dict.fromkeys(RESULT_FIELDS, None)
    result.update(input=track.input, output=track.output, status=status, preset=preset,
                  duration_s=r3(track.duration_s), error=" ".join(str(error).split()),
                  warnings="", elapsed_s=r3(time.perf_counter() - started),
                  worker=f"{socket.gethostname()}:{os.getpid()}")
    if report:
        ins, out, target = report["input"], report["output"], report["target"]
        result.update(input_lufs=r3(ins["integrated_lufs"]),
                      input_true_peak_dbtp=r3(ins["true_peak_dbtp"]),
                      output_lufs=r3(out["integrated_lufs"]),
                      output_true_peak_dbtp=r3(out["true_peak_dbtp"]),
                      target_lufs=target["integrated_lufs"], ceiling_dbtp=target["ceiling_dbtp"],
                      target_reached=target["reached"], duration_s=r3(ins["duration_s"]),
                      warnings="; ".join(report["warnings"]))
    return result


def master_track(track):
    """Master one planned track on a worker, or find it already done. Never raises.

    Returns
    -------
    dict
        The track's result (keys :data:`RESULT_FIELDS`), ``status`` "done", "skipped" (a valid
        output from an earlier batch) or "failed" (with ``error``, one line).
    """
    from ._pipeline import threads as pipeline_threads
    from .analysis import analyze
    from .render import master
    started = time.perf_counter()
    try:
        done = _recorded(track)
        if done is not None:  # by an earlier batch; or by this one if dask ran it twice
            return _from_record(track, done, started)
        source = _fingerprint(track.input)
        picks = auto_preset(analyze(track.input)) if track.auto else None
        preset = track.preset or track.auto[picks]
        os.makedirs(os.path.dirname(track.output), exist_ok=True)
        with pipeline_threads(False):  # one worker per core already: no extra I/O threads
            report = master(track.input, track.output, preset=preset,
                            target_lufs=track.target_lufs, ceiling_dbtp=track.ceiling_dbtp,
                            bit_depth=track.bit_depth, tags=track.tags, overwrite=True)
        result = _result(track, "done", started, report, preset.name)
        record = {"format": RECORD_FORMAT, "batch": track.batch, "input": source,
                  "settings": json.loads(track.settings(preset)),
                  "auto_preset": picks or auto_preset(report["input"]),
                  "output": {"size": os.path.getsize(track.output),
                             "sha256": _sha256(track.output)}, "result": result}
        with AtomicFile(track.record_path, suffix=".tmp") as out:  # only after the output
            with open(out.temp, "w", encoding="utf-8") as f:
                json.dump(record, f, indent=1)
            out.commit()
        return result
    except UserError as exc:
        return _result(track, "failed", started, error=exc)
    except Exception as exc:  # a bug, or the disk: still one file, not the batch
        return _result(track, "failed", started, error=f"{type(exc).__name__}: {exc}")


def _from_record(track, record, started):
    """The result of a track found done: "skipped" if by an earlier batch, "done" if by this
    one (dask may run a task twice)."""
    return dict(record["result"], elapsed_s=round(time.perf_counter() - started, 3),
                status="done" if track.batch and record.get("batch") == track.batch
                else "skipped")


def _worker_version():
    return __version__


def _usable_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count() or 1


# ---------------------------------------------------------------- the batch (client side)

@contextmanager
def _lock(outdir):
    """Hold OUTDIR's lock file for the batch: one batch per OUTDIR (its sweep is not shared).

    The file is deleted at the end, while still locked. So a batch that opened it just before
    may then lock a deleted file: it checks that the path still names the file it locked, and
    otherwise tries again with the new one.
    """
    try:
        import fcntl
    except ImportError:  # no flock (Windows): unguarded
        yield
        return
    path = os.path.join(outdir, LOCK_NAME)
    while True:
        handle = open(path, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise UserError(f"{outdir}: another batch is writing there (wait for it to end, "
                            "or use another OUTDIR)") from None
        try:
            if os.path.samestat(os.fstat(handle.fileno()), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        handle.close()  # deleted by the batch that just ended: lock the current one
    try:
        yield
    finally:
        try:
            os.unlink(path)
        finally:
            handle.close()


def _sweep(tracks, manifest_path):
    """Delete temporary files left by killed jobs of these tracks (and of the manifest)."""
    names = {}
    for path in [t.output for t in tracks] + [t.record_path for t in tracks] + [manifest_path]:
        folder, name = os.path.split(path)
        names.setdefault(folder, {"pymaster"}).add(name)
    for folder, known in names.items():
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            match = _TEMP.match(entry)
            if match and match["name"] in known:
                try:
                    os.unlink(os.path.join(folder, entry))
                except OSError:
                    pass


@contextmanager
def _cluster(workers, scheduler):
    """(client, local): a LocalCluster of `workers` processes, or the scheduler's cluster."""
    from distributed import Client, LocalCluster
    if scheduler is None:
        # The workers inherit an ignored SIGINT: Ctrl-C reaches the whole process group, but
        # only this process should handle it (by closing the cluster), without 2 tracebacks.
        main_thread = threading.current_thread() is threading.main_thread()
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
        try:  # loopback only; the HTTP server starts anyway: on a random port
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                   silence_logs=logging.ERROR)
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, handler)
        with cluster, Client(cluster) as client:
            yield client, True
        return
    if isinstance(scheduler, Client):
        context = nullcontext(scheduler)
    else:
        try:
            context = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, ValueError, TypeError) as exc:
            raise UserError(f"cannot connect to the dask scheduler at {scheduler}: "
                            f"{' '.join(str(exc).split())}") from None
    with context as client:
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
            versions = client.run(_worker_version)
        except TimeoutError:
            raise UserError(f"no dask worker joined the scheduler at {scheduler} within "
                            f"{WORKER_WAIT_S} s") from None
        except ImportError as exc:
            raise UserError(f"dask workers cannot import pymaster ({exc}): install it on "
                            "every worker") from None
        wrong = {w: v for w, v in versions.items() if v != __version__}
        if wrong:
            raise UserError(f"dask workers run another pymaster than {__version__}: {wrong}")
        yield client, False


def _write_manifest(results, path):
    from .report import jsonable
    ext = os.path.splitext(path)[1].lower()
    with AtomicFile(path) as out:
        with open(out.temp, "w", newline="", encoding="utf-8") as f:
            if ext == ".json":
                json.dump({"pymaster": __version__, "tracks": jsonable(results)}, f, indent=1)
            else:
                writer = csv.DictWriter(f, RESULT_FIELDS)
                writer.writeheader()
                writer.writerows({k: "" if v is None else v for k, v in r.items()}
                                 for r in jsonable(results))
        out.commit()


def _duration(path):
    try:
        return sf.info(path).duration
    except Exception:  # unreadable: its task will say why
        return 0.0


def run_batch(inputs, outdir, *, preset=None, auto=False, target_lufs=None, ceiling_dbtp=None,
              format=None, bit_depth=None, workers=None, scheduler=None, manifest_path=None,
              progress=None):
    """Master many files, in parallel, into `outdir`; resumable and failure-isolated.

    Parameters
    ----------
    inputs : sequence of str
        Files, folders (searched recursively for :data:`AUDIO_EXTENSIONS`), glob patterns
        and CSV manifests (see :func:`read_manifest`), in any mix.
    outdir : str
        Created if needed; outputs mirror the input folders there (see :func:`plan_batch`).
    preset : str or Preset, optional
        Preset name or TOML path for every track (default ``streaming``) unless a manifest
        row names its own. Excludes `auto`.
    auto : bool
        Pick each track's preset from its analysis (see :func:`auto_preset`).
    target_lufs, ceiling_dbtp : float, optional
        Override the presets' targets (a manifest row's own values win).
    format : {"wav", "flac"}, optional
        Default: FLAC for FLAC inputs, WAV for everything else.
    bit_depth : {"16", "24", "32f"}, optional
        Default: each preset's.
    workers : int, optional
        Local worker processes (default: every usable core). Not with `scheduler`.
    scheduler : str or distributed.Client, optional
        Address of a running dask scheduler (``tcp://host:8786``), or a connected client. Its
        workers must import the same pymaster and see inputs and OUTDIR at the same paths.
    manifest_path : str, optional
        The results manifest, CSV or JSON by extension (default OUTDIR/pymaster-results.csv).
    progress : callable, optional
        ``progress(Progress)``, called at the start and after each finished file.

    Returns
    -------
    list of dict
        One result per track in plan order (keys :data:`RESULT_FIELDS`); ``status`` is
        "done", "skipped", "failed" or, if the batch was interrupted, "interrupted".

    Raises
    ------
    UserError
        Bad inputs, options, manifest or scheduler, before anything is mastered.
    """
    if scheduler is not None and workers is not None:
        raise UserError("--workers and --scheduler exclude each other: the cluster's workers "
                        "do the work")
    if workers is None:
        workers = _usable_cores()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UserError(f"--workers {workers!r} is invalid: allowed 1 or more")
    manifest_path = os.path.abspath(manifest_path or os.path.join(outdir, RESULTS_NAME))
    if os.path.splitext(manifest_path)[1].lower() not in (".csv", ".json"):
        raise UserError(f"{manifest_path}: name the results manifest .csv or .json")
    tracks = plan_batch(inputs, outdir, preset=preset, auto=auto, target_lufs=target_lufs,
                        ceiling_dbtp=ceiling_dbtp, format=format, bit_depth=bit_depth)
    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{outdir}: cannot create ({exc.strerror})") from None
    if not os.path.isdir(os.path.dirname(manifest_path)):
        raise UserError(f"{manifest_path}: its folder does not exist")
    batch = secrets.token_hex(8)
    for track in tracks:
        track.duration_s, track.batch = _duration(track.input), batch

    started = time.perf_counter()
    results = [None] * len(tracks)
    counts = {"done": 0, "failed": 0, "skipped": 0, "audio": 0.0,
              "left": sum(t.duration_s for t in tracks)}

    def report():
        if progress:
            progress(Progress(sum(r is not None for r in results), len(tracks), counts["failed"],
                              counts["skipped"], counts["audio"], counts["left"],
                              time.perf_counter() - started))

    def finish(track, result):
        results[track.index] = result
        counts[result["status"]] += 1
        counts["left"] -= track.duration_s
        if result["status"] == "done":
            counts["audio"] += track.duration_s
        report()

    local, submitted, finished = scheduler is None, False, False
    with _lock(os.path.abspath(outdir)):
        _sweep(tracks, manifest_path)
        report()
        # What is done already is known here (records, hashes of the files): no cluster for it
        with ThreadPoolExecutor(min(len(tracks), _usable_cores())) as pool:  # hashing frees
            records = list(pool.map(_recorded, tracks))                      # the GIL
        for track, record in zip(tracks, records):
            if record is not None:
                finish(track, _from_record(track, record, time.perf_counter()))
        pending = [t for t in tracks if results[t.index] is None]
        if not pending:
            _write_manifest(results, manifest_path)
            return results
        try:
            with _cluster(workers, scheduler) as (client, local):
                from distributed import as_completed

                # Longest first, so that short files fill the gaps at the end; and no more
                # in flight than the cluster has threads: no file waits on a busy worker while
                # another idles, and a worker that dies takes only its own file with it.
                waiting = iter(sorted(pending, key=lambda t: -t.duration_s))
                futures, done, threads = {}, as_completed(), [0, -math.inf]  # count, when

                def submit():
                    if time.monotonic() > threads[1] + THREADS_CHECK_S:  # workers come and go
                        threads[:] = sum(client.nthreads().values()), time.monotonic()
                    for track in itertools.islice(waiting, max(0, threads[0] - len(futures))):
                        future = client.submit(master_track, track, pure=False)
                        futures[future] = track
                        done.add(future)

                submitted = True
                try:
                    submit()
                    for future in done:
                        track = futures.pop(future)
                        submit()  # the next file first: the worker is free now
                        try:
                            result = future.result()
                        except Exception as exc:  # e.g. KilledWorker: it kept killing workers
                            result = dict(_result(track, "failed", time.perf_counter(),
                                                  error=f"{type(exc).__name__}: {exc}"),
                                          worker=None)
                        future.release()  # forgotten: a worker lost later won't redo it
                        finish(track, result)
                    finished = True
                finally:
                    if not finished:
                        client.cancel(list(futures))
        finally:
            if not finished and local:  # the local workers are gone: clean up after them
                _sweep(tracks, manifest_path)
            if submitted:
                for track in tracks:
                    if results[track.index] is None:
                        results[track.index] = _result(
                            track, "interrupted", started, error="the batch was interrupted "
                            "before this file was finished")
                _write_manifest(results, manifest_path)
    return results
