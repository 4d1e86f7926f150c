"""The occluded-LFW protocol's figures: ROC curves, accuracy radar, similarity gap, realism and identity
retention bars, and the frontier (is it a face against is it this person)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_curve

from idinpaint.evaluation.report import HARDEST, accuracy_table, frontier_means, frontier_points, roc_panels
from idinpaint.evaluation.results import recognizer_results
from idinpaint.figures.base import RECOGNIZER_TITLES, method_colour, pretty, save_figure
from idinpaint.figures.faces import filler_comparison


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str = "LFW verification ROC", ax=None):
    """ROC curves (log-scaled FAR) for several conditions: label -> (scores, same-labels)."""
    from sklearn.metrics import auc

    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.4))
    for label, (scores, labels) in curves.items():
        far, tar, _ = roc_curve(np.asarray(labels).astype(int), scores)
        ax.plot(np.maximum(far, 1e-4), tar, label=f"{label} (AUC {auc(far, tar):.4f})", lw=1.6)
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize=8)
    return ax.figure


def plot_radar(table, methods=None, regions=None, title: str = "Verification accuracy per occluded region"):
    """Paper fig. 9 style: one axis per region, one polygon per method.

    ``table``: {method: {region: accuracy in 0..1}} (e.g. from
    :func:`idinpaint.evaluation.report.accuracy_table`); ``methods`` / ``regions`` pick and order
    them (default: all, regions in first-seen order). Accuracies are drawn in %.
    """
    methods = list(methods or table)
    if regions is None:
        regions = list(dict.fromkeys(r for m in methods for r in table.get(m, {})))
    regions = list(regions)
    if len(regions) < 3:
        raise ValueError(f"a radar needs at least 3 regions, got {regions}")
    angles = np.linspace(0, 2 * np.pi, len(regions), endpoint=False)
    fig, ax = plt.subplots(figsize=(6.4, 6.0), subplot_kw={"projection": "polar"})
    values_seen = []
    for method in methods:
        values = np.array([100 * float(table.get(method, {}).get(r, np.nan)) for r in regions])
        values_seen.extend(values[np.isfinite(values)].tolist())
        closed_angles, closed = np.append(angles, angles[0]), np.append(values, values[0])
        colour = method_colour(method, methods)
        style = "--" if method == "clean" else "-"
        ax.plot(closed_angles, closed, style, color=colour, lw=1.8, label=pretty(method), marker="o", ms=3)
        if method != "clean":
            ax.fill(closed_angles, np.nan_to_num(closed, nan=0.0), color=colour, alpha=0.06)
    low = min(values_seen) if values_seen else 50.0
    ax.set_ylim(max(0.0, np.floor((low - 3) / 5) * 5), 100.5)
    ax.set_xticks(angles)
    ax.set_xticklabels([pretty(r) for r in regions], fontsize=8)
    ax.tick_params(axis="x", pad=10)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_rlabel_position(360.0 / len(regions) / 2)  # radial labels between two region axes
    ax.set_title(title, pad=18)
    ax.legend(loc="upper right", bbox_to_anchor=(1.28, 1.1), fontsize=8)
    return fig


def plot_similarity_gap(rows, fill: str | None = None, recognizers=None, regions=None,
                        title: str = "Similarity gap (same − different mean cosine)"):
    """Bars of the similarity gap ± its spread over folds, grouped per region, one bar per method
    (occluded = filler none, then each filler); one panel per recognizer side by side (SFace, dlib);
    the clean gap is a dashed line. ``rows``: the row dicts of the occluded protocol."""
    rows = [r for r in rows if not r.get("error") and (fill is None or r["occlusion"] == "clean" or r["fill"] == fill)]
    present = list(dict.fromkeys(r["recognizer"] for r in rows))
    recognizers = list(recognizers or [n for n in ("sface", "dlib") if n in present] +
                       [n for n in present if n not in ("sface", "dlib")])
    occluded = [r for r in rows if r["occlusion"] != "clean"]
    fills = list(dict.fromkeys(r["fill"] for r in occluded))

    def method_of(row):
        method = "occluded" if row["filler"] == "none" else row["filler"]
        return f"{method} ({row['fill']})" if len(fills) > 1 else method

    regions = list(regions or dict.fromkeys(r["region"] for r in occluded))
    methods = list(dict.fromkeys(method_of(r) for r in sorted(occluded, key=lambda r: r["filler"] != "none")))
    panels = max(1, len(recognizers))
    panel_width = max(4.5, 2.0 + 0.22 * len(regions) * max(1, len(methods)))
    fig, axes = plt.subplots(1, panels, figsize=(panel_width * panels, 4.2), squeeze=False, sharey=True)
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(regions))
    for ax, recognizer in zip(axes[0], recognizers):
        mine = [r for r in rows if r["recognizer"] == recognizer]
        for j, method in enumerate(methods):
            lookup = {r["region"]: r for r in mine if r["occlusion"] != "clean" and method_of(r) == method}
            gaps = [lookup[g]["similarity_gap"] if g in lookup else np.nan for g in regions]
            errors = [lookup[g]["similarity_gap_std"] if g in lookup else 0.0 for g in regions]
            base = method.split(" (")[0]
            ax.bar(x - 0.4 + width * (j + 0.5), gaps, width, yerr=errors, capsize=2,
                   color=method_colour(base, [m.split(" (")[0] for m in methods]),
                   alpha=0.85 if j else 0.6, label=pretty(method), error_kw={"lw": 0.8})
        clean = [r for r in mine if r["occlusion"] == "clean"]
        if clean:
            ax.axhline(clean[0]["similarity_gap"], color="black", ls="--", lw=1.2,
                       label=f"clean ({clean[0]['similarity_gap']:.3f})")
        ax.set_xticks(x)
        ax.set_xticklabels([pretty(g) for g in regions], rotation=35, ha="right", fontsize=8)
        ax.set_title(RECOGNIZER_TITLES.get(recognizer, recognizer))
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("similarity gap")
    low, high = axes[0][0].get_ylim()
    axes[0][0].set_ylim(low, high + 0.2 * (high - low))  # room for the legend above the bars
    axes[0][-1].legend(fontsize=7, loc="upper right", ncol=2)
    fig.suptitle(title + (f", fill {fill}" if fill else ""))
    fig.tight_layout()
    return fig


def plot_realism(rows, measures=("chroma_spread", "periodicity", "hole_psnr", "ssim"), fill: str | None = None, regions=None,
                 title: str = "Is it a face? Realism of the fill against the clean crop"):
    """Bars per region, one per method (filler), one panel per realism measure (:mod:`idinpaint.
    evaluation.realism`); the chroma spread panel marks real skin's 1 with a dashed line. ``rows``:
    the occluded protocol's (or retention's) rows; realism does not depend on the recognizer, so
    the first recognizer's rows are drawn."""
    labels = {"chroma_spread": "chroma spread (fill / clean, median)", "chroma_error": "chroma error |Δa*|+|Δb*|",
              "hole_l1": "hole L1", "hole_psnr": "hole PSNR (dB)", "ssim": "SSIM (whole crop)",
              "periodicity": "periodicity (median; faces ≈ 0.3)"}
    rows = [r for r in rows if not r.get("error") and r.get("occlusion", "") != "clean"
            and (fill is None or r.get("fill", fill) == fill) and np.isfinite(float(r.get(measures[0], np.nan)))]
    if not rows:
        raise ValueError("no rows with realism measures to draw")
    rec_key = "recognizer" if "recognizer" in rows[0] else "recognizer"
    first = rows[0].get(rec_key)
    rows = [r for r in rows if r.get(rec_key) == first]
    regions = list(regions or dict.fromkeys(r["region"] for r in rows))
    methods = list(dict.fromkeys(("occluded" if r["filler"] == "none" else r["filler"]) for r in rows))
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(regions))
    fig, axes = plt.subplots(1, len(measures), figsize=(max(4.5, 1.0 + 0.2 * len(regions) * len(methods)) * len(measures), 4.0),
                             squeeze=False)
    for ax, measure in zip(axes[0], measures):
        for j, method in enumerate(methods):
            lookup = {r["region"]: r for r in rows if ("occluded" if r["filler"] == "none" else r["filler"]) == method}
            values = [float(lookup[g].get(measure, np.nan)) if g in lookup else np.nan for g in regions]
            ax.bar(x - 0.4 + width * (j + 0.5), values, width, color=method_colour(method, methods), alpha=0.85,
                   label=pretty(method))
        if measure == "chroma_spread":
            ax.axhline(1.0, color="black", ls="--", lw=1.0, label="real skin ≈ 1")
        ax.set_xticks(x)
        ax.set_xticklabels([pretty(g) for g in regions], rotation=35, ha="right", fontsize=8)
        ax.set_title(labels.get(measure, measure), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="best", ncol=2)
    fig.suptitle(title + (f", fill {fill}" if fill else ""))
    fig.tight_layout()
    return fig


