"""The O-Detector measured: per occluder family on each half's test people (the generalisation
table, held-out families marked), and on the protocol's own occlusions of the test pairs.

* **Identity-disjoint.** Each half's crops are scored by the detector that never saw their people
  (:class:`~idinpaint.detection.LFWHalvesDetector`); background textures are cut from photos of
  the half's test people, backgrounds the detector never saw.
* **Held-out families.** ``detector.composites.held_out`` of the training recipe (the cpu one:
  ``maskthface:KN95`` and the ``floral`` textures) never appear in training draws; the table
  reports them beside the families that were trained on.
* **The mask a filler gets** is what is scored: probability >= threshold, small parts dropped,
  dilated (:func:`~idinpaint.models.detector.postprocess`).
"""
from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path
from typing import Collection, Sequence

import numpy as np

from idinpaint.config import TRAIN_CONFIG, load_training_config
from idinpaint.data.aligned import aligned_name, read_faces
from idinpaint.data.lfw import check_half, default_aligned_root, lfw_half_people, lfw_raw_root, load_pairs
from idinpaint.data.real_occlusions import KINDS, RealOcclusions, load_real_occlusions, really_occluded
from idinpaint.occlusion.apply import parse_spec
from idinpaint.occlusion.batch import canonical_spec, occlude_faces, region_label
from idinpaint.occlusion.composites import (
    BASE_SHAPES,
    CLEAN,
    MASKTHFACE,
    OWN,
    TextureBank,
    collect_backgrounds,
    compose,
    family_name,
)
from idinpaint.occlusion.landmarks import crop_landmarks_of, landmarks_or_none
from idinpaint.occlusion.metrics import FALSE_ALARM_FRACTION, mask_metrics, rounded, summarize_metrics
from idinpaint.detection import NOTHING_FRACTION, SHIPPED_RECIPE, detector_folder, get_detector
from idinpaint.imageio import overlay
from idinpaint.paths import REPO_ROOT, aligned_folder, cache_dir, results_dir
from idinpaint.preprocess import preprocess_folder
from idinpaint.progress import progress_bar
from idinpaint.runinfo import provenance, write_json, write_text


