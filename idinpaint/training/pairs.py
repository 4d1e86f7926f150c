"""An LFW-half pair trained and shipped under one name: ``idinpaint detector train`` runs the
``detector_<recipe>`` training recipe for each half (:func:`~idinpaint.training.stages.run_training`,
one run folder per half) and copies each half's exported file to ``odetector_<recipe>_half<H>.pt``
with its JSON card (:func:`~idinpaint.checkpoints.checkpoint_card`: what produced it)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from idinpaint.checkpoints import DETECTOR_PREFIX, checkpoint_card, load_detector
from idinpaint.config import DETECTOR_RECIPE, TRAIN_CONFIG, deep_merge
from idinpaint.data.lfw import check_half
from idinpaint.data.registry import DATASETS
from idinpaint.imageio import atomic_write_bytes
from idinpaint.models import get_model
from idinpaint.models.layers import count_parameters
from idinpaint.paths import results_dir
from idinpaint.runinfo import write_json
from idinpaint.runs import read_run, stage_file
from idinpaint.training.stages import run_training


@contextmanager
def _lfw_root(lfw_root):
    """Point the dataset registry's LFW at ``lfw_root`` for the duration (training reads it by name)."""
    variable = DATASETS["lfw"].env_var
    previous = os.environ.get(variable)
    if lfw_root is not None:
        os.environ[variable] = str(lfw_root)
    try:
        yield
    finally:
        if lfw_root is not None:
            if previous is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = previous


def train_detector_pair(recipe: str = "smoke", halves=("A", "B"), aligned_root=None, lfw_root=None, output=None,
                        export_dir=None, overrides: dict | None = None, config_path=TRAIN_CONFIG,
                        log=print) -> list[dict]:
    """Train the O-Detector of each half (run folders ``<output>/half<H>/``, default
    ``results/detector/<recipe>``) and write ``odetector_<recipe>_half<H>.pt`` + card into
    ``export_dir`` (default ``output``). Re-running resumes. Returns one summary per half."""
    output = Path(output or results_dir() / "detector" / recipe)
    export = Path(export_dir or output)
    extra = deep_merge(overrides or {}, {"data": {"root": str(aligned_root)}} if aligned_root else {})
    results = []
    for half in [check_half(h) for h in halves]:
        run_dir = output / f"half{half}"
        with _lfw_root(lfw_root):
            summary = run_training(config_path, DETECTOR_RECIPE.format(recipe), half=half, output=run_dir,
                                   overrides=extra, log=log)
        if summary["status"] != "done":
            raise RuntimeError(f"{run_dir}: detector training stopped: {summary.get('error')}")
        record = [s for s in read_run(run_dir)["stages"] if s.get("model") == "detector"][-1]
        target = export / f"{DETECTOR_PREFIX}_{recipe}_half{half}.pt"
        atomic_write_bytes(target, stage_file(run_dir, record).read_bytes())
        detector = load_detector(target)
        notes = {"what": f"O-Detector (occlusion segmentation) for LFW half {half}: evaluated on pairs folds "
                         f"{'1-5' if half == 'A' else '6-10'}, trained on the other half's people + the unpaired "
                         "people", "held_out_families": detector.meta.get("held_out", []),
                 "parameters": count_parameters(get_model("detector", **detector.meta["models"]["detector"]))}
        card = write_json(target.with_suffix(".json"), checkpoint_card(target, [run_dir], notes))
        results.append({"half": half, "run_dir": str(run_dir), "checkpoint": str(target),
                        "files": [str(target), str(card)], "record": record, "bytes": target.stat().st_size,
                        "parameters": notes["parameters"]})
    return results
