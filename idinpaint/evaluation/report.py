"""Tables and statistics from saved protocol runs: the accuracy / similarity-gap / realism tables
per recognizer, the headline (means over regions and the hardest three), the paired fold-by-fold
sign-flip test of a method against its baselines, the cost of the O-Detector's mask against the
oracle one, the inputs of the radar, ROC and frontier figures, and the frontier's reading (where
each filler sits between *is it a face* and *is it this person*)."""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from idinpaint.evaluation.realism import REALISM_FIELDS
from idinpaint.evaluation.results import OccludedResults, condition_key
from idinpaint.evaluation.retention import HARDEST
from idinpaint.evaluation.verification import (
    PairedComparison,
    compare_fold_accuracies,
    kfold_accuracy,
    protocol_folds,
)
from idinpaint.occlusion import CLEAN, REGION_NAMES


def method_summary(rows: Sequence[dict], fill: str = "black") -> list[dict]:
    """Per recognizer and method, the mean over regions of accuracy, recovery ratio, similarity gap,
    realism and C2ST AUC, plus accuracy, chroma spread and C2ST AUC on each of the hardest three
    regions — the README's headline table."""
    hardest = ("two_eyes", "upper_face", "center_block")
    out = []
    good = [r for r in rows if not r["error"] and r["occlusion"] != CLEAN and r["fill"] == fill]
    for recognizer in dict.fromkeys(r["recognizer"] for r in good):
        mine = [r for r in good if r["recognizer"] == recognizer]
        regions = _region_order(r["region"] for r in mine)
        for filler in _method_order(r["filler"] for r in mine):
            by_region = {r["region"]: r for r in mine if r["filler"] == filler}
            if set(by_region) != set(regions):
                continue  # a method scored on some regions only has no comparable mean
            entry = {"recognizer": recognizer, "method": "occluded" if filler == "none" else filler,
                     "regions": len(regions)}
            for key in ("accuracy", "recovery_ratio", "similarity_gap", *REALISM_FIELDS, "c2st_auc"):
                values = [float(by_region[g].get(key, math.nan)) for g in regions]
                entry[f"mean_{key}"] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
            for region in hardest:
                if region in by_region:
                    entry[f"accuracy_{region}"] = float(by_region[region]["accuracy"])
                    entry[f"chroma_spread_{region}"] = float(by_region[region].get("chroma_spread", math.nan))
                    entry[f"c2st_{region}"] = float(by_region[region].get("c2st_auc", math.nan))
            out.append(entry)
    return out


def _method_order(fillers: Iterable[str]) -> list[str]:
    """none first, then the simple fills, the donor, then the method's ablation (CA, CA + ID), then the rest."""
    order = ("none", "telea", "ns", "mean_face", "donor", "ca", "ca_id")
    return sorted(dict.fromkeys(fillers), key=lambda f: order.index(f) if f in order else len(order))


# --- tables for figures --------------------------------------------------------------------------

def _region_order(regions: Iterable[str]) -> list[str]:
    regions = list(dict.fromkeys(regions))
    known = [r for r in REGION_NAMES if r in regions]
    return known + [r for r in regions if r not in known]


def accuracy_table(rows: Sequence[dict], recognizer: str, fill: str | None = None, value: str = "accuracy",
                   include_clean: bool = True) -> dict[str, dict[str, float]]:
    """{method: {region: value}} for one recognizer (and fill): methods are ``occluded`` (filler
    none), each other filler, and ``clean`` (the same value on every region) — the radar's input."""
    good = [r for r in rows if r["recognizer"] == recognizer and not r["error"]]
    table: dict[str, dict[str, float]] = {}
    occluded = [r for r in good if r["occlusion"] != CLEAN and (fill is None or r["fill"] == fill)]
    regions = _region_order(r["region"] for r in occluded)
    clean = [r for r in good if r["occlusion"] == CLEAN]
    if include_clean and clean:
        table["clean"] = {region: float(clean[0][value]) for region in regions}
    for row in occluded:
        method = "occluded" if row["filler"] == "none" else row["filler"]
        table.setdefault(method, {})[row["region"]] = float(row[value])
    return table


