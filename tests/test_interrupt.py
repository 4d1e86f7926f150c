"""Ctrl-C (SIGINT to the whole process group, as a terminal sends it) and SIGTERM (to the main
process, as a scheduler sends it) on the long commands, run as real subprocesses on tiny inputs: one
line on stderr saying how far it got and to run the command again, a non-zero exit, no traceback
from the main process or any worker, no half-written file; the same command run again completes."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def _env(tmp_path: Path, **extra) -> dict:
    return {**os.environ, "IDINPAINT_CACHE": str(tmp_path / "cache"), "IDINPAINT_RESULTS": str(tmp_path / "results"),
            "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1",
            **extra}


def _start(argv, tmp_path: Path, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "idinpaint", *map(str, argv)], env=_env(tmp_path, **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _interrupt(process: subprocess.Popen, ready, what: str, how: signal.Signals, timeout: float = 240.0):
    """Wait until ``ready()``, send ``how`` (SIGINT to the process group, SIGTERM to the main process);
    returns (exit status, stdout, stderr)."""
    deadline = time.time() + timeout
    while not ready():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the run ended (exit {process.returncode}) before {what}:\n{err[-2000:]}")
        if time.time() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    if how == signal.SIGINT:
        os.killpg(process.pid, signal.SIGINT)
    else:
        os.kill(process.pid, signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError("the interrupted run did not stop within 2 minutes") from None
    return process.returncode, out, err


BAR = re.compile(r"^[^|]*: +\d+%\|.*\| *\d+/\d+ \[")  # a progress bar's line (tqdm, written without a terminal)


def _one_line(code: int, err: str, how: signal.Signals) -> str:
    """The interrupted run's stderr is one line besides its progress bar's lines."""
    assert code == 128 + how.value, f"exit {code}:\n{err[-3000:]}"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    lines = [part for line in err.split("\n") for part in line.split("\r") if part.strip() and not BAR.match(part)]
    assert len(lines) == 1, err[-3000:]
    line = lines[0]
    assert line.startswith("interrupted") and line.endswith("run the same command again to resume"), line
    return line


def _no_temp_files(*folders: Path) -> None:
    left = [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.name.endswith(".tmp")]
    assert not left, f"half-written files left: {left[:5]}"


# --- preprocess ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def raw_sample(lfw_root, tmp_path_factory) -> Path:
    """200 LFW photos of four people (a few seconds of aligning with 2 workers)."""
    people = ["George_W_Bush", "Colin_Powell", "Tony_Blair", "Donald_Rumsfeld"]
    folder = tmp_path_factory.mktemp("raw")
    for person in people:
        photos = sorted((lfw_root / "raw" / person).glob("*.jpg"))[:50]
        if len(photos) < 50:
            pytest.skip(f"needs 50 photos of {person} in {lfw_root / 'raw'}")
        (folder / person).mkdir()
        for photo in photos:
            shutil.copy(photo, folder / person / photo.name)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_preprocess_says_one_line_and_resumes(raw_sample, tmp_path, how):
    aligned = tmp_path / "aligned"
    argv = ["preprocess", "--raw", raw_sample, "--aligned", aligned, "--has-subdirs", "--workers", "2"]
    landmarks = aligned / "landmarks.csv"

    def some_aligned() -> bool:
        return landmarks.is_file() and landmarks.read_text().count("\n") > 10

    code, _, err = _interrupt(_start(argv, tmp_path), some_aligned, "some crops were aligned", how)
    line = _one_line(code, err, how)
    assert " of 200 img (align)" in line, line
    _no_temp_files(aligned)
    done_rows = [line.split(",")[0] for line in landmarks.read_text().splitlines()[1:]]
    done = len(done_rows)
    assert 0 < done < 200, "interrupted mid-run"
    assert not (aligned / "preprocess.json").exists(), "no report of a run that did not finish"
    crops = {row: aligned / Path(row).with_suffix(".png") for row in done_rows}
    assert all(path.is_file() for path in crops.values()), "every landmarks row has its crop"
    stamps = {row: path.stat().st_mtime_ns for row, path in crops.items()}

    finished = subprocess.run([sys.executable, "-m", "idinpaint", *map(str, argv)], env=_env(tmp_path),
                              capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    counts = re.search(r"(\d+) images: (\d+) aligned, (\d+) already done, (\d+) failed", finished.stdout)
    assert counts, finished.stdout
    total, aligned_now, skipped, failed = map(int, counts.groups())
    # the resume aligns exactly what the interrupted run had not: the done photos are skipped, not redone
    assert (total, skipped) == (200, done) and aligned_now + skipped + failed == 200, counts.group(0)
    assert aligned_now > 0
    assert {row: path.stat().st_mtime_ns for row, path in crops.items()} == stamps, "a finished crop was rewritten"
    rows = [line.split(",")[0] for line in landmarks.read_text().splitlines()[1:]]
    assert len(rows) == len(set(rows)) == 200 - failed, "one landmarks row per aligned photo, none twice"
    assert set(done_rows) <= set(rows) and len(list(aligned.rglob("*.png"))) == len(rows)
    assert (aligned / "preprocess.json").is_file(), "the finished run writes its report"
    _no_temp_files(aligned)


# --- train -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_interrupted_training_says_one_line_and_the_same_command_resumes(tmp_path):
    from test_resume import CA_STEPS, _train_command
    from test_training import _synthetic_faces

    faces = _synthetic_faces(tmp_path / "faces")
    output = tmp_path / "run"
    argv = _train_command(faces, output)[3:]  # without `python -m idinpaint`
    last = output / "ca" / "last.ckpt"
    # quiet (as in a notebook or a CI log): Lightning's start-up lines are not what this test is about
    code, _, err = _interrupt(_start(argv, tmp_path, IDINPAINT_QUIET="1"), last.exists,
                              "the CA stage wrote its first last.ckpt", signal.SIGINT)
    line = _one_line(code, err, signal.SIGINT)
    assert re.search(rf"interrupted after \d+ of {CA_STEPS} batches \(stage ca\)", line), line
    _no_temp_files(output)
    assert not (output / "ca" / "inpainter.pt").exists()

    again = subprocess.run([sys.executable, "-m", "idinpaint", *argv], env=_env(tmp_path), capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert f"resuming from {last}" in again.stdout
    assert (output / "ca" / "inpainter.pt").is_file()
    _no_temp_files(output)


# --- evaluate occluded -----------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT])
def test_interrupted_occluded_evaluation_says_one_line_and_resumes(smoke_crops, smoke_lfw_root, tmp_path, how):
    """On the 20 smoke pairs (their crops aligned by the session, tests/conftest.py): no full aligned LFW needed."""
    output = tmp_path / "out"
    argv = ["evaluate", "occluded", "--recognizers", "sface", "--regions", "two_eyes", "--fillers", "none",
            "telea", "--aligned", smoke_crops, "--lfw-root", smoke_lfw_root, "--output", output,
            "--figures", tmp_path / "figures", "--workers", "1"]
    caches = tmp_path / "cache"

    def some_cached() -> bool:
        return caches.is_dir() and any(caches.rglob("*.npz"))

    code, _, err = _interrupt(_start(argv, tmp_path), some_cached, "some embeddings were cached", how)
    line = _one_line(code, err, how)
    assert " of " in line, line
    _no_temp_files(caches, output)
    assert not (output / "lfw_occluded_sface.json").is_file() or \
        len(json.loads((output / "lfw_occluded_sface.json").read_text())["rows"]) < 3, "interrupted mid-run"

    finished = subprocess.run([sys.executable, "-m", "idinpaint", *map(str, argv)], env=_env(tmp_path),
                              capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stderr[-2000:]
    rows = json.loads((output / "lfw_occluded_sface.json").read_text())["rows"]
    assert [(r["occlusion"], r["filler"]) for r in rows] == [
        ("clean", "none"), ("region:two_eyes@black", "none"), ("region:two_eyes@black", "telea")]
    assert all(r["pairs"] == 20 and not r.get("error") for r in rows), rows
    _no_temp_files(caches, output)


# --- detector train --------------------------------------------------------------------------------

@pytest.mark.slow
def test_interrupted_detector_training_says_one_line_and_the_same_command_resumes(lfw_root, smoke_crops, tmp_path):
    runs, pair = tmp_path / "runs", tmp_path / "pair"  # trains on the smoke crops the session aligned
    argv = ["detector", "train", "--recipe", "smoke", "--halves", "A", "--output", runs, "--export-dir", pair,
            "--lfw-root", lfw_root, "--aligned", smoke_crops, "--set", "stages.detector.steps=60", "data.batch_size=4", "detector.faces=12",
            "detector.background_photos=2", "detector.network.widths=[4,8,8]", "trainer.num_threads=1",
            "trainer.checkpoint_every=4", "trainer.val_every_n_steps=null"]
    last = runs / "halfA" / "detector" / "last.ckpt"
    code, _, err = _interrupt(_start(argv, tmp_path, IDINPAINT_QUIET="1"), last.exists,
                              "the detector stage wrote its first last.ckpt", signal.SIGTERM)
    line = _one_line(code, err, signal.SIGTERM)
    assert re.search(r"interrupted after \d+ of 60 batches \(stage detector\)", line), line
    _no_temp_files(runs, pair)
    assert not (pair / "odetector_smoke_halfA.pt").exists()

    again = subprocess.run([sys.executable, "-m", "idinpaint", *map(str, argv)], env=_env(tmp_path),
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "resuming from" in again.stdout + again.stderr
    assert (pair / "odetector_smoke_halfA.pt").is_file()
    _no_temp_files(runs, pair)
