"""Same/different thresholds of the recognisers, calibrated on clean LFW View 2.

A verifier says *same person* when the cosine of two faces is at least a threshold. Each recogniser
has its own scale (SFace's cosines spread widely, dlib's crowd near 1), so each has its own
threshold: the one that gets the most of the clean LFW View-2 pairs right
(:func:`~idinpaint.evaluation.verification.best_threshold` on the scores of
:func:`~idinpaint.evaluation.clean.evaluate_clean`, the path of ``idinpaint evaluate lfw``).

The thresholds reached on all 6,000 pairs ship in :data:`SHIPPED_THRESHOLDS` (written by
``idinpaint evaluate lfw --recognizers sface dlib --thresholds-file checkpoints/recognizer_thresholds.json``,
with its commit and command inside), so ``idinpaint recover`` answers in seconds;
:func:`calibrate` recomputes them on another aligned folder when asked (``recover --calibrate``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from idinpaint.checkpoints import SHIPPED_DIR
from idinpaint.data.aligned import aligned_name
from idinpaint.data.lfw import default_aligned_root, load_pairs, pair_arrays, pair_images
from idinpaint.evaluation.embeddings import cache_file, load_embedding_cache
from idinpaint.evaluation.clean import evaluate_clean
from idinpaint.evaluation.verification import best_threshold
from idinpaint.runinfo import shareable_path, shareable_provenance, write_json

#: The thresholds each recogniser reaches on all 6,000 clean LFW View-2 pairs (data/lfw-112).
SHIPPED_THRESHOLDS = SHIPPED_DIR / "recognizer_thresholds.json"

#: Aligned crops embedded per second on an idle 2-core CPU (docs/results.md, Throughput: SFace about 100 at
#: batch 16, dlib 12-14 in one process, so about 20 with the two workers a calibration uses), for the time a
#: calibration announces before it starts. ``dlib_torch``: dlib's landmarks (4 ms a crop) in this process
#: and torch's descriptor (7.4 ms a crop on one thread), so about 60 (estimated from those stage times).
CROPS_PER_SECOND = {"sface": 100.0, "dlib": 20.0, "dlib_torch": 60.0}


def threshold_entry(scores: np.ndarray, labels: np.ndarray) -> dict:
    """``{"threshold", "accuracy", "pairs"}``: the cosine that gets the most of these pairs right
    (accuracy on the same pairs, so an upper bound of what a new pair gets)."""
    threshold, accuracy = best_threshold(np.asarray(scores), np.asarray(labels))
    return {"threshold": round(threshold, 4), "accuracy": round(accuracy, 4), "pairs": int(len(scores))}


def crops_to_embed(names, aligned_root=None, lfw_root=None) -> dict[str, int]:
    """How many crops of the clean pairs each recogniser still has to embed (the rest are cached)."""
    aligned_root = Path(aligned_root or default_aligned_root())
    wanted = [aligned_name(p) for p in pair_images(load_pairs(lfw_root))]
    out = {}
    for name in names:
        cached = load_embedding_cache(cache_file(name, aligned_root))
        out[name] = sum(1 for rel in wanted if rel not in cached)
    return out


def announce_calibration(names, aligned_root=None, lfw_root=None) -> str:
    """The first line of a calibration: what it does and about how long it takes here."""
    aligned_root = Path(aligned_root or default_aligned_root())
    pairs = load_pairs(lfw_root)
    todo = crops_to_embed(names, aligned_root, lfw_root)
    seconds = sum(count / CROPS_PER_SECOND.get(name, 20.0) for name, count in todo.items())
    work = ", ".join(f"{name} {count:,} crops" for name, count in todo.items())
    if seconds < 60:
        length = "under a minute" if seconds > 5 else "seconds (embeddings cached)"
    else:
        length = f"about {seconds / 60:.0f} min on an idle 2-core CPU"
    return (f"calibrating the same/different thresholds of {', '.join(names)} on the {len(pairs):,} clean LFW "
            f"pairs of {aligned_root} (to embed: {work}): {length}; embeddings are cached, so an interrupted "
            "run resumes")


def calibrate(names, aligned_root=None, lfw_root=None, workers: int = 1, progress: bool = True) -> dict[str, dict]:
    """``{recogniser: threshold_entry}`` on the clean LFW View-2 pairs of ``aligned_root`` (every crop
    of a pair must be there: ``idinpaint preprocess`` makes them), through :func:`evaluate_clean`."""
    from idinpaint.recognizers import DLIB_RECOGNIZERS, get_recognizer  # the models it builds load torch / dlib

    out = {}
    for name in names:
        recognizer = get_recognizer(name, workers=workers) if name in DLIB_RECOGNIZERS else get_recognizer(name)
        try:
            _, scores, pairs = evaluate_clean(recognizer, aligned_root, lfw_root, progress=progress)
        finally:
            getattr(recognizer, "close", lambda: None)()
        out[name] = threshold_entry(scores, pair_arrays(pairs)[2])
    return out


def write_thresholds(path, entries: dict[str, dict], aligned_root) -> Path:
    """The thresholds file: each recogniser's entry, with the commit, command and machine. It ships with
    the repository, so its provenance names no path of the machine that made it (the aligned folder
    relative to the repository, or only its name; :func:`~idinpaint.runinfo.shareable_provenance`)."""
    return write_json(path, {**shareable_provenance({"aligned": shareable_path(aligned_root)}),
                             "what": "cosine threshold of best accuracy on the clean LFW View-2 pairs, per recogniser",
                             "thresholds": entries})


def load_thresholds(path=None) -> tuple[dict[str, float], str]:
    """({recogniser: threshold}, where from) of a thresholds file (default :data:`SHIPPED_THRESHOLDS`);
    ({}, why not) when there is none, or a one-line ValueError when it is malformed."""
    path = Path(path or SHIPPED_THRESHOLDS)
    if not path.is_file():
        return {}, f"no thresholds file {path}: cosines only (give --thresholds NAME=COSINE or --calibrate)"
    try:
        stored = json.loads(path.read_text())
        entries = stored["thresholds"]
        table = {name: float(entry["threshold"]) for name, entry in entries.items()}
        if "dlib" in table:  # the same network computed by torch: its cosines equal dlib's to float rounding
            table.setdefault("dlib_torch", table["dlib"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(f"{path}: not a thresholds file (expected {{\"thresholds\": {{NAME: {{\"threshold\": "
                         "COSINE}}}}}); restore it from git or run `idinpaint recover --calibrate`") from None
    pairs = {entry.get("pairs") for entry in entries.values()}
    count = f"{pairs.pop():,} " if len(pairs) == 1 and None not in pairs else ""
    return table, f"shipped in {path.name} (best accuracy on the {count}clean LFW pairs)"