def roc_panels(results: OccludedResults, recognizer: str, fill: str | None = None):
    """(panels {region: {method: scores}}, labels, clean scores or None) for :func:`figures.plot_roc_per_region`."""
    panels: dict[str, dict[str, np.ndarray]] = {}
    clean = results.scores.get(condition_key(recognizer, CLEAN, "none"))
    rows = [r for r in results if r["recognizer"] == recognizer and r["occlusion"] != CLEAN and not r["error"]
            and (fill is None or r["fill"] == fill) and r["condition"] in results.scores]
    for region in _region_order(r["region"] for r in rows):
        panels[region] = {("occluded" if r["filler"] == "none" else r["filler"]): results.scores[r["condition"]]
                          for r in rows if r["region"] == region}
    return panels, results.labels, clean


def format_table(rows: Sequence[dict]) -> str:
    """A short fixed-width text table of the rows (for the CLI)."""
    lines = [f"{'recognizer':10s} {'occlusion':28s} {'filler':10s} {'acc %':>7s} {'±':>5s} {'AUC':>7s} "
             f"{'gap':>6s} {'recov':>6s}"]
    for r in rows:
        if r["error"]:
            lines.append(f"{r['recognizer']:10s} {r['occlusion']:28s} {r['filler']:10s} ERROR {r['error'][:60]}")
            continue
        recov = "" if math.isnan(float(r["recovery_ratio"])) else f"{r['recovery_ratio']:.2f}"
        lines.append(f"{r['recognizer']:10s} {r['occlusion']:28s} {r['filler']:10s} {100 * r['accuracy']:7.2f} "
                     f"{100 * r['accuracy_std']:5.2f} {r['auc']:7.4f} {r['similarity_gap']:6.3f} {recov:>6s}")
    return "\n".join(lines)


def markdown_table(rows: Sequence[dict], recognizer: str, value: str = "accuracy") -> str:
    """README table for one recognizer: a row per region, a column per method (occluded with each
    fill, then each filler), plus the mean over regions; accuracy in %."""
    good = [r for r in rows if r["recognizer"] == recognizer and not r["error"]]
    clean = next((r for r in good if r["occlusion"] == CLEAN), None)
    occluded = [r for r in good if r["occlusion"] != CLEAN]
    fills = list(dict.fromkeys(r["fill"] for r in occluded))
    methods = [(f"occluded ({fill})", fill, "none") for fill in fills]
    fillers = [f for f in _method_order(r["filler"] for r in occluded) if f != "none"]
    methods += [(filler, fills[0], filler) for filler in fillers] if fills else []
    cell = {(r["region"], r["fill"], r["filler"]): r for r in occluded}
    regions = _region_order(r["region"] for r in occluded)
    scale, digits = ((100.0, 2) if value == "accuracy" else (1.0, 2) if value in ("hole_psnr", "chroma_error")
                     else (1.0, 3))
    lines = ["| region | " + " | ".join(name for name, _, _ in methods) + " |",
             "|---" * (len(methods) + 1) + "|"]
    sums = {name: [] for name, _, _ in methods}
    for region in regions:
        cells = []
        for name, fill, filler in methods:
            row = cell.get((region, fill, filler))
            number = math.nan if row is None else float(row.get(value, math.nan))
            cells.append("–" if math.isnan(number) else f"{scale * number:.{digits}f}")
            if not math.isnan(number):
                sums[name].append(scale * number)
        lines.append(f"| {region} | " + " | ".join(cells) + " |")
    complete = {name: v for name, v in sums.items() if len(v) == len(regions)}
    lines.append("| **mean** | " + " | ".join(f"**{np.mean(complete[name]):.{digits}f}**" if name in complete else "–"
                                              for name, _, _ in methods) + " |")
    if clean is not None and not math.isnan(float(clean.get(value, math.nan))):
        lines.append(f"\nClean: {scale * clean[value]:.{digits}f}.")
    return "\n".join(lines)


def _fold_accuracies(results: OccludedResults, row) -> np.ndarray:
    """Per-fold accuracies of one saved condition (10 balanced sub-folds when the run has one fold)."""
    scores = np.asarray(results.scores[row["condition"]], np.float64)
    folds, _ = protocol_folds(results.labels, results.folds)
    return np.asarray(kfold_accuracy(scores, results.labels, folds)[0])


