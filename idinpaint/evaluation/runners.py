"""One library call per ``idinpaint evaluate`` command: read, score, write, return what to print.
The CLI parses its options, calls one of these (and, for pictures, one function of
:mod:`idinpaint.figures`), and prints; notebooks call the same functions."""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Sequence

from idinpaint.data.lfw import default_aligned_root, load_pairs
from idinpaint.detection import get_detector
from idinpaint.evaluation.clean import evaluate_clean
from idinpaint.evaluation.protocol import evaluate_conditions, protocol_specs
from idinpaint.evaluation.report import mask_cost_table, results_report
from idinpaint.evaluation.results import combine_results, load_results, rename_filler
from idinpaint.evaluation.retention import run_retention
from idinpaint.evaluation.thresholds import threshold_entry, write_thresholds
from idinpaint.evaluation.tsne import load_subjects, run_tsne, write_projector, write_tsne
from idinpaint.occlusion import canonical_spec
from idinpaint.paths import results_dir
from idinpaint.recognizers import DLIB_RECOGNIZERS, get_recognizer
from idinpaint.runinfo import provenance, write_json


def recognizer(name: str, workers: int = 1):
    """dlib's ResNet is single-threaded: spread it over worker processes; SFace uses torch threads."""
    return get_recognizer(name, workers=workers) if name in DLIB_RECOGNIZERS else get_recognizer(name)


def folds_suffix(folds) -> str:
    return "" if not folds else "_folds" + "-".join(map(str, folds))


def runs_suffix(runs) -> str:
    """The figure-name suffix saved runs share (``_folds1-10``, ``_predicted``: what their stems say
    after the recognizers), so that combining a subset of the folds does not overwrite the figures
    of the full protocol. Empty for full runs; runs with different suffixes give all of them."""
    found = []
    for run in runs:
        stem = Path(run).name
        for part in re.findall(r"_folds[0-9-]+|_predicted", stem):
            if part not in found:
                found.append(part)
    return "".join(found)


def clean_runs(recognizers: Sequence[str], aligned=None, lfw_root=None, folds=None, output=None, output_file=None,
               workers: int = 1, thresholds_file=None) -> dict:
    """``evaluate lfw``: each recognizer's 10-fold result on the clean pairs, written to
    ``<output>/<recognizer>.json`` (or ``output_file``) with its best-accuracy threshold; the
    thresholds together in ``thresholds_file`` when given. Returns {"runs": [...], "thresholds_file"}."""
    aligned = Path(aligned or default_aligned_root())
    runs, best = [], {}
    for name in recognizers:
        started = time.time()
        model = recognizer(name, workers)
        result, scores, pairs = evaluate_clean(model, aligned, lfw_root, folds)
        labels = [p.same for p in pairs]
        best[name] = threshold_entry(scores, labels)
        extra = {"dlib_fallback_boxes": model.fallbacks} if hasattr(model, "fallbacks") else {}
        path = Path(output_file or Path(output or results_dir() / "lfw_clean") / f"{name}.json")
        write_json(path, {**provenance({"recognizer": name, "aligned": str(aligned), "folds": folds}),
                          "seconds": round(time.time() - started, 1), "result": result.as_dict(),
                          "best_threshold": best[name], **extra})
        runs.append({"recognizer": name, "result": result, "scores": scores, "labels": labels,
                     "best_threshold": best[name], "path": path})
    written = write_thresholds(thresholds_file, best, aligned) if thresholds_file else None
    return {"runs": runs, "thresholds_file": written}


def occluded_run(recognizers: Sequence[str], regions="all", fills=("black",), fillers=("none",),
                 specs: Sequence[str] = (), aligned=None, folds=None, lfw_root=None, output=None,
                 mean_face_count: int = 300, masks: str = "oracle", detector_dir=None, workers: int = 1,
                 cluster=None, threads: int | None = None):
    """``evaluate occluded``: regions x fills (+ extra specs), each filler, each recognizer, on the
    second images of the View-2 pairs; ``masks="predicted"`` gives the fillers the O-Detector's mask.
    Writes ``<output>/lfw_occluded_<recognizers>[_foldsN][_predicted].*``. ``cluster``: ``"local"`` (a
    local Dask cluster of ``workers`` processes) or a scheduler address: the conditions run there as
    tasks (:mod:`.distributed`). Returns (results, tag, suffix)."""
    aligned = Path(aligned or default_aligned_root())
    occlusions, baseline_only = protocol_specs(regions, fills)
    occlusions += list(specs or [])
    suffix = folds_suffix(folds) + ("_predicted" if masks == "predicted" else "")
    detector = get_detector(folder=detector_dir, pairs=load_pairs(lfw_root)) if masks == "predicted" else None
    tag = "-".join(recognizers)
    results = evaluate_conditions([recognizer(name, workers) for name in recognizers], occlusions, fillers, aligned,
                                  folds=folds, lfw_root=lfw_root, output_dir=Path(output or results_dir() / "lfw_occluded"),
                                  stem=f"lfw_occluded_{tag}{suffix}", mean_face_count=mean_face_count,
                                  baseline_only=baseline_only, masks=masks, detector=detector, threads=threads,
                                  cluster=_cluster(cluster, workers))
    return results, tag, suffix