def plot_identity_retention(rows, title: str = "Identity retention on held-out faces", measure: str = "retention",
                            fillers=None):
    """Bars of the mean ``measure`` ± 1 SE per region, one bar per filler: ``retention`` =
    cos(R(filled), R(clean)), ``margin`` = retention minus the mean cosine to other people's clean
    faces. One panel per recognizer (and half, when rows hold several). ``rows``:
    :func:`idinpaint.evaluation.retention.identity_retention`'s rows (optionally with ``recognizer`` /
    ``half`` keys); ``fillers``: which labels to draw, in order (default all)."""
    if measure not in ("retention", "margin"):
        raise ValueError(f"measure must be retention or margin, got {measure!r}")
    spread = "sd" if measure == "retention" else "margin_sd"
    if fillers is not None:
        rows = [r for r in rows if r["filler"] in fillers]
    panels = list(dict.fromkeys((r.get("recognizer", ""), r.get("half", "")) for r in rows))
    labels = list(fillers) if fillers is not None else list(dict.fromkeys(r["filler"] for r in rows))
    regions = list(dict.fromkeys(r["region"] for r in rows))
    width = 0.8 / max(1, len(labels))
    x = np.arange(len(regions))
    fig, axes = plt.subplots(1, len(panels), figsize=(max(5.0, 1.2 + 0.6 * len(regions)) * len(panels), 4.0),
                             squeeze=False, sharey=True)
    for ax, (recognizer, half) in zip(axes[0], panels):
        mine = {(r["region"], r["filler"]): r for r in rows
                if (r.get("recognizer", ""), r.get("half", "")) == (recognizer, half)}
        for j, label in enumerate(labels):
            cells = [mine.get((region, label)) for region in regions]
            values = [c.get(measure, np.nan) if c else np.nan for c in cells]
            errors = [c[spread] / np.sqrt(c["n"]) if c and c.get(spread) is not None and c["n"] > 1 else 0.0
                      for c in cells]
            ax.bar(x - 0.4 + width * (j + 0.5), values, width, yerr=errors, capsize=2, label=label,
                   color=method_colour(label, labels), alpha=0.85, error_kw={"lw": 0.8})
        ax.set_xticks(x)
        ax.set_xticklabels([pretty(g) for g in regions], rotation=35, ha="right", fontsize=8)
        name = RECOGNIZER_TITLES.get(recognizer, recognizer)
        ax.set_title(" · ".join(t for t in (name, f"half {half}" if half else "") if t))
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("cos(filled, clean)" if measure == "retention" else "cos(filled, own) − cos(filled, others)")
    values = [r.get(measure) for r in rows if r.get(measure) is not None]
    if values:  # zoom on the differences: bars from just below the smallest value
        low, high = min(values), max(values)
        axes[0][0].set_ylim(max(0.0, low - 0.15 * (high - low + 1e-6)), high + 0.1 * (high - low + 1e-6))
    axes[0][-1].legend(fontsize=7, loc="lower left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_roc_per_region(panels, labels, clean_scores=None, columns: int = 5, title: str | None = None):
    """Small multiples: one ROC panel per region with clean (dashed), occluded and each filler.

    ``panels``: {region: {method: pair scores}} (e.g. from
    :func:`idinpaint.evaluation.report.roc_panels`); ``labels``: same-person bools of the pairs;
    ``clean_scores``: the clean condition's scores, drawn in every panel.
    """
    from sklearn.metrics import auc

    labels = np.asarray(labels).astype(int)
    regions = list(panels)
    if not regions:
        raise ValueError("no panels to draw")
    columns = max(1, min(columns, len(regions)))
    rows = int(np.ceil(len(regions) / columns))
    methods = list(dict.fromkeys(m for region in regions for m in panels[region]))
    fig, axes = plt.subplots(rows, columns, figsize=(2.7 * columns, 2.5 * rows + 0.6), squeeze=False,
                             sharex=True, sharey=True)
    handles = {}
    for ax, region in zip(axes.ravel(), regions):
        curves = ([("clean", clean_scores)] if clean_scores is not None else []) + list(panels[region].items())
        for method, scores in curves:
            far, tar, _ = roc_curve(labels, np.asarray(scores))
            (line,) = ax.plot(np.maximum(far, 1e-4), tar, "--" if method == "clean" else "-",
                              color=method_colour(method, methods), lw=1.3,
                              label=f"{pretty(method)}")
            handles.setdefault(method, line)
            if method != "clean":
                ax.text(0.97, 0.05 + 0.09 * list(panels[region]).index(method), f"AUC {auc(far, tar):.3f}",
                        color=line.get_color(), fontsize=6, ha="right", transform=ax.transAxes)
        ax.set_xscale("log")
        ax.set_xlim(1e-4, 1)
        ax.set_ylim(0, 1.01)
        ax.set_title(pretty(region), fontsize=9)
        ax.grid(alpha=0.3, which="both")
    for index, ax in enumerate(axes.ravel()):
        if index >= len(regions):
            ax.axis("off")
        elif index + columns >= len(regions):  # lowest panel of its column: show its FAR axis
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("FAR", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("TAR", fontsize=8)
    fig.legend(list(handles.values()), [pretty(m) for m in handles], loc="lower center",
               ncol=len(handles), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def occluded_report_figures(results, tag: str, suffix: str = "", folder=None) -> list[Path]:
    """The occluded-protocol figures from one run (PNG + PDF; returns the PNG paths):

    * ``roc_lfw_occluded_<rec>_<fill><suffix>``: ROC per region for the first fill (where fillers ran);
    * ``radar_lfw_occluded_<rec><suffix>``: accuracy per region — occluded with every fill, each
      filler, clean (paper fig. 9 style; needs 3 or more regions);
    * ``similarity_gap_lfw_occluded_<tag>_<fill><suffix>``: similarity gap per region and method;
    * ``realism_lfw_occluded_<fill><suffix>``: chroma spread, hole PSNR and SSIM per region and method.
    """
    written: list[Path] = []
    ok_rows = [r for r in results if r["occlusion"] != "clean" and not r["error"]]
    fills = list(dict.fromkeys(r["fill"] for r in ok_rows))
    if not fills:
        return written
    first_fill = fills[0]
    for recognizer in dict.fromkeys(r["recognizer"] for r in results):
        panels, labels, clean = roc_panels(results, recognizer, first_fill)
        if panels:
            fig = plot_roc_per_region(panels, labels, clean,
                                      title=f"LFW, occluded second image ({first_fill}), {recognizer}")
            written += save_figure(fig, f"roc_lfw_occluded_{recognizer}_{first_fill}{suffix}", folder)[:1]
            plt.close(fig)
        table = accuracy_table(results, recognizer, first_fill)
        if len(fills) > 1 and "occluded" in table:
            table = {f"occluded ({first_fill})" if k == "occluded" else k: v for k, v in table.items()}
            for fill in fills[1:]:
                other = accuracy_table(results, recognizer, fill, include_clean=False)
                if "occluded" in other:
                    table[f"occluded ({fill})"] = other["occluded"]
        if len({region for values in table.values() for region in values}) >= 3:
            fig = plot_radar(table, title=f"LFW accuracy per occluded region, {recognizer}")
            written += save_figure(fig, f"radar_lfw_occluded_{recognizer}{suffix}", folder)[:1]
            plt.close(fig)
    fig = plot_similarity_gap(results, fill=first_fill)
    written += save_figure(fig, f"similarity_gap_lfw_occluded_{tag}_{first_fill}{suffix}", folder)[:1]
    plt.close(fig)
    if any(np.isfinite(float(r.get("chroma_spread", np.nan))) for r in ok_rows):
        fig = plot_realism(results, fill=first_fill)
        written += save_figure(fig, f"realism_lfw_occluded_{first_fill}{suffix}", folder)[:1]
        plt.close(fig)
    return written


#: A marker per region on the frontier (the hardest three first; others cycle through the rest).
REGION_MARKERS = {"two_eyes": "o", "upper_face": "s", "center_block": "^"}


_MORE_MARKERS = ["D", "v", "P", "X", "<", ">"]


_FILL_COLOURS = {"black": "dimgray", "gray": "silver", "noise": "tan"}


def _frontier_colour(label: str, labels: list[str]) -> str:
    return _FILL_COLOURS.get(label) or method_colour(label, [lab for lab in labels if lab not in _FILL_COLOURS])


def frontier_figure(rows, regions=HARDEST, recognizers=None,
                    title: str = "Is it a face (C2ST) against is it this person (LFW accuracy)"):
    """Each fill's place between the two axes: x = the C2ST AUC of its fill against real hole content
    (from 1, always told apart, on the left to 0.5, indistinguishable, on the right; error bars = the
    judge's 95 % interval), y = verification accuracy on the test pairs; one panel per recognizer
    (dlib first, then SFace). One point per region (marker per region, colour per fill), the fill's
    mean over the regions emphasised and labelled; the clean crop sits at the ideal corner (AUC
    0.5, clean accuracy). ``rows``: protocol rows (:func:`idinpaint.evaluation.protocol.
    evaluate_conditions`, or a saved run read back); the occluded face is named by its fill."""
    from matplotlib.lines import Line2D

    frontier = frontier_points(rows, regions)
    means = frontier_means(frontier)
    order = [r for r in ("dlib", "sface") if r in frontier["recognizers"]]
    recs = list(recognizers or order + [r for r in frontier["recognizers"] if r not in order])
    recs = [r for r in recs if any(r in m for m in means.values())]
    if not recs:
        raise ValueError("no rows with both a C2ST AUC and an accuracy to draw a frontier from")
    labels = [label for label in frontier["labels"] if label in means]
    markers = {g: REGION_MARKERS.get(g) or _MORE_MARKERS[k % len(_MORE_MARKERS)]
               for k, g in enumerate(frontier["regions"])}
    fig, axes = plt.subplots(1, len(recs), figsize=(6.0 * len(recs), 5.0), squeeze=False)
    for ax, rec in zip(axes[0], recs):
        for label in labels:
            colour = _frontier_colour(label, labels)
            for region in frontier["regions"]:
                point = frontier["points"].get((label, region))
                if point is None or rec not in point or not np.isfinite(point["c2st_auc"]):
                    continue
                auc = point["c2st_auc"]
                error = [[max(0.0, auc - point["c2st_low"])], [max(0.0, point["c2st_high"] - auc)]]
                ax.errorbar(auc, 100 * point[rec], xerr=error if np.isfinite(error).all() else None,
                            fmt=markers[region], color=colour, ms=5, alpha=0.65, elinewidth=0.8, capsize=2)
            mean = means[label]
            if rec in mean:
                ax.scatter(mean["c2st_auc"], 100 * mean[rec], s=150, marker="o", color=colour, edgecolor="black",
                           linewidth=1.4, zorder=5)
                ax.annotate(pretty(label), (mean["c2st_auc"], 100 * mean[rec]), xytext=(6, 5),
                            textcoords="offset points", fontsize=8, weight="bold", color=colour)
        clean = frontier["clean"].get(rec)
        if clean is not None and np.isfinite(clean):
            ax.scatter(0.5, 100 * clean, marker="*", s=260, color="gold", edgecolor="black", zorder=6)
            ax.annotate("clean", (0.5, 100 * clean), xytext=(-8, 6), textcoords="offset points", ha="right",
                        fontsize=8)
        ax.set_xlim(1.02, 0.46)  # told apart on the left, indistinguishable from real content on the right
        ax.axvline(0.5, ls=":", color="gray", lw=1)
        ax.set_xlabel("C2ST AUC of the fill against real content\n(1 = always told apart → 0.5 = indistinguishable)")
        ax.set_ylabel(f"{rec} accuracy on the test pairs (%)")
        ax.set_title(rec)
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], ls="", marker="o", ms=9, color=_frontier_colour(lab, labels), markeredgecolor="black",
                      label=f"{pretty(lab)} (mean)") for lab in labels]
    handles += [Line2D([], [], ls="", marker=markers[g], ms=6, color="gray", label=pretty(g)) for g in frontier["regions"]]
    handles.append(Line2D([], [], ls="", marker="*", ms=12, color="gold", markeredgecolor="black",
                          label="clean (ideal corner)"))
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(handles=handles, fontsize=7, loc="lower center", ncol=min(len(handles), 7), frameon=False)
    return fig


