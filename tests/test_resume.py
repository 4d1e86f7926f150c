"""Kill and resume: `evaluate occluded` and `train` killed with a real SIGKILL mid-run (as the
preprocess test does), then re-run: the run resumes where it stopped, ends with the results an
uninterrupted run gives, and leaves nothing half-written behind."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from test_protocol import FREE_PEOPLE, PAIR_PEOPLE, SPEC, FakeRecognizer, make_folder, make_pairs
from test_training import MIX, _synthetic_faces

from idinpaint.evaluation.cache import condition_cache_file
from idinpaint.evaluation.embeddings import load_embedding_cache
from idinpaint.evaluation.protocol import evaluate_conditions
from idinpaint.evaluation.results import load_results
from idinpaint.fillers import get_filler

TESTS = Path(__file__).resolve().parent
FILLERS = ["none", "telea"]
#: Row fields that say how a run went rather than what it measured.
RUN_FIELDS = {"seconds", "embedded"}


def _wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 90.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended (exit {process.returncode}) before {what}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"timed out waiting for {what}")


def _kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL


def _measured(results) -> list[dict]:
    """Each row without its run fields; NaN (e.g. an undefined recovery ratio) as a string, so that
    two rows that measured the same compare equal."""
    return [{k: "nan" if isinstance(v, float) and v != v else v for k, v in row.items() if k not in RUN_FIELDS}
            for row in results]


# --- evaluate occluded ---------------------------------------------------------------------------

#: The run the test kills: the protocol on a synthetic folder with a fake recognizer that stalls,
#: once the telea condition's cache holds some crops, until it is killed (so the kill lands between
#: two chunks, mid-condition, never inside a cache write).
EVALUATE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from idinpaint.evaluation.cache import condition_cache_file
    from idinpaint.evaluation.embeddings import load_embedding_cache
    from idinpaint.evaluation.protocol import evaluate_conditions
    from idinpaint.fillers import get_filler
    from test_protocol import SPEC, FakeRecognizer, make_pairs

    aligned, output, ready = map(Path, sys.argv[1:4])
    telea_cache = condition_cache_file("fake", aligned, SPEC, get_filler("telea"))

    class Stalling(FakeRecognizer):
        def _embed_batch(self, images):
            if load_embedding_cache(telea_cache):
                ready.write_text("stalled")
                time.sleep(300)
            return super()._embed_batch(images)

    evaluate_conditions([Stalling()], [SPEC], {fillers!r}, aligned, pairs=make_pairs(), progress=False,
                        chunk=2, output_dir=output, stem="run")
""").format(fillers=FILLERS)


@pytest.mark.slow
def test_killed_occluded_evaluation_resumes_with_identical_results(tmp_path, monkeypatch):
    aligned = tmp_path / "aligned"
    make_folder(aligned, {**{p: 3 for p in PAIR_PEOPLE}, **{p: 2 for p in FREE_PEOPLE}})
    pairs = make_pairs()
    seconds = sorted({p.second.replace(".jpg", ".png") for p in pairs})
    cache, output, ready = tmp_path / "cache", tmp_path / "out", tmp_path / "stalled"
    env = {**os.environ, "IDINPAINT_CACHE": str(cache), "IDINPAINT_RESULTS": str(tmp_path / "results"),
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    script = tmp_path / "evaluate.py"
    script.write_text(EVALUATE)
    with open(tmp_path / "evaluate.log", "w") as log:
        process = subprocess.Popen([sys.executable, str(script), str(aligned), str(output), str(ready)], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    _wait_for(ready.exists, process, "the telea condition had cached some crops")
    _kill(process)

    monkeypatch.setenv("IDINPAINT_CACHE", str(cache))
    monkeypatch.setenv("IDINPAINT_RESULTS", str(tmp_path / "results"))
    none_cache = condition_cache_file("fake", aligned, SPEC, get_filler("none"))
    telea_cache = condition_cache_file("fake", aligned, SPEC, get_filler("telea"))
    assert sorted(load_embedding_cache(none_cache)) == seconds  # the first condition finished
    done = load_embedding_cache(telea_cache)
    assert 0 < len(done) < len(seconds), "killed mid-condition"
    partial = load_results(output, "run")  # what the killed run wrote is whole: clean + occluded rows
    assert [row["filler"] for row in partial] == ["none", "none"]

    resumed = FakeRecognizer()
    results = evaluate_conditions([resumed], [SPEC], FILLERS, aligned, pairs=pairs, progress=False, chunk=2,
                                  output_dir=output, stem="run")
    assert not results.failures
    assert resumed.images == len(seconds) - len(done), "only what the kill left undone is embedded"

    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / "fresh_cache"))
    reference = evaluate_conditions([FakeRecognizer()], [SPEC], FILLERS, aligned, pairs=pairs, progress=False,
                                    chunk=2, output_dir=tmp_path / "fresh_out", stem="run")
    assert _measured(results) == _measured(reference)
    assert results.scores.keys() == reference.scores.keys()
    for key, scores in reference.scores.items():
        np.testing.assert_array_equal(results.scores[key], scores)
    saved = load_results(output, "run")
    assert _measured(saved) == _measured(load_results(tmp_path / "fresh_out", "run"))
    for key, scores in reference.scores.items():
        np.testing.assert_allclose(saved.scores[key], scores, rtol=0, atol=1e-7)
    assert json.loads((output / "run.json").read_text())["failures"] == []
    assert not list(tmp_path.rglob("*.tmp")), "no temporary file outlives the resumed run"


