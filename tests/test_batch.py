"""`pymaster batch`: a catalogue with corrupt files, locally and on a real dask cluster
(scheduler + two workers started here on loopback), resume after a killed run, collisions,
CSV manifests. Loudness is checked against pyloudnorm, the ceiling against the 16x reference.
"""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from children import default_signals
from signals import programme, ref_true_peak_db

from pymaster.batch import (RESULT_FIELDS, auto_preset, plan_batch, read_manifest,
                            run_batch)
from pymaster.cli import main
from pymaster.errors import UserError

pyloudnorm = pytest.importorskip("pyloudnorm")
distributed = pytest.importorskip("distributed")


def loudness(path):
    audio, rate = sf.read(path, dtype="float64", always_2d=True)
    return pyloudnorm.Meter(rate, filter_class="DeMan").integrated_loudness(audio)


def check_master(path, target, ceiling=-1.0, frames=None, reference_peak=True):
    audio, _ = sf.read(path, dtype="float32", always_2d=True)
    assert abs(loudness(path) - target) <= 0.1, path
    if reference_peak:  # 0.4 s per 8 s file
        assert ref_true_peak_db(audio) <= ceiling + 0.01, path
    if frames is not None:
        assert len(audio) == frames, path


def write(path, audio, rate=48000, subtype="PCM_24"):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, rate, subtype=subtype)
    return path