def report_figures(results, folder=None, suffix: str = "") -> list[Path]:
    """The figures of combined saved runs (``idinpaint evaluate report --figures``): each recognizer's
    occluded-protocol figures (:func:`occluded_report_figures`), and ``frontier`` (both recognizers,
    :func:`frontier_figure`) when the rows carry C2ST AUCs; every name ends in ``suffix`` (the runs'
    ``_foldsN``: a subset never overwrites the full protocol's figures). Returns the PNG paths."""
    written: list[Path] = []
    for recognizer in dict.fromkeys(row["recognizer"] for row in results):
        written += occluded_report_figures(recognizer_results(results, recognizer), recognizer, suffix, folder)
    return written + save_frontier(results, f"frontier{suffix}", folder)[:1]


def save_frontier(rows, name: str = "frontier", folder=None, **kwargs) -> list[Path]:
    """:func:`frontier_figure` of ``rows`` saved as ``<name>`` (PNG + PDF; returns both paths), or
    nothing (an empty list) when no row has a C2ST AUC: a run from before the judge, or one with
    too few crops to judge (the smoke profile)."""
    if not any(np.isfinite(float(row.get("c2st_auc", np.nan))) for row in rows if not row.get("error")):
        return []
    fig = frontier_figure(rows, **kwargs)
    paths = save_figure(fig, name, folder)
    plt.close(fig)
    return paths