# --- train ---------------------------------------------------------------------------------------

CA_STEPS, EVERY = 8, 2


def _train_command(faces: Path, output: Path) -> list[str]:
    stages = f"stages=[{{name: ca, model: ca, steps: {CA_STEPS}}}]"  # one stage keeps the test short
    mix = "masks.mix=[" + ", ".join(f"['{spec}', {weight}]" for spec, weight in MIX) + "]"
    return [sys.executable, "-m", "idinpaint", "train", "--recipe", "smoke", "--output", str(output), "--set",
            "data.dataset=folder", f"data.root={faces}", "data.limit=null", "data.val_images=3", mix, stages,
            f"trainer.checkpoint_every={EVERY}", "trainer.val_every_n_steps=4"]


@pytest.mark.slow
def test_killed_training_resumes_its_stage_and_ends_with_a_loadable_inpainter(tmp_path):
    from idinpaint.checkpoints import load_checkpoint

    faces = _synthetic_faces(tmp_path / "faces")
    output = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "IDINPAINT_RESULTS": str(tmp_path / "results")}
    process = subprocess.Popen(_train_command(faces, output), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    last = output / "ca" / "last.ckpt"
    _wait_for(last.exists, process, "the CA stage wrote its first last.ckpt")
    _kill(process)

    assert json.loads((output / "ca" / "stage.json").read_text())["status"] == "running"
    assert not (output / "ca" / "inpainter.pt").exists()
    state = torch.load(last, map_location="cpu", weights_only=False)  # whole, not half-written
    optimizers = 2  # generator + discriminator (the smoke CA has an adversarial term)
    saved_batches = state["global_step"] // optimizers
    assert saved_batches % EVERY == 0 and 0 < saved_batches < CA_STEPS

    again = subprocess.run(_train_command(faces, output), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert f"resuming from {last}" in again.stdout
    stage = json.loads((output / "ca" / "stage.json").read_text())
    assert stage["status"] == "done" and stage["resumed_from"] == str(last)
    assert stage["batches"] == CA_STEPS, "the step count continues to the stage's end"
    assert stage["batches_run"] == CA_STEPS - saved_batches, "continued from the checkpoint, not restarted"
    run = json.loads((output / "run.json").read_text())
    assert run["status"] == "done" and run["final_inpainter"] == str(output / "ca" / "inpainter.pt")

    inpainter = load_checkpoint(output / "ca" / "inpainter.pt", "ca")
    assert inpainter.kind == "ca"
    filled = inpainter.predict(np.full((1, 112, 112, 3), 128, np.uint8), np.ones((1, 112, 112), bool), 1)
    assert filled.shape == (1, 112, 112, 3) and filled.dtype == np.uint8
    for ckpt in ("last.ckpt", "best.ckpt"):
        assert "state_dict" in torch.load(output / "ca" / ckpt, map_location="cpu", weights_only=False)
    assert not list(output.rglob("*.tmp")), "no temporary checkpoint outlives the resumed run"
    # the validation's identity embeddings for TensorBoard's projector (the first validation of a stage)
    assert (output / "tb" / "ca" / "projector_config.pbtxt").is_file()