def dynamic(seconds=8.0, seed=3):
    """A quiet half 14 dB under a loud half: a loudness range above 10 LU."""
    music = programme(seconds, seed=seed)
    music = 0.5 * np.tanh(4 * music / np.abs(music).max())
    return (music * np.where(np.arange(len(music)) < len(music) // 2, 0.2, 1.0)[:, None]
            ).astype(np.float32)


def dense(seconds=6.0, seed=4):
    """Saturated to a crest factor of about 5 dB."""
    music = programme(seconds, seed=seed)
    return (0.5 * np.tanh(8 * music / np.abs(music).max())).astype(np.float32)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """Good files in nested folders, three broken ones and things a scan must ignore."""
    root = tmp_path_factory.mktemp("catalogue")
    write(root / "album1" / "a.wav", programme(4.0, seed=1))
    write(root / "album1" / "b.wav", dense())
    write(root / "album2" / "c.flac", programme(5.0, 44100, seed=2), 44100, "PCM_16")
    write(root / "album2" / "live" / "d.wav", dynamic()[:, 0])  # mono
    (root / "broken").mkdir()
    (root / "broken" / "random.wav").write_bytes(np.random.default_rng(0).bytes(20000))
    (root / "broken" / "empty.wav").write_bytes(b"")
    whole = (root / "album1" / "a.wav").read_bytes()
    (root / "broken" / "truncated.wav").write_bytes(whole[:len(whole) // 2])
    (root / "notes.txt").write_text("not audio")
    write(root / ".hidden" / "x.wav", programme(1.0))
    return root


GOOD = {"album1/a.wav": ("streaming", -14.0), "album1/b.wav": ("loud", -9.0),  # with --auto
        "album2/c.flac": ("streaming", -14.0), "album2/live/d.wav": ("dynamic", -18.0)}
BROKEN = {"broken/random.wav": "not a readable audio file", "broken/empty.wav": "empty file",
          "broken/truncated.wav": "truncated"}


def by_input(results, root):
    return {os.path.relpath(r["input"], root): r for r in results}


def check_batch(results, root, outdir, auto):
    rows = by_input(results, root)
    assert set(rows) == set(GOOD) | set(BROKEN)
    for name, (preset, target) in GOOD.items():  # outputs mirror the input folders
        row = rows[name]
        assert row["status"] == "done", row
        assert row["output"] == str(outdir / name)
        assert row["preset"] == (preset if auto else "streaming")
        target = target if auto else -14.0
        assert abs(row["output_lufs"] - target) <= 0.1 and row["output_true_peak_dbtp"] <= -1
        check_master(outdir / name, target, frames=sf.info(root / name).frames)
    for name, why in BROKEN.items():
        assert rows[name]["status"] == "failed" and why in rows[name]["error"]
        assert str(root / name) in rows[name]["error"]
        assert not os.path.exists(rows[name]["output"])


def leftovers(outdir):
    """Hidden files but the records: temporary files, or the lock a batch should remove."""
    return [p for p in outdir.rglob(".*") if not p.name.endswith(".pymaster.json")]


def test_local_batch_isolates_failures_and_resumes(catalogue, tmp_path, capsys, monkeypatch):
    outdir = tmp_path / "out"
    assert main(["batch", str(catalogue), "-o", str(outdir), "--workers", "2"]) == 1
    out, err = capsys.readouterr()
    assert "7 files: 4 mastered, 0 already done, 3 failed" in out
    assert err.count("pymaster: failed:") == 3 and "%|" not in err  # no bar when piped
    with open(outdir / "pymaster-results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == RESULT_FIELDS and len(rows) == 7
    results = [{k: (float(v) if k.endswith(("lufs", "dbtp")) and v else v)
                for k, v in row.items()} for row in rows]
    check_batch(results, catalogue, outdir, auto=False)
    assert not leftovers(outdir)

    # the good files alone: all done, which is known before any worker starts, so the (here
    # unreachable) scheduler is never contacted; the summary says so
    monkeypatch.setattr("pymaster.batch.CONNECT_TIMEOUT_S", 1)  # if it did try: fail fast
    assert main(["batch", str(catalogue / "album1"), str(catalogue / "album2"), "-o",
                 str(outdir), "--scheduler", "tcp://127.0.0.1:9", "--manifest",
                 str(tmp_path / "done.csv")]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "nothing to do: all 4 files are already mastered with " \
        "these settings" and err == ""
    with open(tmp_path / "done.csv", newline="") as f:
        assert [row["status"] for row in csv.DictReader(f)] == ["skipped"] * 4
    assert not leftovers(outdir)

    # again: the valid outputs are skipped (untouched), the broken inputs fail again
    stamps = {p: p.stat().st_mtime_ns for p in outdir.rglob("*.wav")}
    snapshots = []
    results = run_batch([catalogue], outdir, workers=2, progress=snapshots.append)
    rows = by_input(results, catalogue)
    assert [rows[n]["status"] for n in GOOD] == ["skipped"] * 4
    assert all(rows[n]["output_lufs"] == pytest.approx(-14, abs=0.1) for n in GOOD)
    assert [rows[n]["status"] for n in BROKEN] == ["failed"] * 3
    assert stamps == {p: p.stat().st_mtime_ns for p in outdir.rglob("*.wav")}
    assert snapshots[0].files_done == 0 and snapshots[-1].files_done == 7
    assert snapshots[-1].skipped == 4 and snapshots[-1].failed == 3

    # an output damaged in place (same size) is noticed and mastered again, alone
    damaged = outdir / "album1" / "a.wav"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    rows = by_input(run_batch([catalogue], outdir, workers=1), catalogue)
    assert [rows[n]["status"] for n in GOOD] == ["done", "skipped", "skipped", "skipped"]
    check_master(damaged, -14.0)
    # other settings: everything is mastered again
    results = run_batch([catalogue], outdir, workers=2, target_lufs=-16)
    assert {r["status"] for r in results if r["status"] != "failed"} == {"done"}
    check_master(damaged, -16.0)
    assert not leftovers(outdir)

    # --auto after a plain run: where it picks the preset used (streaming), nothing to redo
    results = run_batch([catalogue], outdir, workers=2, target_lufs=-16, auto=True)
    rows = by_input(results, catalogue)
    assert {n: rows[n]["status"] for n in GOOD} == {
        "album1/a.wav": "skipped", "album1/b.wav": "done", "album2/c.flac": "skipped",
        "album2/live/d.wav": "done"}
    assert [rows[n]["preset"] for n in GOOD] == [preset for preset, _ in GOOD.values()]


def test_one_batch_per_outdir_and_no_lock_left(tmp_path):
    from pymaster.batch import LOCK_NAME, _lock
    with _lock(str(tmp_path)):
        with pytest.raises(UserError, match="another batch is writing there"):
            with _lock(str(tmp_path)):
                pass
        assert (tmp_path / LOCK_NAME).exists()
    assert not (tmp_path / LOCK_NAME).exists()
    with _lock(str(tmp_path)):  # free again
        pass


@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory):
    """A real dask scheduler and two single-threaded workers, on 127.0.0.1, stopped cleanly."""
    folder = tmp_path_factory.mktemp("dask")
    procs = []

    def start(module, *args):
        log = open(folder / f"{len(procs)}.log", "w")
        procs.append((subprocess.Popen([sys.executable, "-m", module, *map(str, args)],
                                       cwd=folder, stdout=log, stderr=subprocess.STDOUT), log))

    try:
        start("distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
              "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
              "--scheduler-file", folder / "scheduler.json")
        deadline = time.monotonic() + 60
        while True:
            try:
                address = json.loads((folder / "scheduler.json").read_text())["address"]
                break
            except (OSError, ValueError, KeyError):
                assert time.monotonic() < deadline and procs[0][0].poll() is None, "no scheduler"
                time.sleep(0.1)
        for name in ("w1", "w2"):
            start("distributed.cli.dask_worker", address, "--host", "127.0.0.1", "--nthreads",
                  "1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--name", name,
                  "--local-directory", folder / name)
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            pids = set(client.run(os.getpid).values())
        yield address, pids
    finally:
        codes = []
        for proc, log in reversed(procs):  # workers first, then the scheduler
            proc.send_signal(signal.SIGTERM)
            try:
                codes.append(proc.wait(timeout=30))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
            log.close()
    assert codes == [0] * len(procs), "the cluster did not stop cleanly"


def test_dask_cluster_batch(catalogue, tmp_path, dask_scheduler, capsys):
    address, worker_pids = dask_scheduler
    outdir, manifest = tmp_path / "out", tmp_path / "results.json"
    assert main(["batch", str(catalogue / "album1"), str(catalogue / "album2"),
                 str(catalogue / "broken"), "-o", str(outdir), "--auto", "--scheduler", address,
                 "--manifest", str(manifest), "-q"]) == 1
    assert capsys.readouterr().out == ""  # -q: no summary
    results = json.loads(manifest.read_text())["tracks"]
    check_batch(results, catalogue, outdir, auto=True)
    # the work was done by the two dask workers, not here
    assert {int(r["worker"].rsplit(":", 1)[1]) for r in results} == worker_pids
    # resumable on the cluster as well
    results = run_batch([catalogue / "album1", catalogue / "album2", catalogue / "broken"],
                        outdir, scheduler=address, auto=True)
    assert sorted(r["status"] for r in results) == ["failed"] * 3 + ["skipped"] * 4


CRASH_ON_B = """
import os

def dask_setup(worker):  # in each worker process, restarted ones too (not in the nanny)
    import distributed, pymaster.batch as batch
    if not isinstance(worker, distributed.Worker) or hasattr(batch, "real_master_track"):
        return
    batch.real_master_track = batch.master_track

    def crashing(track):  # tasks name the function: workers look it up in the module
        if os.path.basename(track.input) == "b.wav":
            os._exit(1)
        return batch.real_master_track(track)
    batch.master_track = crashing
"""


def test_worker_death_fails_only_its_file(catalogue, tmp_path):
    """A file that kills its worker (e.g. a crash in C) fails alone, after dask's retries."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0", preload=[CRASH_ON_B]) \
            as cluster, distributed.Client(cluster) as client:
        results = run_batch([catalogue / "album1", catalogue / "album2"], tmp_path,
                            scheduler=client)
    rows = by_input(results, catalogue)
    assert rows["album1/b.wav"]["status"] == "failed"
    assert "KilledWorker" in rows["album1/b.wav"]["error"]
    assert [rows[n]["status"] for n in ("album1/a.wav", "album2/c.flac", "album2/live/d.wav")] \
        == ["done"] * 3


def test_unreachable_scheduler(catalogue, tmp_path, monkeypatch):
    monkeypatch.setattr("pymaster.batch.CONNECT_TIMEOUT_S", 1)
    with pytest.raises(UserError, match="cannot connect to the dask scheduler"):
        run_batch([catalogue / "album1"], tmp_path, scheduler="tcp://127.0.0.1:9",
                  manifest_path=tmp_path / "r.csv")


def start_batch(inputs, outdir):
    """`pymaster batch` in its own process group, with the default response to the signals a
    test sends: a suite started as a background job of a non-interactive shell inherits SIGINT
    ignored, and a child would keep ignoring it."""
    return subprocess.Popen([sys.executable, "-m", "pymaster", "batch", *map(str, inputs),
                             "-o", str(outdir), "--workers", "2", "-q"],
                            start_new_session=True, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_signals)


def signal_mid_batch(mixes, outdir, sig, records, timeout=60):
    """Start a batch and send `sig` to its process group once `records` outputs are recorded.
    Returns the process, or None if the batch ended first (this process was held up longer
    than the whole batch took: the caller gives it more work and tries again)."""
    proc = start_batch([mixes], outdir)
    deadline = time.monotonic() + timeout
    while len(list(outdir.rglob(".*.pymaster.json"))) < records:
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read()
            return None
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.killpg(proc.pid, sig)
    return proc


def more_mixes(mixes, count=16, seconds=8.0):
    start = len(list(mixes.rglob("*.wav")))
    for i in range(start, start + count):
        write(mixes / f"set{i % 2}" / f"t{i:02d}.wav", programme(seconds, seed=10 + i))
    return start + count


def test_resume_after_interrupt_and_kill(tmp_path):
    mixes, outdir = tmp_path / "mixes", tmp_path / "masters"
    total = more_mixes(mixes)

    # Ctrl-C (SIGINT to the process group): exit 130 and nothing temporary left
    while (proc := signal_mid_batch(mixes, outdir, signal.SIGINT, 2)) is None:
        shutil.rmtree(outdir)
        total = more_mixes(mixes)
    assert proc.wait(timeout=60) == 130, proc.stderr.read()
    assert not leftovers(outdir)
    with open(outdir / "pymaster-results.csv", newline="") as f:
        statuses = [row["status"] for row in csv.DictReader(f)]
    assert "interrupted" in statuses and len(statuses) == total

    # SIGKILL of client and workers at once: temporary files may stay, outputs are whole
    while True:
        for record in outdir.rglob(".*.pymaster.json"):
            record.unlink()  # so that this run starts over
        proc = signal_mid_batch(mixes, outdir, signal.SIGKILL, 4)
        if proc is not None:
            break
        total = more_mixes(mixes)
    proc.wait(timeout=60)
    recorded = {p.parent / p.name[1:-len(".pymaster.json")] for p in
                outdir.rglob(".*.pymaster.json")}
    assert len(recorded) < total
    stamps = {p: p.stat().st_mtime_ns for p in recorded}
    for output in outdir.rglob("t*.wav"):  # visible outputs are complete files
        source = mixes / output.relative_to(outdir)
        assert sf.info(output).frames == sf.info(source).frames

    # what a kill can leave (whatever this one did): removed by the next batch, and only that
    stale = [".t00.wav.4242-0123abcd.part", ".pymaster.4242-89abcdef.f32",
             "..t00.wav.pymaster.json.4242-deadbeef.tmp"]
    for name in stale + [".mine.4242-0123abcd.part"]:
        (outdir / "set0" / name).write_bytes(b"x")
    results = run_batch([mixes], outdir, workers=2)
    assert [p.name for p in leftovers(outdir)] == [".mine.4242-0123abcd.part"]
    (outdir / "set0" / ".mine.4242-0123abcd.part").unlink()
    status = {r["output"]: r["status"] for r in results}
    assert {status[str(p)] for p in recorded} == {"skipped"}
    assert set(status.values()) == {"skipped", "done"} and len(status) == total
    assert stamps == {p: p.stat().st_mtime_ns for p in recorded}
    assert not leftovers(outdir)
    assert all(r["output_true_peak_dbtp"] <= -1.0 for r in results)
    for output in outdir.rglob("t*.wav"):
        check_master(output, -14.0, frames=sf.info(mixes / output.relative_to(outdir)).frames,
                     reference_peak=False)


def test_collisions_are_deterministic(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    names = ["song.wav", "song.mp3", "song.aiff", "song~2.wav", "SONG.wav", "other.flac"]
    for name in names:
        (folder / name).write_bytes(b"")  # planning reads no audio
    expected = {"SONG.wav": "SONG.wav", "song.aiff": "song~3.wav", "song.mp3": "song~4.wav",
                "song.wav": "song~5.wav", "song~2.wav": "song~2.wav", "other.flac": "other.flac"}
    for inputs in ([folder], [folder / n for n in names], [folder / n for n in names[::-1]],
                   [str(folder / "*.*")]):
        tracks = plan_batch(inputs, tmp_path / "out")
        assert {os.path.basename(t.input): os.path.relpath(t.output, tmp_path / "out")
                for t in tracks} == expected
    tracks = plan_batch([folder], tmp_path / "out", format="flac")
    assert sorted(os.path.basename(t.output) for t in tracks)[:2] == ["SONG.flac", "other.flac"]
    # layout: relative to the deepest folder holding every input root
    (tmp_path / "x" / "deep").mkdir(parents=True)
    (tmp_path / "x" / "deep" / "a.wav").write_bytes(b"")
    tracks = plan_batch([folder / "other.flac", tmp_path / "x"], tmp_path / "out")
    assert sorted(os.path.relpath(t.output, tmp_path / "out") for t in tracks) == \
        ["in/other.flac", "x/deep/a.wav"]


def test_csv_manifest(tmp_path):
    a = write(tmp_path / "mixes" / "a.wav", programme(4.0, seed=5))
    write(tmp_path / "mixes" / "b.flac", programme(5.0, 44100, seed=6), 44100, "PCM_24")
    manifest = tmp_path / "mixes" / "list.csv"
    manifest.write_text(
        "path,preset,target_lufs,ceiling_dbtp,title,artist,album,isrc\n"
        "a.wav,loud,,,Song A,Band,LP,\n"
        "b.flac,,-16,-2,Song B,Band,LP,US-S1Z-99-00001\n"
        "a.wav,dynamic,,,,,,\n"   # the same mix in another master: a~2.wav
        "missing.wav,,,,,,,\n", encoding="utf-8")
    results = run_batch([manifest], tmp_path / "out", preset="streaming", workers=2)
    assert [r["status"] for r in results] == ["done", "done", "done", "failed"]
    assert [os.path.basename(r["output"]) for r in results] == \
        ["a.wav", "b.flac", "a~2.wav", "missing.wav"]
    assert "no such file" in results[3]["error"]
    frames = sf.info(a).frames
    check_master(tmp_path / "out" / "a.wav", -9.0, frames=frames)
    check_master(tmp_path / "out" / "a~2.wav", -18.0, frames=frames)
    check_master(tmp_path / "out" / "b.flac", -16.0, ceiling=-2.0)
    with sf.SoundFile(tmp_path / "out" / "a.wav") as f:
        assert (f.title, f.artist, f.album) == ("Song A", "Band", "LP")
    from mutagen.flac import FLAC
    tags = FLAC(tmp_path / "out" / "b.flac")
    assert tags["TITLE"] == ["Song B"] and tags["ISRC"] == ["USS1Z9900001"]


@pytest.mark.parametrize("text, where, why", [
    ("path,tempo\na.wav,120\n", "row 1, column 'tempo'", "unknown column"),
    ("preset,title\nloud,Song\n", "row 1", "no 'path' column"),
    ("path,target_lufs\na.wav,-14\nb.wav,loud\n", "row 3, column target_lufs",
     "is not a number"),
    ("path,ceiling_dbtp\na.wav,3\n", "row 2, column ceiling_dbtp", "out of range"),
    ("path,preset\n\na.wav,lod\n", "row 3, column preset", "unknown preset 'lod'"),
    ("path,isrc\na.wav,123\n", "row 2, column isrc", "invalid ISRC"),
    ("path,title\n,Song\n", "row 2, column path", "empty"),
    ("path,title\na.wav,Song,extra\n", "row 2", "3 values for 2 columns"),
])
def test_bad_manifest(tmp_path, capsys, text, where, why):
    manifest = tmp_path / "list.csv"
    manifest.write_text(text)
    with pytest.raises(UserError) as error:
        read_manifest(manifest)
    assert str(error.value).startswith(f"{manifest}: {where}") and why in str(error.value)
    assert main(["batch", str(manifest), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and where in err[0] and not (tmp_path / "out").exists()


def test_usage_errors(catalogue, tmp_path, capsys):
    out = str(tmp_path / "out")
    for argv, message in [
        ([str(tmp_path / "nope"), "-o", out], "no such file or folder"),
        ([str(catalogue / "*.mp3"), "-o", out], "matches no audio file"),
        ([str(catalogue), "-o", str(catalogue)], "is OUTDIR or inside it"),
        ([str(catalogue), "-o", out, "--preset", "nope"], "unknown preset 'nope'"),
        ([str(catalogue), "-o", out, "--manifest", str(tmp_path / "r.txt")], ".csv or .json"),
        ([str(catalogue / "notes.txt"), "-o", out, "--format", "flac", "--bit-depth", "32f"],
         "FLAC holds"),
    ]:
        assert main(["batch", *argv]) == 2
        assert message in capsys.readouterr().err
    for argv in (["--preset", "loud", "--auto"], ["--workers", "0"],
                 ["--workers", "2", "--scheduler", "tcp://127.0.0.1:9"]):
        with pytest.raises(SystemExit) as exit_:
            main(["batch", str(catalogue), "-o", out, *argv])
        assert exit_.value.code == 2
    assert not os.path.exists(out)


def test_auto_rule():
    base = {"integrated_lufs": -20.0, "loudness_range_lu": 7.0, "crest_db": 15.0}
    assert auto_preset(base) == "streaming"
    assert auto_preset(dict(base, loudness_range_lu=12.0)) == "dynamic"
    assert auto_preset(dict(base, loudness_range_lu=4.0, crest_db=9.0)) == "loud"
    assert auto_preset(dict(base, loudness_range_lu=4.0)) == "streaming"
    assert auto_preset(dict(base, integrated_lufs=float("-inf"))) == "streaming"
    assert auto_preset(dict(base, loudness_range_lu=float("nan"), crest_db=5.0)) == "loud"