def _resolve(path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else REPO_ROOT / path


def _crop_seed(family: str, relative: str, seed: int) -> int:
    text = f"detector-eval|{family}|{Path(relative).as_posix()}|{int(seed)}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def half_crops(half: str, aligned_root, pairs) -> dict[str, list[str]]:
    """{person: their crops} for the people of ``half``'s pairs found in ``aligned_root``."""
    root = Path(aligned_root)
    people = [person for person in sorted(lfw_half_people(pairs, half)) if (root / person).is_dir()]
    crops = {person: sorted(f"{person}/{p.name}" for p in (root / person).glob("*.png")) for person in people}
    return {person: files for person, files in crops.items() if files}


def evaluation_crops(half: str, count: int, aligned_root, pairs, seed: int = 0,
                     exclude: Collection[str] | None = None) -> list[str]:
    """``count`` crops (seeded) of the people in ``half``'s pairs: never seen by that half's detector.
    People are taken in a seeded order, one crop each, then a second crop each, ...: as many
    different people as possible (LFW's most photographed people would otherwise dominate).
    ``exclude`` (default: LFW's really occluded photos, :func:`~idinpaint.data.real_occlusions.really_occluded`)
    are never drawn: a face already wearing sunglasses is no clean face, and no base for a composite
    whose truth leaves its sunglasses out."""
    root = Path(aligned_root)
    crops = half_crops(half, root, pairs)
    if not crops:
        raise ValueError(f"{root}: no crops of half {half}'s people to evaluate on")
    rng = np.random.default_rng([int(seed), ord(half)])
    order = [sorted(crops)[i] for i in rng.permutation(len(crops))]
    excluded = really_occluded() if exclude is None else set(exclude)  # after the order: the others keep their turn
    crops = {person: [f for f in files if f not in excluded] for person, files in crops.items()}
    chosen: list[str] = []
    for turn in range(max(len(files) for files in crops.values())):
        chosen += [crops[person][turn] for person in order if turn < len(crops[person])][: count - len(chosen)]
        if len(chosen) >= count:
            break
    return sorted(chosen)


def evaluation_families(bank: TextureBank) -> list[tuple[str, str]]:
    """(kind, family) rows: every shape family, every texture family, and clean faces."""
    return ([("shape", s) for s in bank.shape_families()] + [("texture", t) for t in bank.texture_families()]
            + [("clean", CLEAN)])


def _family_composite(kind: str, family: str, face, points, rng, bank: TextureBank, train_textures: list[str]):
    """One evaluation composite of a family: a shape row fills the shape with its own picture
    (MaskTheFace) or a trained texture; a texture row draws one of the non-MaskTheFace shapes."""
    if kind == "clean":
        return compose(face, CLEAN, "none", rng, points, bank, augment=False)
    if kind == "shape":
        texture = OWN if family.startswith(MASKTHFACE) else train_textures[int(rng.integers(len(train_textures)))]
        return compose(face, family, texture, rng, points, bank, augment=False)
    shape = BASE_SHAPES[int(rng.integers(len(BASE_SHAPES)))]
    return compose(face, shape, family, rng, points, bank, augment=False)


def evaluate_detector(detector, config: dict, halves: Sequence[str] = ("A", "B"), aligned_root=None, lfw_root=None,
                      faces: int | None = None, seed: int | None = None, examples: int = 2,
                      progress: bool = True) -> dict:
    """The generalisation table: for every occluder family (trained on or held out) and clean faces,
    IoU, Dice, precision, recall and the predicted area, on crops of each half's test people scored
    by that half's detector (``detector``: an LFW-half pair, or one detector used for every half).
    ``config``: the detector's training recipe (:func:`idinpaint.training.load_training_config`).
    Returns {"rows", "examples", "config"}; ``examples`` per family keep (composite, truth,
    prediction) for the figure."""
    section = config.get("detector") or {}
    evaluation = section.get("eval") or {}
    root = Path(aligned_root) if aligned_root else aligned_folder((config.get("data") or {}).get("root"))
    count = int(faces if faces is not None else evaluation.get("faces", 300))
    seed = int(seed if seed is not None else evaluation.get("seed", 1))
    pairs = load_pairs(lfw_root)
    held_out = {family_name(name) for name in (section.get("composites") or {}).get("held_out") or []}
    raw_root = _resolve(section["raw_root"]) if section.get("raw_root") else lfw_raw_root(lfw_root)
    per_family: dict[tuple[str, str], list] = {}
    shown: dict[tuple[str, str], list] = {}
    for half in [check_half(h) for h in halves]:
        model = detector.detectors[half] if hasattr(detector, "detectors") else detector
        crops = evaluation_crops(half, count, root, pairs, seed)
        rng = np.random.default_rng([seed, ord(half), 3])
        every = sorted(f for files in half_crops(half, root, pairs).values() for f in files)
        backgrounds = collect_backgrounds(every, root, raw_root, rng, int(section.get("background_photos", 400)),
                                          int(section.get("patches_per_photo", 3)))
        bank = TextureBank(backgrounds=backgrounds, folder=section.get("occluders"))
        train_textures = [t for t in bank.texture_families() if t not in held_out]
        faces_array = read_faces(root, crops)
        points = landmarks_or_none(root, crops)
        for kind, family in progress_bar(evaluation_families(bank), desc=f"detector eval half {half}",
                                         unit="family", disable=not progress):
            made = [_family_composite(kind, family, face, pts,
                                      np.random.default_rng(_crop_seed(family, rel, seed)), bank, train_textures)
                    for face, pts, rel in zip(faces_array, points, crops)]
            images = np.stack([c.image for c in made])
            truth = np.stack([c.mask for c in made])
            predicted = model.masks(images)
            per_family.setdefault((kind, family), []).append(mask_metrics(predicted, truth))
            keep = shown.setdefault((kind, family), [])
            for i in range(min(examples - len(keep), len(made))):
                keep.append((images[i], truth[i], predicted[i]))
    rows = []
    for (kind, family), parts in per_family.items():
        merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        rows.append({"kind": kind, "family": family, "held_out": family in held_out,
                     **rounded(summarize_metrics(merged))})
    return {"rows": rows, "examples": {f"{kind}:{family}" if kind != "clean" else CLEAN: shown[(kind, family)]
                                        for kind, family in shown},
            "config": {"halves": list(halves), "faces_per_half": count, "seed": seed, "aligned_root": str(root),
                       "held_out": sorted(held_out), "detector": repr(detector),
                       "mask": getattr(detector, "mask", None)}}


def example_tiles(examples: dict, families=None) -> tuple[list[np.ndarray], list[str]]:
    """Tiles (crop | truth | prediction per example, the masks tinted) and titles with the prediction's
    IoU, for :func:`idinpaint.figures.face_grid`, from the ``examples`` of :func:`evaluate_detector`."""
    tiles, titles = [], []
    for family in families or list(examples):
        for image, truth, predicted in examples.get(family, []):
            iou = mask_metrics(predicted, truth)["iou"][0]
            tiles += [image, overlay(image, truth, (0, 200, 80)), overlay(image, predicted)]
            titles += [family, "truth", f"prediction (IoU {iou:.2f})"]
    return tiles, titles


def _pct(value) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def generalisation_markdown(rows: Sequence[dict]) -> str:
    """The table the README shows: one line per family, held-out ones marked."""
    lines = ["| family | kind | held out | IoU | Dice | precision | recall | predicted area | n |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        if row["kind"] == "clean":
            continue
        held = "**yes**" if row["held_out"] else ""
        lines.append(f"| {row['family']} | {row['kind']} | {held} | {_pct(row['iou'])} | "
                     f"{_pct(row['dice'])} | {_pct(row['precision'])} | {_pct(row['recall'])} | "
                     f"{_pct(row['pred_area'])} % | {row['n']} |")
    for row in rows:
        if row["kind"] == "clean":
            lines.append("")
            lines.append(f"Clean faces (n = {row['n']}): mean predicted area {_pct(row['pred_area'])} % of the crop; "
                         f"{_pct(row['false_alarm_rate'])} % of them get a predicted hole over "
                         f"{100 * FALSE_ALARM_FRACTION:.0f} % of the crop (false alarms).")
    return "\n".join(lines) + "\n"


def protocol_mask_quality(detector, specs: Sequence[str], aligned_root=None, lfw_root=None,
                          folds: Sequence[int] | None = None, seed: int = 0, chunk: int = 256,
                          progress: bool = True, pairs=None) -> list[dict]:
    """How well ``detector`` finds the protocol's own occlusions on the test pairs: every distinct
    second image of the View-2 pairs (``folds`` 1..10, default all) occluded exactly as ``idinpaint
    evaluate occluded`` occludes it (same spec, seed and crop landmarks), each crop segmented by the
    detector that never saw its person (``predict_for``). One row per spec: IoU, Dice, precision,
    recall, predicted and true area (what ``--masks predicted`` hands the fillers, against the oracle).
    ``pairs``: these pairs instead of LFW's ``pairs.txt``."""
    root = Path(aligned_root) if aligned_root else default_aligned_root()
    chosen = {int(f) for f in folds} if folds else None
    pairs = [p for p in (load_pairs(lfw_root) if pairs is None else pairs) if chosen is None or p.fold + 1 in chosen]
    relatives = list(dict.fromkeys(aligned_name(p.second) for p in pairs))
    if not relatives:
        raise ValueError(f"no pairs in folds {sorted(chosen or [])}")
    landmarks = crop_landmarks_of(root)
    rows = []
    for spec in specs:
        parsed = parse_spec(spec)
        parts = []
        for start in progress_bar(range(0, len(relatives), chunk), desc=f"masks {parsed}", unit="chunk",
                                  disable=not progress):
            batch = relatives[start:start + chunk]
            points = landmarks(batch) if landmarks is not None and parsed.kind == "maskthface" else None
            occluded, truth = occlude_faces(parsed, read_faces(root, batch), batch, landmarks=points, seed=seed)
            parts.append(mask_metrics(detector.predict_for(occluded, batch), truth))
        merged = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
        rows.append({"spec": canonical_spec(parsed), "region": region_label(parsed),
                     **rounded(summarize_metrics(merged))})
    return rows


def protocol_masks_markdown(rows: Sequence[dict]) -> str:
    """One line per protocol occlusion: how much of the true hole the predicted mask covers."""
    lines = ["| occlusion | IoU | Dice | precision | recall | predicted area | true area | crops |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        cells = [f"{100 * row[k]:.1f}" for k in ("iou", "dice", "precision", "recall")]
        lines.append(f"| {row['spec']} | " + " | ".join(cells) +
                     f" | {100 * row['pred_area']:.1f} % | {100 * row['true_area']:.1f} % | {row['n']} |")
    return "\n".join(lines) + "\n"


# --- LFW's own occlusions: what the detector marks on really occluded and clearly clean photos --------

def real_occlusion_crops(aligned_root=None, lfw_root=None, listing: RealOcclusions | None = None,
                         folder=None, progress: bool = True) -> Path:
    """A folder holding the aligned crop of every listed photo (:mod:`idinpaint.data.real_occlusions`):
    ``aligned_root`` when it has them all (the full LFW folder), else ``folder`` (default
    ``<cache>/real_occlusions-112``) with the listed photos aligned there from raw LFW, as ``idinpaint
    preprocess`` aligns them (a small profile's folder holds few of them; resumable)."""
    listing = listing or load_real_occlusions()
    root = Path(aligned_root) if aligned_root else default_aligned_root()
    photos = [photo for photo, _ in listing.photos()]
    if all((root / photo).is_file() for photo in photos):
        return root
    out = Path(folder) if folder else cache_dir() / "real_occlusions-112"
    missing = [str(Path(photo).with_suffix(".jpg")) for photo in photos if not (out / photo).is_file()]
    if missing:
        preprocess_folder(lfw_raw_root(lfw_root), out, has_subdirs=True, files=missing, progress=progress)
    return out


def measure_real_occlusions(detector, aligned_root, listing: RealOcclusions | None = None,
                            chunk: int = 128) -> dict:
    """What ``detector`` marks on each listed photo (each crop by the LFW-half detector that never saw
    its person, ``predict_for``): rows of ``photo``, ``kind`` (``clean`` for the clean list), ``half``
    (when the detector is a pair) and ``marked`` (the marked share of the crop); photos whose crop is
    not in ``aligned_root`` (the aligner found no face) are left out and named in ``missing``. Returns
    {"rows", "images", "masks", "missing"}; images and masks in the rows' order, for the figure."""
    listing = listing or load_real_occlusions()
    root = Path(aligned_root)
    listed = listing.photos()
    present = [(photo, kind) for photo, kind in listed if (root / photo).is_file()]
    missing = [photo for photo, _ in listed if not (root / photo).is_file()]
    relatives = [photo for photo, _ in present]
    images = read_faces(root, relatives)
    masks = np.zeros(images.shape[:3], dtype=bool)
    for start in range(0, len(relatives), chunk):
        masks[start:start + chunk] = detector.predict_for(images[start:start + chunk], relatives[start:start + chunk])
    halves = [detector.half_for(photo) if hasattr(detector, "half_for") else None for photo in relatives]
    rows = [{"photo": photo, "kind": kind, **({"half": half} if half else {}), "marked": round(float(mask.mean()), 5)}
            for (photo, kind), half, mask in zip(present, halves, masks)]
    return {"rows": rows, "images": images, "masks": masks, "missing": missing}


def real_occlusions_summary(rows: Sequence[dict]) -> list[dict]:
    """One line per kind of occluder (in :data:`~idinpaint.data.real_occlusions.KINDS` order), all the
    occluded photos together, and the clean ones: ``n``, ``found`` (photos with at least
    :data:`~idinpaint.models.detector.NOTHING_FRACTION` of the crop marked: what ``recover`` treats as
    something occluded), ``over_1pct`` (more than :data:`~idinpaint.occlusion.metrics.FALSE_ALARM_FRACTION`:
    a false alarm on a clean face), and the mean, median and largest marked share."""
    def line(label: str, marked: list[float]) -> dict:
        values = np.asarray(marked, dtype=np.float64)
        return {"kind": label, "n": int(len(values)), "found": int((values >= NOTHING_FRACTION).sum()),
                "over_1pct": int((values > FALSE_ALARM_FRACTION).sum()),
                **{k: (round(float(f(values)), 5) if len(values) else math.nan)
                   for k, f in (("mean", np.mean), ("median", np.median), ("max", np.max))}}
    by_kind: dict[str, list[float]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(float(row["marked"]))
    lines = [line(kind, by_kind[kind]) for kind in KINDS if kind in by_kind]
    occluded = [m for kind in KINDS for m in by_kind.get(kind, [])]
    if occluded:
        lines.append(line("all occluded", occluded))
    if "clean" in by_kind:
        lines.append(line("clean", by_kind["clean"]))
    return lines


def real_occlusions_markdown(summary: Sequence[dict]) -> str:
    """The summary as a table: per kind, how many photos the detector finds and how much it marks."""
    lines = [f"| photos | n | found (≥ {100 * NOTHING_FRACTION:.1f} % marked) | "
             f"over {100 * FALSE_ALARM_FRACTION:.0f} % marked | mean marked | median marked | most marked |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in summary:
        label = f"**{row['kind']}**" if row["kind"] in ("all occluded", "clean") else row["kind"]
        lines.append(f"| {label} | {row['n']} | {row['found']} | {row['over_1pct']} | {_pct(row['mean'])} % | "
                     f"{_pct(row['median'])} % | {_pct(row['max'])} % |")
    return "\n".join(lines) + "\n"


# --- the reports ``idinpaint detector evaluate | protocol | real`` write --------------------------------

def generalisation_report(recipe: str = "smoke", halves: Sequence[str] = ("A", "B"), aligned_root=None,
                          lfw_root=None, faces: int | None = None, output=None, detector_dir=None,
                          config_path=TRAIN_CONFIG, progress: bool = True) -> dict:
    """The generalisation table of the pair ``odetector_<recipe>_half{A,B}.pt`` (in ``detector_dir``,
    see :func:`~idinpaint.detection.detector_folder`), with the ``detector_<recipe>`` training
    recipe's families; writes ``<output>/generalisation_<recipe>.json/.md`` (default
    ``results/detector``). Returns :func:`evaluate_detector`'s result + ``markdown`` and ``paths``."""
    config = load_training_config(config_path, f"detector_{recipe}")
    detector = get_detector(folder=detector_folder(recipe, detector_dir), recipe=recipe, lfw_root=lfw_root)
    started = time.time()
    table = evaluate_detector(detector, config, halves, aligned_root=aligned_root, lfw_root=lfw_root, faces=faces,
                              progress=progress)
    output = Path(output or results_dir() / "detector")
    text = generalisation_markdown(table["rows"])
    stem = f"generalisation_{recipe}"
    paths = [write_json(output / f"{stem}.json", {**provenance(table["config"]), "rows": table["rows"],
                                                   "seconds": round(time.time() - started, 1)}),
             write_text(output / f"{stem}.md", text)]
    return {**table, "markdown": text, "paths": paths}


def protocol_masks_report(specs: Sequence[str], folds: Sequence[int] | None = None, aligned_root=None,
                          lfw_root=None, output=None, detector_dir=None, progress: bool = True) -> dict:
    """:func:`protocol_mask_quality` of the shipped pair (or the one in ``detector_dir``); writes
    ``<output>/protocol_masks.json/.md`` (default ``results/detector``). Returns rows, markdown, paths."""
    detector = get_detector(folder=detector_folder(SHIPPED_RECIPE, detector_dir), lfw_root=lfw_root)
    started = time.time()
    rows = protocol_mask_quality(detector, specs, aligned_root=aligned_root, lfw_root=lfw_root, folds=folds,
                                 progress=progress)
    output = Path(output or results_dir() / "detector")
    text = protocol_masks_markdown(rows)
    config = {"specs": list(specs), "folds": folds, "detector": repr(detector), "aligned_root": aligned_root}
    paths = [write_json(output / "protocol_masks.json", {**provenance(config), "rows": rows,
                                                          "seconds": round(time.time() - started, 1)}),
             write_text(output / "protocol_masks.md", text)]
    return {"rows": rows, "markdown": text, "paths": paths}


def real_occlusions_report(aligned_root=None, lfw_root=None, output=None, detector_dir=None,
                           listing_path=None, default_half: str = "A", progress: bool = True) -> dict:
    """:func:`measure_real_occlusions` of the shipped pair (or the one in ``detector_dir``) on the listed
    photos (``listing_path``, default the shipped list); people in no View-2 pair go to ``default_half``.
    Writes ``<output>/real_occlusions.json/.md`` (default ``results/detector``). Returns
    :func:`measure_real_occlusions`' result + ``summary``, ``markdown`` and ``paths``."""
    listing = load_real_occlusions(listing_path)
    detector = get_detector(folder=detector_folder(SHIPPED_RECIPE, detector_dir), lfw_root=lfw_root,
                            default_half=default_half)
    folder = real_occlusion_crops(aligned_root, lfw_root, listing, progress=progress)
    measured = measure_real_occlusions(detector, folder, listing)
    summary = real_occlusions_summary(measured["rows"])
    text = real_occlusions_markdown(summary)
    output = Path(output or results_dir() / "detector")
    config = {"list": str(listing.path), "aligned_root": str(folder), "detector": repr(detector),
              "default_half": default_half, "missing": measured["missing"]}
    paths = [write_json(output / "real_occlusions.json", {**provenance(config), "summary": summary,
                                                          "rows": measured["rows"]}),
             write_text(output / "real_occlusions.md", text)]
    return {**measured, "summary": summary, "markdown": text, "paths": paths}
