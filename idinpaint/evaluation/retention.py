"""Identity retention: how much of a face's identity survives an occlusion and a fill.

For a crop x, a region mask m and a filler F, the retention is the cosine between a recognizer's
embeddings of the filled face and of the clean face,

    retention(F, region) = mean_x cos(R(F(occlude(x, m), m)), R(x)),

averaged over faces, and the **margin** = retention minus the filled face's mean cosine to the
clean faces of the other people in the set (what verification needs: the genuine similarity kept,
the impostor similarity not raised). Neither needs pairs, so it can be measured on the **held-out validation crops
of a training split** (identities never trained on and never in the evaluated half) — which makes
it the tool for decisions the LFW test pairs must not make:

* **the Sampler's input**: which version of the occluded face (black-filled, gray-filled, the
  CA's prior) keeps the most identity for ``z_id`` (with SFace, the Sampler's own network);
* **choosing between two trained models** with the independent evaluator (dlib), on faces neither
  model trained on and the test never scores.

Beside identity, every row carries the fill's realism against the clean crop (:mod:`.realism`:
chroma spread, chroma error, hole L1 and PSNR, SSIM) and, when the faces' people are known, the
learned judge's verdict (``c2st_*``: a classifier two-sample test of the fill against real hole
content, the crops split by person; NaN when too few to judge), so a recipe is chosen on both
axes — *is it this person* and *is it a face* — on the same held-out faces.

Per-image values are returned as well, so two fillers can be compared image by image
(:func:`paired_retention`).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from idinpaint.checkpoints import KINDS, SHIPPED_RECIPE, shipped_checkpoints
from idinpaint.data.aligned import read_faces
from idinpaint.data.lfw import DEFAULT_VAL_IMAGES, DEFAULT_VAL_SEED, default_aligned_root, identity_of, validation_crops
from idinpaint.evaluation.gallery import compare_fillers
from idinpaint.evaluation.realism import NO_C2ST, c2st_fields, realism_metrics, summarize
from idinpaint.fillers import Filler, donor_filler, get_filler
from idinpaint.fillers.learned import CheckpointFiller
from idinpaint.occlusion import REGION_NAMES, occlude, region_mask
from idinpaint.runinfo import provenance, write_json, write_text


def _check_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (112, 112, 3) or images.dtype != np.uint8:
        raise ValueError(f"images must be aligned RGB uint8 crops (N, 112, 112, 3), got {images.dtype} {images.shape}")
    return images


def fill_regions(images: np.ndarray, fillers: Mapping[str, Filler], regions: Sequence[str] = REGION_NAMES,
                 fill: str = "black", fills: Mapping[str, str] | None = None,
                 relatives: Sequence[str] | None = None, c2st_seed: int = 0) -> dict:
    """Every (region, label) filled once: ``{(region, label): (filled (N, 112, 112, 3), realism
    summary)}``. Each region's hole is painted with ``fill`` first, as in the occluded-LFW protocol
    (``fills`` gives a label its own fill, e.g. ``{"gray:none": "gray"}``). Filling does not depend
    on the recognizer, so one call serves every recognizer of :func:`identity_retention`.

    With ``relatives`` (each face's crop path, or its person's name) the summary also holds the
    C2ST fields (:func:`.realism.c2st_fields`, split by person, seeded by ``c2st_seed``); without,
    they are NaN."""
    images = _check_images(images)
    unknown = [r for r in regions if r not in REGION_NAMES]
    if unknown:
        raise ValueError(f"unknown regions {unknown}; valid: {', '.join(REGION_NAMES)}")
    out = {}
    for region in regions:
        mask = region_mask(region)
        masks = np.repeat(mask[None], len(images), axis=0)
        occluded = {}
        for label, filler in fillers.items():
            hole = (fills or {}).get(label, fill)
            if hole not in occluded:
                occluded[hole] = np.stack([occlude(image, mask, hole) for image in images])
            filled = filler.fill(occluded[hole], masks)
            judged = c2st_fields(images, filled, masks, relatives, seed=c2st_seed) if relatives is not None else NO_C2ST
            out[(region, label)] = (filled, {**summarize(realism_metrics(filled, images, masks)), **judged})
    return out


def identity_retention(recognizer, images: np.ndarray, fillers: Mapping[str, Filler],
                       regions: Sequence[str] = REGION_NAMES, fill: str = "black",
                       fills: Mapping[str, str] | None = None, identities: Sequence[str] | None = None,
                       filled: Mapping | None = None) -> dict:
    """Retention of every (region, filler) on ``images`` (RGB uint8 (N, 112, 112, 3), aligned crops).

    ``fillers`` maps a label to a :class:`~idinpaint.fillers.Filler` (``none`` = the occluded face
    as is); the holes are painted and filled by :func:`fill_regions` (``fill``, ``fills``; with
    ``identities``, the C2ST is judged too, split by person), or ``filled`` is its result, computed
    once for several recognizers.

    With ``identities`` (one name per image) the **margin** is measured too: retention minus the
    filled face's mean cosine to the clean faces of *other* people. Verification needs both: a fill
    that drags every face towards one generic face raises the retention and the impostor similarity
    alike, and the margin does not reward it.

    Returns ``{"per_image": {(region, label): float array (N,)}, "per_image_margin": {...} (with
    identities), "rows": [dict(region, filler, retention, sd, n, <realism fields>[, impostor, margin,
    margin_sd])]}``.
    """
    images = _check_images(images)
    if filled is None:
        # a person's name as a one-folder path: the judge's split then keeps each name on one side
        filled = fill_regions(images, fillers, regions, fill, fills,
                              relatives=None if identities is None else [f"{name}/{name}" for name in identities])
    clean = recognizer.embed(images)
    others = None
    if identities is not None:
        names = np.asarray(list(identities))
        if len(names) != len(images):
            raise ValueError(f"identities: {len(names)} names for {len(images)} images")
        others = names[:, None] != names[None, :]
        if not others.any(axis=1).all():
            raise ValueError("identities: the margin needs at least two people")
    per_image, per_image_margin, rows = {}, {}, []
    for region in regions:
        for label in fillers:
            faces, realism = filled[(region, label)]
            similarity = (recognizer.embed(faces) @ clean.T).astype(np.float64)  # filled i vs clean j
            cosines = np.diagonal(similarity).copy()
            per_image[(region, label)] = cosines
            row = {"region": region, "filler": label, "retention": float(cosines.mean()),
                   "sd": _sd(cosines), "n": len(cosines), **realism}
            if others is not None:
                impostor = (similarity * others).sum(axis=1) / others.sum(axis=1)
                margin = cosines - impostor
                per_image_margin[(region, label)] = margin
                row.update(impostor=float(impostor.mean()), margin=float(margin.mean()), margin_sd=_sd(margin))
            rows.append(row)
    result = {"per_image": per_image, "rows": rows}
    if others is not None:
        result["per_image_margin"] = per_image_margin
    return result


def _sd(values: np.ndarray) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else math.nan


def paired_retention(per_image: Mapping, method: str, baseline: str,
                     regions: Sequence[str] | None = None) -> dict:
    """``method`` minus ``baseline`` over ``regions`` (default: all measured), paired by image.

    The unit of the comparison is the face (the regions of one face are not independent): each
    face's difference is averaged over the regions, then the mean over faces, its standard error
    and how many faces the method helps are returned.
    """
    if regions is None:
        regions = sorted({r for r, _ in per_image})
    missing = [(r, f) for r in regions for f in (method, baseline) if (r, f) not in per_image]
    if missing:
        raise KeyError(f"no retention measured for {missing}")
    diff = np.mean([per_image[(r, method)] - per_image[(r, baseline)] for r in regions], axis=0)
    n = len(diff)
    se = float(diff.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return {"method": method, "baseline": baseline, "regions": list(regions), "delta": float(diff.mean()),
            "se": se, "faces_better": int((diff > 0).sum()), "n": n}


def retention_markdown(rows: Sequence[Mapping], title: str = "", measure: str = "retention") -> str:
    """A region x filler table of the mean ``measure`` (``retention``, ``impostor``, ``margin`` or a
    realism field such as ``chroma_spread``), with the mean over regions as the last row."""
    labels = list(dict.fromkeys(r["filler"] for r in rows))
    regions = list(dict.fromkeys(r["region"] for r in rows))
    value = {(r["region"], r["filler"]): r.get(measure, math.nan) for r in rows}
    lines = ([f"**{title}**", ""] if title else []) + [
        "| region | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for region in regions:
        lines.append(f"| {region} | " + " | ".join(f"{value.get((region, l), math.nan):.3f}" for l in labels) + " |")
    means = [np.nanmean([value.get((region, l), math.nan) for region in regions]) for l in labels]
    lines.append("| **mean** | " + " | ".join(f"**{m:.3f}**" for m in means) + " |")
    return "\n".join(lines) + "\n"


HARDEST = ("two_eyes", "upper_face", "center_block")


def summary_rows(rows: Sequence[Mapping]) -> list[dict]:
    """One row per filler label: both axes side by side, over every half in ``rows``.

    *Is it a face*: the median chroma spread and the C2ST AUC (0.5 = the judge cannot tell the fill
    from real content, 1 = always told apart; the mean over the halves) on each of the hardest three
    regions, and the mean over them of the median periodicity, the hole PSNR and the SSIM; *is it
    this person*: each recognizer's retention and margin, the mean over all measured regions.
    (Realism is the same for every recognizer: the first one's rows.)"""
    labels = list(dict.fromkeys(r["filler"] for r in rows))
    recognizers = list(dict.fromkeys(r.get("recognizer", "") for r in rows))
    out = []
    for label in labels:
        mine = [r for r in rows if r["filler"] == label]
        face = [r for r in mine if r.get("recognizer", "") == recognizers[0]]
        entry: dict = {"filler": label}
        for region in HARDEST:
            values = [r.get("chroma_spread", math.nan) for r in face if r["region"] == region]
            entry[f"chroma_spread_{region}"] = float(np.nanmean(values)) if values else math.nan
        for region in HARDEST:
            values = [float(r.get("c2st_auc", math.nan)) for r in face if r["region"] == region]
            entry[f"c2st_{region}"] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
        hard = [r for r in face if r["region"] in HARDEST]
        for key in ("periodicity", "hole_psnr", "ssim"):
            entry[f"{key}_hardest3"] = float(np.nanmean([r.get(key, math.nan) for r in hard])) if hard else math.nan
        for rec in recognizers:
            theirs = [r for r in mine if r.get("recognizer", "") == rec]
            for measure in ("retention", "margin"):
                values = [r.get(measure, math.nan) for r in theirs]
                entry[f"{rec}_{measure}"] = float(np.nanmean(values)) if values else math.nan
        out.append(entry)
    return out


def summary_markdown(summary: Sequence[Mapping]) -> str:
    """The :func:`summary_rows` table in markdown (both axes, one line per filler)."""
    if not summary:
        return ""
    keys = [k for k in summary[0] if k != "filler"]
    lines = ["| filler | " + " | ".join(k.replace("_", " ") for k in keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for row in summary:
        lines.append(f"| {row['filler']} | " + " | ".join(
            "–" if math.isnan(row[k]) else (f"{row[k]:.2f}" if "psnr" in k else f"{row[k]:.3f}") for k in keys) + " |")
    return "\n".join(lines) + "\n"


def _model_folders(model_dirs: Mapping[str, str] | None) -> dict[str, Path | None]:
    """{label: folder}; None = the shipped pair (or ``$IDINPAINT_CHECKPOINT_DIR``)."""
    if not model_dirs:
        return {"": None}
    return {label: Path(folder) for label, folder in model_dirs.items()}


def half_fillers(names: Sequence[str], half: str, model_dirs: Mapping[str, str] | None = None,
                 recipe: str | None = None, aligned_root=None) -> tuple[dict[str, Filler], dict[str, str]]:
    """({label: filler}, {label: fill}) for one half's validation crops.

    ``names``: filler names, or ``FILL:FILLER`` (``gray:none`` = the gray-filled face). ``ca`` and
    ``ca_id`` use the model **of that half** from each folder of ``model_dirs`` ({label: folder}
    holding ``idinpainter_<recipe>_half{A,B}.pt``; default: the shipped pair, or
    ``$IDINPAINT_CHECKPOINT_DIR``); with several folders their labels are ``ca_id@<label>``.
    ``ca_id/alpha`` (``/poisson``, ``/none``) picks how the output is blended into the hole.
    """
    dirs = _model_folders(model_dirs)
    fillers, fills = {}, {}
    for name in names:
        fill, _, filler_name = name.rpartition(":")
        filler_name, _, blend = filler_name.partition("/")
        if blend and filler_name not in KINDS:
            raise ValueError(f"filler {name!r}: only ca / ca_id take a /BLEND")
        if filler_name == "donor":  # another person's face part: never one of these validation people
            crops = validation_crops(half, aligned_root=aligned_root)
            fillers[name] = donor_filler(aligned_root, exclude_people={c.split("/")[0] for c in crops})
            if fill:
                fills[name] = fill
        elif filler_name in KINDS:
            for label, folder in dirs.items():
                path = shipped_checkpoints(recipe or SHIPPED_RECIPE, folder)[half]
                if not path.is_file():
                    raise FileNotFoundError(f"{path}: no half-{half} model here")
                key = f"{name}@{label}" if len(dirs) > 1 else name
                # ca: the CA inside a ca_id file (as LFWHalvesFiller does), the coarse fill the Fusor builds on
                fillers[key] = CheckpointFiller(path, kind=filler_name, ca_only=filler_name == "ca",
                                                **({"blend": blend} if blend else {}))
                if fill:
                    fills[key] = fill
        else:
            fillers[name] = get_filler(filler_name)
            if fill:
                fills[name] = fill
    return fillers, fills


def one_per_person(crops: Sequence[str], count: int) -> list[str]:
    """The first ``count`` crops of different people (a gallery shows each person once)."""
    shown: dict[str, str] = {}
    for crop in crops:
        shown.setdefault(identity_of(crop) or crop, crop)
    return list(shown.values())[: int(count)]


def run_retention(recognizers: Sequence, fillers: Sequence[str], halves: Sequence[str] = ("A", "B"),
                  model_dirs: Mapping[str, str] | None = None, regions: Sequence[str] = REGION_NAMES,
                  compare: Sequence[tuple[str, str]] = (), val_images: int = DEFAULT_VAL_IMAGES,
                  seed: int = DEFAULT_VAL_SEED, aligned_root=None, lfw_root=None, output_dir=None,
                  recipe: str | None = None, gallery: int = 0) -> dict:
    """Retention of ``fillers`` on each half's validation crops (each half with its own model), for
    every recognizer; ``compare`` = [(method, baseline)] label pairs, compared face by face over both
    halves (:func:`paired_retention`). Writes ``retention.json`` / ``retention.md`` to ``output_dir``.
    ``gallery``: also fill that many validation faces of the first half (one per person) at the hardest
    three regions with every plain filler, realism under each (``result["gallery"]``: a
    :class:`~idinpaint.evaluation.gallery.FillerComparison`; :func:`idinpaint.figures.filler_comparison`
    draws it)."""
    root = Path(aligned_root or default_aligned_root())
    rows, comparisons, sections = [], [], []
    measures = ("retention", "margin")
    per_image = {(r.name, m): {} for r in recognizers for m in measures}
    for half in halves:
        crops = validation_crops(half, val_images, seed, root, lfw_root)
        images = read_faces(root, crops)
        labelled, fills = half_fillers(fillers, half, model_dirs, recipe, root)
        if gallery and half == halves[0]:
            picked = one_per_person(crops, gallery)
            plain = {k: v for k, v in labelled.items() if k not in fills and k != "none"}  # the occluded column shows none
            gallery_data = compare_fillers(read_faces(root, picked), list(HARDEST), list(plain.values()),
                                           relatives=picked, realism=True, labels=list(plain))
        filled = fill_regions(images, labelled, regions, fills=fills, relatives=crops)  # once per half, for every recognizer
        for recognizer in recognizers:
            measured = identity_retention(recognizer, images, labelled, regions, filled=filled,
                                          identities=[identity_of(c) or c for c in crops])
            rows += [{"recognizer": recognizer.name, "half": half, **row} for row in measured["rows"]]
            for measure, key in zip(measures, ("per_image", "per_image_margin")):
                for cell, values in measured[key].items():
                    per_image[(recognizer.name, measure)].setdefault(cell, []).append(values)
    hardest = [r for r in ("two_eyes", "upper_face", "center_block") if r in regions]
    for recognizer in recognizers:
        for measure in measures:
            pooled = {cell: np.concatenate(parts) for cell, parts in per_image[(recognizer.name, measure)].items()}
            for method, baseline in compare:
                for subset in (list(regions), hardest):
                    if subset:
                        comparisons.append({"recognizer": recognizer.name, "measure": measure,
                                            **paired_retention(pooled, method, baseline, subset)})
            for half in halves:
                sections.append(retention_markdown(
                    [r for r in rows if r["recognizer"] == recognizer.name and r["half"] == half],
                    f"{recognizer.name}: identity {measure}, half {half}'s validation crops", measure))
    for half in halves:  # realism does not depend on the recognizer: the first one's rows
        mine = [r for r in rows if r["recognizer"] == recognizers[0].name and r["half"] == half]
        for measure in ("chroma_spread", "c2st_auc", "periodicity", "hole_psnr", "ssim"):
            sections.append(retention_markdown(mine, f"is it a face? {measure}, half {half}'s validation crops", measure))
    if comparisons:
        lines = ["**paired by face** (mean over the listed regions, both halves' validation crops)", "",
                 "| recognizer | measure | method | baseline | regions | Δ | SE | faces better |",
                 "|---|---|---|---|---|---|---|---|"]
        for c in comparisons:
            regions_text = "all" if len(c["regions"]) == len(regions) else ", ".join(c["regions"])
            lines.append(f"| {c['recognizer']} | {c['measure']} | {c['method']} | {c['baseline']} | {regions_text} | "
                         f"{c['delta']:+.4f} | {c['se']:.4f} | {c['faces_better']}/{c['n']} |")
        sections.append("\n".join(lines) + "\n")
    summary = summary_rows(rows)
    sections.insert(0, "**Both axes** (is it a face: chroma spread and C2ST AUC (0.5 = indistinguishable from real "
                       "content, 1 = always told apart) on the hardest three, periodicity, hole PSNR / SSIM there; "
                       "is it this person: retention and margin, mean over the regions)\n\n" + summary_markdown(summary))
    report = "\n".join(sections)
    result = {"rows": rows, "summary": summary, "comparisons": comparisons, "markdown": report}
    if gallery:
        result["gallery"] = gallery_data
    if output_dir is not None:
        output_dir = Path(output_dir)
        config = {"recognizers": [r.name for r in recognizers], "fillers": list(fillers), "halves": list(halves),
                  "model_dirs": {k: str(v or "shipped") for k, v in _model_folders(model_dirs).items()},
                  "regions": list(regions), "val_images": val_images, "seed": seed}
        write_json(output_dir / "retention.json", {"provenance": provenance(config), "rows": rows,
                                                   "summary": summary, "comparisons": comparisons})
        write_text(output_dir / "retention.md", report)
        result["paths"] = [output_dir / "retention.json", output_dir / "retention.md"]
    return result
