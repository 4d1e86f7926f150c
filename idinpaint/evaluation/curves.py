"""Learning curves of a long adversarial run on both axes: *is it a face* and *is it this person*.

A run with ``trainer.snapshot_every`` keeps its evaluated generator (the EMA copy) every N batches in
``<run>/<stage>/snapshots/step_NNNNNN.pt``. :func:`learning_curves` scores each snapshot on the
run's own held-out validation crops (people the model never trained on and never evaluated on: the
split ``idinpaint train`` made, :func:`~idinpaint.data.lfw.validation_crops`) at the hardest regions:

* realism: the C2ST AUC of the fill against real hole content (:func:`.realism.c2st`; 0.5 = told
  apart no better than chance);
* identity: the margin of an independent recognizer (dlib by default, never a training loss):
  retention minus impostor similarity (:func:`.retention.identity_retention`).

The same numbers for reference fillers on the same crops (Telea and the shipped CA + ID by default)
are the lines a curve has to cross. Every score is cached as JSON beside the snapshots
(``<run>/<stage>/curves/<snapshot>_<key>.json``, the key in the name as every cache of the package:
:func:`~.cache.keyed_file`), so scoring resumes and a growing run only scores its new snapshots;
the table goes to ``<run>/<stage>/curves.csv``.
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from idinpaint.checkpoints import file_sha256
from idinpaint.data.aligned import read_faces
from idinpaint.data.lfw import identity_of, validation_crops
from idinpaint.evaluation.cache import keyed_file
from idinpaint.evaluation.gallery import FillerComparison, compare_fillers
from idinpaint.evaluation.realism import C2ST_VERSION, c2st
from idinpaint.evaluation.retention import HARDEST, fill_regions, half_fillers, identity_retention, one_per_person
from idinpaint.fillers import Filler
from idinpaint.fillers.learned import CheckpointFiller
from idinpaint.occlusion import region_mask
from idinpaint.paths import aligned_folder
from idinpaint.recognizers import get_recognizer
from idinpaint.runinfo import write_json, write_text
from idinpaint.runs import SNAPSHOTS, read_config, snapshot_files

CURVE_FIELDS = ("label", "batches", "c2st_auc", "c2st_low", "c2st_high", "margin", "margin_se", "retention")
DEFAULT_BASELINES = ("telea", "ca_id")


def run_settings(run_dir) -> dict:
    """The half, aligned folder, validation size and seed a run folder was trained with."""
    config = read_config(run_dir)
    data = config.get("data") or {}
    return {"half": str(data.get("half", "A")).upper(), "root": aligned_folder(data.get("root")),
            "val_images": int(data.get("val_images", 64)), "seed": int(config.get("seed", 0))}


def score_fillers(fillers: Mapping[str, Filler], images: np.ndarray, relatives: Sequence[str], recognizer,
                  regions: Sequence[str] = HARDEST, seed: int = 0) -> dict[str, dict]:
    """Both axes of each filler on ``images`` at ``regions``: ``{label: {region: {c2st_auc, c2st_low,
    c2st_high, margin, margin_se, retention}, "mean": {...}}}`` (the mean over regions; its margin
    standard error is over faces, each face's margin averaged over the regions)."""
    identities = [identity_of(r) or r for r in relatives]
    filled = fill_regions(images, fillers, regions)
    identity = identity_retention(recognizer, images, fillers, regions, identities=identities, filled=filled)
    rows = {(r["region"], r["filler"]): r for r in identity["rows"]}
    out = {}
    for label in fillers:
        entry = {}
        for region in regions:
            masks = np.repeat(region_mask(region)[None], len(images), axis=0)
            judged = c2st(images, filled[(region, label)][0], masks, relatives, seed=seed)
            row = rows[(region, label)]
            entry[region] = {"c2st_auc": judged.auc, "c2st_low": judged.low, "c2st_high": judged.high,
                             "margin": row["margin"], "retention": row["retention"],
                             "margin_se": row["margin_sd"] / math.sqrt(row["n"])}
        per_face = np.mean([identity["per_image_margin"][(region, label)] for region in regions], axis=0)
        entry["mean"] = {key: float(np.mean([entry[r][key] for r in regions]))
                         for key in ("c2st_auc", "c2st_low", "c2st_high", "margin", "retention")}
        entry["mean"]["margin_se"] = float(per_face.std(ddof=1) / math.sqrt(len(per_face)))
        out[label] = entry
    return out


def gallery_fillers(run_dir, stage: str, snapshots: int = 3, baselines: Sequence[str] = DEFAULT_BASELINES,
                    aligned_root=None) -> tuple[list[str], list[Filler]]:
    """(column labels, fillers) for a gallery of a run's progress: the ``baselines`` of its half, then
    ``snapshots`` of its snapshots spread evenly from the first to the last (always both)."""
    settings = run_settings(run_dir)
    found = snapshot_files(run_dir, stage)
    if not found:
        raise FileNotFoundError(f"{Path(run_dir) / stage / SNAPSHOTS}: no snapshots (train with trainer.snapshot_every > 0)")
    count = max(1, min(int(snapshots), len(found)))
    picks = sorted({round(i * (len(found) - 1) / max(1, count - 1)) for i in range(count)}) if count > 1 else [len(found) - 1]
    fillers, _ = half_fillers(list(baselines), settings["half"], aligned_root=aligned_root or settings["root"]) \
        if baselines else ({}, {})
    labels, columns = list(fillers), list(fillers.values())
    for index in picks:
        batches, path = found[index]
        labels.append(f"{stage} @ {batches}")
        columns.append(CheckpointFiller(path, kind=None, backend="torch", share_ca=False))
    return labels, columns


def gallery_faces(run_dir, faces: int = 6, aligned_root=None) -> tuple[list[str], np.ndarray]:
    """The first ``faces`` held-out validation crops of a run, one per person: (relatives, images)."""
    settings = run_settings(run_dir)
    root = Path(aligned_root or settings["root"])
    picked = one_per_person(validation_crops(settings["half"], settings["val_images"], settings["seed"],
                                             aligned_root=root), faces)
    return picked, read_faces(root, picked)


def snapshot_gallery(run_dir, stage: str = "ca_gan", faces: int = 4, snapshots: int = 3,
                     regions=("two_eyes", "upper_face"), baselines=DEFAULT_BASELINES, aligned_root=None,
                     recognizer="dlib") -> FillerComparison:
    """A run's progress by eye: ``faces`` held-out validation faces (one per person, :func:`gallery_faces`)
    at ``regions``; columns ground truth | occluded | the ``baselines`` | ``snapshots`` EMA snapshots from
    the first to the last (:func:`gallery_fillers`), each fill with its chroma spread, hole PSNR and its
    cosine to the ground truth by ``recognizer`` (dlib: never a training loss).
    :func:`idinpaint.figures.snapshot_gallery_figure` draws it."""
    relatives, images = gallery_faces(run_dir, faces, aligned_root)
    labels, fillers = gallery_fillers(run_dir, stage, snapshots, baselines, aligned_root)
    recognizer = get_recognizer(recognizer) if isinstance(recognizer, str) else recognizer
    return compare_fillers(list(images), list(regions), fillers, relatives=relatives, realism=True,
                           identity=recognizer, labels=labels)


def read_curves(path) -> list[dict]:
    """The rows of a saved ``curves.csv`` (:func:`learning_curves`), numbers as numbers (``batches``
    empty for the reference fillers)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [{"label": r["label"], "batches": int(r["batches"]) if r["batches"] else "", "region": r["region"],
             **{k: float(r[k]) for k in CURVE_FIELDS[2:]}} for r in rows]


def curves_reading(rows, name: str, reference: str = "telea") -> str:
    """One sentence on a run's curves: both axes at its first and last scored snapshot, beside the
    ``reference`` filler's margin on the same crops."""
    path = sorted((r for r in rows if r["batches"] != "" and r["region"] == "mean"), key=lambda r: int(r["batches"]))
    ref = next(r for r in rows if r["label"] == reference and r["region"] == "mean")
    first, last = path[0], path[-1]
    return (f"**{name}**: from {int(first['batches']):,} to {int(last['batches']):,} batches the margin went "
            f"{float(first['margin']):.4f} → {float(last['margin']):.4f} ({reference} {float(ref['margin']):.4f}), "
            f"the C2ST AUC {float(first['c2st_auc']):.3f} → {float(last['c2st_auc']):.3f} (0.5 = told apart no "
            f"better than chance).")


def _saved(folder: Path, stem: str, key: dict) -> dict | None:
    """The scores cached in ``folder`` for ``stem`` under ``key`` (:func:`~.cache.keyed_file`), else None.
    A cache written before keys went into file names (``<stem>.json``, the key inside) is read once
    when its key matches, and kept under its keyed name."""
    path = keyed_file(folder, stem, key)
    if path.is_file():
        return json.loads(path.read_text())["scores"]
    older = Path(folder) / f"{stem}.json"
    if older.is_file():
        saved = json.loads(older.read_text())
        if saved.get("key") == key:
            write_json(path, saved)
            older.unlink()
            return saved["scores"]
    return None


def _cached(folder: Path, stem: str, key: dict, compute: Callable[[], dict]) -> dict:
    scores = _saved(folder, stem, key)
    if scores is None:
        scores = compute()
        write_json(keyed_file(folder, stem, key), {"key": key, "scores": scores})
    return scores


def learning_curves(run_dir, stage: str, recognizer="dlib", every: int = 1, baselines: Sequence[str] = DEFAULT_BASELINES,
                    regions: Sequence[str] = HARDEST, aligned_root=None, limit: int | None = None,
                    log: Callable[[str], None] = print) -> list[dict]:
    """Score every ``every``-th snapshot of ``stage`` (and the last one) and the ``baselines`` on the
    run's held-out validation crops; returns the rows of ``curves.csv`` (one per snapshot and region
    plus ``mean``, and one per baseline with ``batches`` empty; snapshots scored before with another
    ``every`` stay in the table, in batch order). ``limit``: at most this many crops.
    Snapshot scores are cached in ``<stage>/curves/``; the baselines' in the run's ``curves/``, so every
    stage of a run reads them from there."""
    settings = run_settings(run_dir)
    root = Path(aligned_root or settings["root"])
    relatives = validation_crops(settings["half"], settings["val_images"], settings["seed"], aligned_root=root)
    if limit:
        relatives = relatives[: int(limit)]
    images = read_faces(root, relatives)
    recognizer = get_recognizer(recognizer) if isinstance(recognizer, str) else recognizer
    found = snapshot_files(run_dir, stage)
    if not found:
        raise FileNotFoundError(f"{Path(run_dir) / stage / SNAPSHOTS}: no snapshots (train with trainer.snapshot_every > 0)")
    chosen = [s for i, s in enumerate(found) if i % max(1, int(every)) == 0 or i == len(found) - 1]
    folder = Path(run_dir) / stage / "curves"
    base_key = {"crops": len(relatives), "regions": list(regions), "recognizer": recognizer.name, "judge": C2ST_VERSION,
                "half": settings["half"]}
    rows = []

    def add(label: str, batches, scores: dict) -> None:
        for region in [*regions, "mean"]:
            rows.append({"label": label, "batches": batches, "region": region,
                         **{k: scores[region][k] for k in CURVE_FIELDS[2:]}})

    fillers, _ = half_fillers(list(baselines), settings["half"], aligned_root=root) if baselines else ({}, {})
    for label, filler in fillers.items():
        log(f"curves: baseline {label} on {len(relatives)} validation crops of half {settings['half']}")
        scores = _cached(Path(run_dir) / "curves", f"baseline_{label}", {**base_key, "filler": label},
                         lambda: score_fillers({label: filler}, images, relatives, recognizer, regions)[label])
        add(label, "", scores)
    def score(path: Path) -> dict:   # the model is loaded only when its scores are not cached
        filler = CheckpointFiller(path, kind=None, backend="torch", share_ca=False)
        return score_fillers({stage: filler}, images, relatives, recognizer, regions)[stage]

    for batches, path in found:   # in batch order; one scored before with another --every stays in the table
        key = {**base_key, "sha256": file_sha256(path)[:12]}
        if (batches, path) in chosen:
            log(f"curves: {stage} at batch {batches} ({chosen.index((batches, path)) + 1} of {len(chosen)})")
            scores = _cached(folder, path.stem, key, lambda: score(path))
        else:
            scores = _saved(folder, path.stem, key)
        if scores is not None:
            add(stage, batches, scores)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["label", "batches", "region", *CURVE_FIELDS[2:]])
    writer.writeheader()
    writer.writerows(rows)
    write_text(Path(run_dir) / stage / "curves.csv", buffer.getvalue())
    return rows