def paired_comparisons(results: OccludedResults, recognizer: str, method: str = "ca_id",
                       baseline: str = "none", fill: str = "black", baseline_fill: str | None = None
                       ) -> dict[str, PairedComparison]:
    """{region: comparison, ..., "mean": comparison} of ``method`` against ``baseline`` (fillers) on
    the same pairs: per-fold accuracies, each with its own cross-validated thresholds, compared fold
    by fold with an exact sign-flip test. The method runs on ``fill``, the baseline on
    ``baseline_fill`` (default the same; e.g. ``baseline="none", baseline_fill="gray"`` is the
    gray-filled face). "mean" compares the per-fold accuracies averaged over the regions both have —
    the README headline's mean, with a p-value."""
    baseline_fill = baseline_fill or fill
    rows = {(r["region"], r["fill"], r["filler"]): r for r in results if r["recognizer"] == recognizer
            and r["occlusion"] != CLEAN and not r["error"] and r["condition"] in results.scores}
    per_fold: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for region in _region_order(region for region, _, _ in rows):
        keys = ((region, fill, method), (region, baseline_fill, baseline))
        if all(key in rows for key in keys):
            method_acc, baseline_acc = [_fold_accuracies(results, rows[key]) for key in keys]
            per_fold[region] = (method_acc, baseline_acc)
    out = {region: compare_fold_accuracies(m, b) for region, (m, b) in per_fold.items()}
    if per_fold:
        out["mean"] = compare_fold_accuracies(np.mean([m for m, _ in per_fold.values()], axis=0),
                                              np.mean([b for _, b in per_fold.values()], axis=0))
    return out