def clean_roc_figure(run: dict, suffix: str = "", folder=None) -> list[Path]:
    """The ROC of one recognizer on the clean pairs (a run of :func:`idinpaint.evaluation.runners.clean_runs`)."""
    name = run["recognizer"]
    fig = plot_roc({f"{name} clean": (run["scores"], run["labels"])}, title=f"LFW clean, {name}")
    return save_figure(fig, f"roc_lfw_clean_{name}{suffix}", folder)


def retention_figures(result: dict, recognizers, fillers=None, folder=None) -> list[Path]:
    """Retention and margin per recognizer, and the held-out gallery when the run drew one
    (a result of :func:`idinpaint.evaluation.retention.run_retention`)."""
    stem = Path(result["paths"][0]).parent.name
    written = []
    for recognizer in recognizers:
        mine = [r for r in result["rows"] if r["recognizer"] == recognizer]
        for measure in ("retention", "margin"):
            fig = plot_identity_retention(mine, f"Identity {measure} on held-out validation crops ({recognizer})",
                                          measure, fillers=fillers or None)
            written += save_figure(fig, f"{measure}_{stem}_{recognizer}", folder)
    if "gallery" in result:  # held-out faces: ground truth | occluded | each filler, realism under each
        fig = filler_comparison(result["gallery"], size=1.0)
        written += save_figure(fig, f"gallery_{stem}", folder)
    return written