def _cluster(cluster, workers: int):
    """``"local"`` becomes a local cluster of ``workers`` processes (a dict :func:`.distributed.connect`
    reads); an address or None is passed on."""
    return {"local": True, "workers": workers} if cluster == "local" else cluster


def load_runs(runs: Sequence[str]):
    """Saved ``evaluate occluded`` runs combined (later runs win for a condition in several): each
    ``FOLDER/STEM``, or a bare ``STEM`` in ``results/lfw_occluded/``; ``STEM:OLD=NEW,...`` renames
    fillers of that run. A missing run or a bad rename is a one-line error naming the file."""
    parts = []
    for run in runs:
        run, _, renames = run.partition(":")
        path = Path(run)
        if not path.is_absolute() and not path.parent.parts:
            path = results_dir() / "lfw_occluded" / path
        json_path = path.with_name(path.name + ".json")
        if not json_path.is_file():
            raise FileNotFoundError(f"{json_path}: no such saved run (write it with `idinpaint evaluate occluded`)")
        part = load_results(path.parent, path.name)
        for rename in filter(None, renames.split(",")):
            old_name, equals, new_name = rename.partition("=")
            if not (old_name and equals and new_name):
                raise ValueError(f"{json_path}: {run}: rename {rename!r} is not OLD=NEW")
            try:
                part = rename_filler(part, old_name, new_name)
            except ValueError as err:
                raise ValueError(f"{json_path}: {err}") from None
        parts.append(part)
    return combine_results(*parts)


def report_text(runs: Sequence[str], method: str = "ca_id", baselines=("none", "gray:none", "telea", "donor"),
                predicted: Sequence[str] = ()):
    """``evaluate report``: the README's tables of saved runs, and with ``predicted`` runs the cost of
    the O-Detector's mask against the oracle one per recognizer. Returns (markdown, combined results)."""
    results = load_runs(runs)
    text = results_report(results, method, baselines)
    if predicted:
        other = load_runs(predicted)
        parts = []
        for name in dict.fromkeys(row["recognizer"] for row in other):
            try:
                table = mask_cost_table(results, other, name)
            except ValueError as err:
                raise ValueError(f"--predicted: {err}") from None
            parts += [f"\n**{name}: predicted minus oracle mask** (accuracy %, paired over the 10 folds, "
                      "exact sign-flip p)\n", table]
        text += "\n".join(parts) + "\n"
    return text, results


def retention_run(recognizers: Sequence[str], fillers, halves=("A", "B"), models: dict | None = None,
                  compare=(), regions=("all",), val_images: int = 64, seed: int = 0, aligned=None, lfw_root=None,
                  output=None, gallery: int = 0, workers: int = 1) -> dict:
    """``evaluate retention``: :func:`~idinpaint.evaluation.retention.run_retention` with the
    recognizers built and the defaults filled in."""
    kwargs = {} if "all" in regions else {"regions": list(regions)}
    return run_retention([recognizer(name, workers) for name in recognizers], fillers, halves, models,
                         compare=list(compare), val_images=val_images, seed=seed,
                         aligned_root=Path(aligned or default_aligned_root()), lfw_root=lfw_root,
                         output_dir=output or results_dir() / "retention", gallery=gallery, **kwargs)


def tsne_runs(recognizers: Sequence[str], specs: Sequence[str], fillers, dataset: str = "lfw", aligned=None,
              people: int = 12, images: int = 20, min_images: int = 20, seed: int = 0, thumbnails: int = 32,
              output=None):
    """``evaluate tsne``: for each recognizer and spec, the t-SNE of one fixed set of people clean,
    occluded and filled, written to ``<output>/<stem>.json/.npz`` (and a TensorBoard projector log
    when ``thumbnails``). Yields one record per map (conditions, subjects, stem, paths, projector)."""
    subjects = load_subjects(dataset, aligned, min_images=min_images, max_people=people,
                             images_per_person=images, seed=seed)
    output = Path(output or results_dir() / "tsne")
    for name in recognizers:
        for spec in map(canonical_spec, specs):
            conditions = run_tsne(name, subjects, spec, fillers, seed=seed, thumbnails=thumbnails)
            slug = "".join(c if c.isalnum() else "-" for c in spec)
            stem = f"tsne_{dataset}_{name}_{slug}"
            config = {"dataset": dataset, "recognizer": name, "spec": spec, "fillers": list(fillers), "people": people,
                      "images": images, "min_images": min_images, "seed": seed}
            paths = write_tsne(conditions, subjects, output, stem, config)
            projector = write_projector(conditions, subjects, output / "projector", stem) if thumbnails else None
            yield {"recognizer": name, "spec": spec, "conditions": conditions, "subjects": subjects, "stem": stem,
                   "paths": paths, "projector": projector, "projector_dir": output / "projector"}