def significance_table(results: OccludedResults, recognizer: str, method: str = "ca_id",
                       baselines: Sequence[str] = ("none", "telea"), fill: str = "black") -> str:
    """Markdown: per region (and the mean over regions), ``method`` minus each baseline in accuracy
    points with the number of better folds and the sign-flip p-value. A baseline is a filler on the
    same fill (``"telea"``) or ``"<fill>:<filler>"`` (``"gray:none"``: the gray-filled face)."""
    def parse(baseline: str) -> tuple[str, str]:  # "telea" or "<fill>:<filler>", e.g. "gray:none"
        base_fill, _, filler = baseline.rpartition(":")
        return filler, base_fill or fill

    def name(baseline: str) -> str:
        filler, base_fill = parse(baseline)
        return f"occluded ({base_fill})" if filler == "none" else filler

    tables = {}
    for b in baselines:
        filler, base_fill = parse(b)
        tables[b] = paired_comparisons(results, recognizer, method, filler, fill=fill, baseline_fill=base_fill)
    baselines = [b for b in baselines if tables[b]] or list(baselines)[:1]  # a baseline never scored: no column
    regions = list(dict.fromkeys(region for t in tables.values() for region in t))
    header = " | ".join(f"vs {name(b)}: Δ points | folds better | p" for b in baselines)
    lines = [f"| region | {header} |", "|---" * (1 + 3 * len(baselines)) + "|"]
    for region in regions:
        cells = []
        for b in baselines:
            c = tables[b].get(region)
            cells += ["–"] * 3 if c is None else [f"{100 * c.mean_difference:+.2f}",
                                                 f"{c.folds_better}/{len(c.fold_differences)}", f"{c.p_value:.3f}"]
        label = "**mean**" if region == "mean" else region
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mask_cost_table(oracle: OccludedResults, predicted: OccludedResults, recognizer: str) -> str:
    """Markdown: what the O-Detector's mask costs each filler against the oracle mask, per occlusion
    (and the mean over the occlusions both runs have): accuracy with each mask (%), predicted minus
    oracle in points, folds on which the predicted mask is worse, and the exact sign-flip p over the
    10 folds (each fold with its own cross-validated threshold). The occluded face (``none``) is the
    same under both masks and is shown for reference."""
    if len(oracle.labels) != len(predicted.labels) or not np.array_equal(oracle.labels, predicted.labels):
        raise ValueError("the oracle and predicted runs must score the same pairs (same folds)")

    def scored(results: OccludedResults) -> dict:
        return {(r["occlusion"], r["filler"]): r for r in results if r["recognizer"] == recognizer
                and r["occlusion"] != CLEAN and not r["error"] and r["condition"] in results.scores}

    truth, found = scored(oracle), scored(predicted)
    occlusions = list(dict.fromkeys(occlusion for occlusion, _ in truth))
    fillers = [f for f in _method_order(filler for _, filler in truth) if f != "none"]
    lines = ["| occlusion | occluded | filler | oracle mask | predicted mask | Δ points | folds worse | p |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    means: dict[str, list] = {}
    for occlusion in occlusions:
        baseline = truth.get((occlusion, "none"))
        occluded = "–" if baseline is None else f"{100 * baseline['accuracy']:.2f}"
        for filler in fillers:
            a, b = truth.get((occlusion, filler)), found.get((occlusion, filler))
            if a is None or b is None:
                continue
            folds_a, folds_b = _fold_accuracies(oracle, a), _fold_accuracies(predicted, b)
            means.setdefault(filler, []).append((folds_a, folds_b))
            c = compare_fold_accuracies(folds_b, folds_a)
            lines.append(f"| {occlusion} | {occluded} | {filler} | {100 * a['accuracy']:.2f} | "
                         f"{100 * b['accuracy']:.2f} | {100 * c.mean_difference:+.2f} | "
                         f"{c.folds_worse}/{len(c.fold_differences)} | {c.p_value:.3f} |")
    for filler, pairs in means.items():
        if len(pairs) < 2:
            continue
        folds_a, folds_b = np.mean([a for a, _ in pairs], axis=0), np.mean([b for _, b in pairs], axis=0)
        c = compare_fold_accuracies(folds_b, folds_a)
        lines.append(f"| **mean of {len(pairs)}** | | {filler} | {100 * folds_a.mean():.2f} | {100 * folds_b.mean():.2f} | "
                     f"**{100 * c.mean_difference:+.2f}** | {c.folds_worse}/{len(c.fold_differences)} | {c.p_value:.3f} |")
    return "\n".join(lines)


def headline_table(rows: Sequence[dict], fill: str = "black") -> str:
    """Markdown of :func:`method_summary`: per recognizer and method, the 10-region means and the
    hardest three (accuracy in %)."""
    def number(value, fmt):
        return "–" if value is None or math.isnan(float(value)) else format(value, fmt)

    lines = ["| recognizer | method | mean accuracy | mean recovery ratio | mean similarity gap | two_eyes | upper_face "
             "| center_block | chroma spread (two_eyes / upper_face / center_block) "
             "| C2ST AUC (two_eyes / upper_face / center_block) | hole PSNR dB | SSIM |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in method_summary(rows, fill):
        hard = " | ".join(number(100 * e[k], ".2f") if k in e else "–"
                          for k in ("accuracy_two_eyes", "accuracy_upper_face", "accuracy_center_block"))
        spread = " / ".join(number(e.get(f"chroma_spread_{r}"), ".2f") for r in ("two_eyes", "upper_face", "center_block"))
        judged = " / ".join(number(e.get(f"c2st_{r}"), ".3f") for r in ("two_eyes", "upper_face", "center_block"))
        lines.append(f"| {e['recognizer']} | {e['method']} | {100 * e['mean_accuracy']:.2f} | "
                     f"{number(e['mean_recovery_ratio'], '.2f')} | {e['mean_similarity_gap']:.3f} | {hard} | {spread} | "
                     f"{judged} | "
                     f"{number(e.get('mean_hole_psnr'), '.2f')} | {number(e.get('mean_ssim'), '.3f')} |")
    return "\n".join(lines)


def results_report(results: OccludedResults, method: str = "ca_id",
                   baselines: Sequence[str] = ("none", "gray:none", "telea", "donor")) -> str:
    """The README's occluded-LFW block from saved runs: per recognizer the accuracy and similarity-gap
    tables, then the headline, then ``method`` against each baseline with the paired fold test."""
    recognizers = list(dict.fromkeys(r["recognizer"] for r in results))
    parts = []
    for recognizer in recognizers:
        parts += [f"**{recognizer}: accuracy (%)**, 10-fold\n", markdown_table(results, recognizer), "",
                  f"**{recognizer}: similarity gap** (same − different mean cosine)\n",
                  markdown_table(results, recognizer, value="similarity_gap"), ""]
    measured = [r for r in results if r["occlusion"] != CLEAN and not r["error"]
                and np.isfinite(float(r.get("chroma_spread", math.nan)))]
    if measured:  # realism is the same for every recognizer: one table per measure
        first = measured[0]["recognizer"]
        for value, title in (("chroma_spread", "median chroma spread in the hole (fill / clean; real skin ≈ 1)"),
                             ("c2st_auc", "C2ST AUC: a classifier trained to tell the fill from real hole content "
                                          "(0.5 = indistinguishable, 1 = always told apart)"),
                             ("periodicity", "median periodicity of the fill's luminance detail (real face parts "
                                             "≈ 0.3; a repeated pattern > 0.5)"),
                             ("chroma_error", "mean chroma error |Δa*| + |Δb*| in the hole (lower is better)"),
                             ("hole_psnr", "hole PSNR, dB (fidelity; rewards blur)"),
                             ("ssim", "whole-crop SSIM (fidelity)")):
            if any(np.isfinite(float(r.get(value, math.nan))) for r in measured):  # older runs lack some
                parts += [f"**Is it a face? {title}**\n", markdown_table(results, first, value=value), ""]
    parts += ["**Headline** (black fill; mean over the regions where a method has all 10, and the hardest three; "
              "accuracy %, realism beside it)\n", headline_table(results), ""]
    for recognizer in recognizers:
        table = significance_table(results, recognizer, method, baselines)
        if len(table.splitlines()) > 2:
            parts += [f"**{recognizer}: {method} minus each baseline** (accuracy points, paired over the 10 folds, "
                      "exact sign-flip p)\n", table, ""]
    return "\n".join(parts).rstrip() + "\n"


# --- the frontier: is it a face (C2ST) against is it this person (accuracy) -------------------------


def frontier_label(row) -> str:
    """A method's name on the frontier: the occluded face is named by its fill (``black``, ``gray``),
    a filler by its name (``<filler>@<fill>`` when it also ran on a second fill)."""
    return row["fill"] if row["filler"] == "none" else row["filler"]


def frontier_points(rows: Sequence[dict], regions: Sequence[str] = HARDEST) -> dict:
    """What the frontier figure draws, from protocol rows (any recognizers, fills, fillers):

    ``{"labels": [...], "recognizers": [...], "regions": [...], "clean": {recognizer: accuracy},
    "points": {(label, region): {"c2st_auc", "c2st_low", "c2st_high", recognizer: accuracy, ...}}}``.
    The C2ST is the same for every recognizer (the first finite one is taken); a label is a
    filler (or the occluded face's fill, :func:`frontier_label`); only ``regions`` are kept."""
    good = [r for r in rows if not r["error"]]
    occluded = [r for r in good if r["occlusion"] != CLEAN and r["region"] in regions]
    filler_fills = list(dict.fromkeys(r["fill"] for r in occluded if r["filler"] != "none"))
    points: dict[tuple[str, str], dict] = {}
    for row in occluded:
        label = frontier_label(row)
        if row["filler"] != "none" and filler_fills and row["fill"] != filler_fills[0]:
            label = f"{label}@{row['fill']}"
        point = points.setdefault((label, row["region"]), dict.fromkeys(("c2st_auc", "c2st_low", "c2st_high"), math.nan))
        if not np.isfinite(point["c2st_auc"]) and np.isfinite(float(row.get("c2st_auc", math.nan))):
            point.update({k: float(row[k]) for k in ("c2st_auc", "c2st_low", "c2st_high")})
        point[row["recognizer"]] = float(row["accuracy"])
    labels = list(dict.fromkeys(label for label, _ in points))
    order = [f for f in ("black", "gray", "noise", *_method_order(labels)) if f in labels]
    return {"labels": list(dict.fromkeys(order + labels)),
            "recognizers": list(dict.fromkeys(r["recognizer"] for r in good)),
            "regions": [g for g in regions if any(region == g for _, region in points)],
            "clean": {r["recognizer"]: float(r["accuracy"]) for r in good if r["occlusion"] == CLEAN},
            "points": points}


def frontier_means(frontier: dict) -> dict[str, dict[str, float]]:
    """{label: {"c2st_auc", recognizer: accuracy, ..., "regions": n}}: each label's mean over the
    regions where it has a C2ST AUC (accuracies over the same regions)."""
    out = {}
    for label in frontier["labels"]:
        mine = [frontier["points"][(label, g)] for g in frontier["regions"] if (label, g) in frontier["points"]]
        mine = [p for p in mine if np.isfinite(p["c2st_auc"])]
        if not mine:
            continue
        entry = {"c2st_auc": float(np.mean([p["c2st_auc"] for p in mine])), "regions": len(mine)}
        for rec in frontier["recognizers"]:
            values = [p[rec] for p in mine if rec in p]
            if len(values) == len(mine):
                entry[rec] = float(np.mean(values))
        out[label] = entry
    return out


def frontier_reading(rows: Sequence[dict], regions: Sequence[str] = HARDEST, recognizer: str | None = None) -> str:
    """A short markdown reading of the frontier, computed from ``rows``: where each filler sits
    (mean C2ST AUC and accuracy over ``regions``), which fillers are on the frontier (no other is
    both harder to tell from real content and more accurate) and how far each is from the ideal
    corner (AUC 0.5, the clean accuracy). ``recognizer``: the judge of identity (default dlib when
    present, the independent evaluator)."""
    frontier = frontier_points(rows, regions)
    means = frontier_means(frontier)
    if not means:
        return "No C2ST AUC in these rows (too few crops, or a run from before the judge): no frontier to read.\n"
    recs = frontier["recognizers"]
    rec = recognizer or ("dlib" if "dlib" in recs else recs[0])
    clean = frontier["clean"].get(rec, math.nan)
    names = ", ".join(frontier["regions"])
    lines = [f"Where each fill sits (mean over {names}; C2ST AUC 0.5 = indistinguishable from real content, "
             f"1 = always told apart; accuracy %):", ""]
    for label, m in means.items():
        accuracies = ", ".join(f"{r} {100 * m[r]:.2f}" for r in recs if r in m)
        lines.append(f"* **{label}**: C2ST AUC {m['c2st_auc']:.3f}; accuracy {accuracies or '–'}")
    scored = {label: m for label, m in means.items() if rec in m}
    if scored:
        def auc(m):  # AUCs closer than 0.01 count as one: the judge does not resolve finer
            return round(m["c2st_auc"], 2)

        front = [a for a, m in scored.items() if not any(
            auc(o) <= auc(m) and o[rec] >= m[rec] and (auc(o) < auc(m) or o[rec] > m[rec])
            for b, o in scored.items() if b != a)]
        front.sort(key=lambda a: scored[a]["c2st_auc"])
        realest = min(scored, key=lambda a: scored[a]["c2st_auc"])
        best = max(scored, key=lambda a: scored[a][rec])
        lines += ["", f"On {rec}: the frontier (no other fill both harder to tell from real content and more "
                      f"accurate) is {', '.join(f'**{a}**' for a in front)}. Hardest to tell from real content: "
                      f"**{realest}** (AUC {scored[realest]['c2st_auc']:.3f}, {100 * scored[realest][rec]:.2f} %); "
                      f"most accurate: **{best}** ({100 * scored[best][rec]:.2f} %, AUC {scored[best]['c2st_auc']:.3f})."]
        if np.isfinite(clean):
            gaps = "; ".join(f"{a} {scored[a]['c2st_auc'] - 0.5:+.3f} AUC, {100 * (scored[a][rec] - clean):+.2f} points"
                             for a in front)
            lines.append(f"From the ideal corner (AUC 0.5, clean {100 * clean:.2f} %), the frontier's fills are: {gaps}.")
    return "\n".join(lines) + "\n"
