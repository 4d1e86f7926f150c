"""scored -> figures. Every figure is saved as PNG + PDF under ``figures/`` with a stable name."""
from __future__ import annotations

from pathlib import Path

import matplotlib

if "inline" not in matplotlib.get_backend().lower():
    matplotlib.use("Agg")  # files only outside notebooks: no display is needed (or present in CI)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from idinpaint.align import ARCFACE_TEMPLATE  # noqa: E402
from idinpaint.data.aligned import aligned_name, read_landmarks  # noqa: E402
from idinpaint.evaluation.curves import gallery_faces, gallery_fillers, learning_curves  # noqa: E402
from idinpaint.evaluation.realism import realism_metrics  # noqa: E402
from idinpaint.evaluation.report import (  # noqa: E402
    accuracy_table,
    frontier_means,
    frontier_points,
    roc_panels,
)
from idinpaint.evaluation.results import recognizer_results  # noqa: E402
from idinpaint.evaluation.retention import HARDEST  # noqa: E402
from idinpaint.imageio import overlay, read_rgb  # noqa: E402
from idinpaint.occlusion import (  # noqa: E402
    FILLS,
    REGION_NAMES,
    TEXTURE_FILL,
    OccludersMissingError,
    list_templates,
    make_occlusion,
    occlude,
    region_mask,
    texture_groups,
)
from idinpaint.occlusion.metrics import mask_metrics  # noqa: E402
from idinpaint.paths import figures_dir  # noqa: E402
from idinpaint.runinfo import atomic_file  # noqa: E402


def save_figure(fig, name: str, folder=None, dpi: int = 150) -> list[Path]:
    """Write ``<folder>/<name>.png`` (``dpi``) and ``.pdf``; returns both paths."""
    folder = Path(folder) if folder is not None else figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, kwargs in ((".png", {"dpi": dpi}), (".pdf", {})):
        path = folder / f"{name}{suffix}"
        with atomic_file(path) as tmp:
            fig.savefig(tmp, format=suffix[1:], bbox_inches="tight", **kwargs)
        paths.append(path)
    return paths


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


def face_grid(images: list[np.ndarray], titles: list[str] | None = None, columns: int = 8, size: float = 1.3):
    """A grid of RGB faces with optional titles."""
    rows = max(1, int(np.ceil(len(images) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * size, rows * size * 1.15), squeeze=False)
    for index, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if index < len(images):
            ax.imshow(images[index])
            if titles:
                ax.set_title(titles[index], fontsize=6)
    fig.tight_layout()
    return fig


def plot_alignment_examples(raw_root, aligned_root, count: int = 8):
    """Raw photos with YuNet's landmarks (top) above their aligned crops with the template (bottom)."""
    landmarks = read_landmarks(aligned_root)
    chosen = sorted(rel for rel in landmarks if (Path(aligned_root) / aligned_name(rel)).is_file())
    step = max(1, len(chosen) // max(1, count))
    chosen = chosen[::step][:count]
    fig, axes = plt.subplots(2, max(1, len(chosen)), figsize=(1.6 * max(1, len(chosen)), 3.6), squeeze=False)
    for column, rel in enumerate(chosen):
        top, bottom = axes[0, column], axes[1, column]
        top.imshow(read_rgb(Path(raw_root) / rel))
        top.scatter(*landmarks[rel].T, s=8, c="lime")
        bottom.imshow(read_rgb(Path(aligned_root) / aligned_name(rel)))
        bottom.scatter(*ARCFACE_TEMPLATE.T, s=14, c="red", marker="+")
        top.set_title(rel.split("/")[0].replace("_", " ")[:18], fontsize=6)
        for ax in (top, bottom):
            ax.axis("off")
    fig.tight_layout()
    return fig


# --- occlusion protocol figures -------------------------------------------------------------------

#: Fixed colours so a method looks the same in every figure.
METHOD_COLOURS = {"clean": "black", "occluded": "tab:gray", "none": "tab:gray", "telea": "tab:blue",
                  "ns": "tab:cyan", "mean_face": "tab:orange", "donor": "tab:purple", "ca": "tab:green", "ca_id": "tab:red"}
_EXTRA_COLOURS = ["tab:brown", "tab:pink", "tab:olive", "gold", "navy"]
RECOGNIZER_TITLES = {"sface": "SFace", "dlib": "dlib ResNet", "dlib_torch": "dlib ResNet (torch)"}


def _method_colour(method: str, order: list[str]) -> str:
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    others = [m for m in order if m not in METHOD_COLOURS]
    return _EXTRA_COLOURS[others.index(method) % len(_EXTRA_COLOURS)] if method in others else "tab:purple"


def _pretty(name: str) -> str:
    return name.replace("_", " ")


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
        colour = _method_colour(method, methods)
        style = "--" if method == "clean" else "-"
        ax.plot(closed_angles, closed, style, color=colour, lw=1.8, label=_pretty(method), marker="o", ms=3)
        if method != "clean":
            ax.fill(closed_angles, np.nan_to_num(closed, nan=0.0), color=colour, alpha=0.06)
    low = min(values_seen) if values_seen else 50.0
    ax.set_ylim(max(0.0, np.floor((low - 3) / 5) * 5), 100.5)
    ax.set_xticks(angles)
    ax.set_xticklabels([_pretty(r) for r in regions], fontsize=8)
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
                   color=_method_colour(base, [m.split(" (")[0] for m in methods]),
                   alpha=0.85 if j else 0.6, label=_pretty(method), error_kw={"lw": 0.8})
        clean = [r for r in mine if r["occlusion"] == "clean"]
        if clean:
            ax.axhline(clean[0]["similarity_gap"], color="black", ls="--", lw=1.2,
                       label=f"clean ({clean[0]['similarity_gap']:.3f})")
        ax.set_xticks(x)
        ax.set_xticklabels([_pretty(g) for g in regions], rotation=35, ha="right", fontsize=8)
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
            ax.bar(x - 0.4 + width * (j + 0.5), values, width, color=_method_colour(method, methods), alpha=0.85,
                   label=_pretty(method))
        if measure == "chroma_spread":
            ax.axhline(1.0, color="black", ls="--", lw=1.0, label="real skin ≈ 1")
        ax.set_xticks(x)
        ax.set_xticklabels([_pretty(g) for g in regions], rotation=35, ha="right", fontsize=8)
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
                   color=_method_colour(label, labels), alpha=0.85, error_kw={"lw": 0.8})
        ax.set_xticks(x)
        ax.set_xticklabels([_pretty(g) for g in regions], rotation=35, ha="right", fontsize=8)
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
                              color=_method_colour(method, methods), lw=1.3,
                              label=f"{_pretty(method)}")
            handles.setdefault(method, line)
            if method != "clean":
                ax.text(0.97, 0.05 + 0.09 * list(panels[region]).index(method), f"AUC {auc(far, tar):.3f}",
                        color=line.get_color(), fontsize=6, ha="right", transform=ax.transAxes)
        ax.set_xscale("log")
        ax.set_xlim(1e-4, 1)
        ax.set_ylim(0, 1.01)
        ax.set_title(_pretty(region), fontsize=9)
        ax.grid(alpha=0.3, which="both")
    for index, ax in enumerate(axes.ravel()):
        if index >= len(regions):
            ax.axis("off")
        elif index + columns >= len(regions):  # lowest panel of its column: show its FAR axis
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("FAR", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("TAR", fontsize=8)
    fig.legend(list(handles.values()), [_pretty(m) for m in handles], loc="lower center",
               ncol=len(handles), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _field(item, name, default=None):
    return getattr(item, name) if hasattr(item, name) else item.get(name, default)


def plot_tsne_panels(conditions, names=None, columns: int | None = None, title: str | None = None):
    """One t-SNE panel per condition, colour = identity; silhouette and nearest-centroid accuracy
    in each title. ``conditions``: :class:`idinpaint.evaluation.tsne.TsneCondition` objects (or dicts
    with name, points, labels, silhouette, nc_accuracy); ``names``: identity names for the legend."""
    conditions = list(conditions)
    if not conditions:
        raise ValueError("no t-SNE conditions to draw")
    columns = columns or min(4, len(conditions))
    rows = int(np.ceil(len(conditions) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 3.4 * rows + 0.4), squeeze=False)
    cmap = plt.get_cmap("tab20")
    for ax, condition in zip(axes.ravel(), conditions):
        points = np.asarray(_field(condition, "points"))
        labels = np.asarray(_field(condition, "labels"))
        for k, label in enumerate(np.unique(labels)):
            chosen = labels == label
            name = names[label] if names is not None and 0 <= label < len(names) else str(label)
            ax.scatter(points[chosen, 0], points[chosen, 1], s=10, color=cmap(k % 20), label=_pretty(name))
        sil, acc = _field(condition, "silhouette", np.nan), _field(condition, "nc_accuracy", np.nan)
        ax.set_title(f"{_pretty(_field(condition, 'name'))}\nsilhouette {sil:.2f} · NC acc {100 * acc:.0f} %",
                     fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[len(conditions):]:
        ax.axis("off")
    if names is not None:
        handles, texts = axes.ravel()[0].get_legend_handles_labels()
        fig.legend(handles, texts, loc="center right", fontsize=7, frameon=False, bbox_to_anchor=(1.0, 0.5))
        fig.tight_layout(rect=(0, 0, 0.84, 0.95 if title else 1))
    else:
        fig.tight_layout(rect=(0, 0, 1, 0.95 if title else 1))
    if title:
        fig.suptitle(title)
    return fig


def occlusion_gallery(face, landmarks=None, fills=None, templates=None, seed: int = 0, size: float = 1.1):
    """Every protocol region x every fill, and every MaskTheFace template, on one face.

    ``face``: an aligned RGB uint8 crop; ``landmarks``: its 5 crop landmarks (place the occluders;
    default the ArcFace template); ``templates``: names (default all, variants included; skipped
    with a note when the MaskTheFace folder is missing)."""
    fills = list(fills or [f for f in FILLS if f != TEXTURE_FILL or texture_groups()])  # texture: needs MaskTheFace
    missing_note = None
    if templates is None:
        try:
            templates = list_templates(include_variants=True)
        except OccludersMissingError as err:
            templates, missing_note = [], str(err)
    templates = list(templates)
    columns = max(len(REGION_NAMES), 1)
    template_rows = int(np.ceil(len(templates) / columns)) if templates else (1 if missing_note else 0)
    rows = len(fills) + template_rows
    fig, axes = plt.subplots(rows, columns, figsize=(columns * size, rows * size * 1.2), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, fill in enumerate(fills):
        for j, region in enumerate(REGION_NAMES):
            occluded, _ = make_occlusion(f"region:{region}@{fill}", face, np.random.default_rng(seed))
            axes[i, j].imshow(occluded)
            axes[i, j].set_title(f"{_pretty(region)}\n@{fill}" if i == 0 else f"@{fill}", fontsize=6)
    for k, template in enumerate(templates):
        ax = axes[len(fills) + k // columns, k % columns]
        try:
            occluded, _ = make_occlusion(f"maskthface:{template}", face, np.random.default_rng(seed),
                                         landmarks=landmarks)
            ax.imshow(occluded)
            ax.set_title(template, fontsize=6)
        except Exception as err:  # one broken template does not sink the gallery
            ax.text(0.5, 0.5, f"{template}:\n{type(err).__name__}", ha="center", va="center", fontsize=5)
    if missing_note:
        axes[len(fills), 0].text(0, 0.5, "MaskTheFace templates not found: " + missing_note[:120], fontsize=6,
                                 va="center", transform=axes[len(fills), 0].transAxes)
    fig.tight_layout()
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


def filler_comparison(face, regions, fillers, fill: str = "black", size: float = 1.3, relatives=None,
                      realism: bool = False, identity=None, labels=None):
    """Rows = regions (for each face); columns = ground truth | occluded | each filler.

    ``face``: one aligned crop or a list of them; ``fillers``: Filler instances
    (``idinpaint.fillers``); every filler sees the same occluded face (through ``fill_for`` with the
    crop's dataset path from ``relatives`` when given, so path-routed fillers pick as in the
    protocol). ``realism``: print under each fill its chroma spread (fill / clean, ≈ 1 for a real
    face part) and hole PSNR; ``identity``: a :class:`~idinpaint.recognizers.Recognizer` whose
    cosine to the ground truth is printed too (*is it a face* beside *is it this person*).
    ``labels``: column titles of the fillers (default their names).
    """
    faces = [face] if isinstance(face, np.ndarray) and face.ndim == 3 else list(face)
    paths = list(relatives) if relatives is not None else [None] * len(faces)
    rows = [(f, path, region) for f, path in zip(faces, paths) for region in regions]
    columns = ["ground truth", f"occluded ({fill})"] + list(labels or [f.name for f in fillers])
    notes = realism or identity is not None
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(size * len(columns), size * (1.35 if notes else 1.1) * len(rows)),
                             squeeze=False)
    for row, (face, path, region) in enumerate(rows):
        mask = region_mask(region, face.shape[0])
        occluded = occlude(face, mask, fill)
        filled = [filler.fill_for(occluded[None], mask[None], [path])[0] if path else filler.fill(occluded, mask)
                  for filler in fillers]
        images = [face, occluded] + filled
        stack = np.stack(images[1:])
        metrics = realism_metrics(stack, np.repeat(face[None], len(stack), 0), np.repeat(mask[None], len(stack), 0)) \
            if realism else None
        cosines = None
        if identity is not None:
            vectors = identity.embed(np.stack(images))
            cosines = vectors[1:] @ vectors[0]
        for column, image in enumerate(images):
            ax = axes[row, column]
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(_pretty(columns[column]), fontsize=7)
            if column == 0:
                ax.set_ylabel(_pretty(region), fontsize=7)
            elif notes:
                parts = []
                if metrics is not None:
                    spread, psnr = metrics["chroma_spread"][column - 1], metrics["hole_psnr"][column - 1]
                    parts.append(f"spread {spread:.2f} · {psnr:.1f} dB")
                if cosines is not None:
                    parts.append(f"id cos {cosines[column - 1]:.2f}")
                ax.set_xlabel("\n".join(parts), fontsize=5.5, labelpad=1)
    fig.tight_layout()
    return fig


def show_saved(paths) -> None:
    """Display saved PNG figures inline (in a notebook); prints their paths elsewhere."""
    try:
        from IPython.display import Image, display
    except ImportError:  # pragma: no cover - outside IPython
        print("\n".join(map(str, paths)))
        return
    for path in paths:
        display(Image(filename=str(path)))


def plot_training_curves(run_dir, tags=("train/", "val/")):
    """Every logged scalar of a staged run (TensorBoard events under ``<run_dir>/tb/<stage>``), one
    panel per scalar, stages one after another on a common batch axis with their boundaries marked."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    stages = [d for d in sorted(Path(run_dir, "tb").iterdir(), key=lambda d: d.stat().st_mtime) if d.is_dir()]
    series: dict[str, list[tuple[float, float]]] = {}
    boundaries, offset = [], 0
    for stage in stages:
        events = EventAccumulator(str(stage)).Reload()
        last = 0
        for tag in events.Tags().get("scalars", []):
            if not tag.startswith(tuple(tags)):
                continue
            for event in events.Scalars(tag):
                series.setdefault(tag, []).append((offset + event.step, event.value))
                last = max(last, event.step)
        offset += last + 1
        boundaries.append((offset, stage.name))
    names = sorted(series)
    columns = min(4, max(1, len(names)))
    rows = max(1, int(np.ceil(len(names) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.5 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        steps, values = zip(*sorted(series[name]))
        ax.plot(steps, values, lw=1.2, marker="." if len(steps) < 30 else None)
        for position, stage_name in boundaries[:-1]:
            ax.axvline(position, color="grey", lw=0.6, ls=":")
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.suptitle("training curves (dotted lines: stage boundaries " + " → ".join(n for _, n in boundaries) + ")",
                 fontsize=9)
    fig.tight_layout()
    return fig


def learning_curves_figure(rows, title: str = "", name: str | None = None, folder=None,
                           recognizer: str = "dlib"):
    """Both axes of a long run (rows of :func:`idinpaint.evaluation.curves.learning_curves`). Left, the
    C2ST AUC against training batches (mean over the hardest regions, with its interval; each region
    thin); middle, the independent recognizer's margin (± one standard error); right, the two axes
    against each other — the run's path on the realism–identity frontier, snapshot by snapshot, beside
    the reference fillers scored on the same crops (dashed lines on the left, markers on the right;
    better is left and up). Saved when ``name`` is given."""
    trained = [r for r in rows if r["batches"] not in ("", None)]
    references = [r for r in rows if r["batches"] in ("", None) and r["region"] == "mean"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.9))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    margin_label = f"{recognizer} margin (retention − impostor)"
    for ax, key, label in ((axes[0], "c2st_auc", "C2ST AUC (0.5 = indistinguishable)"),
                           (axes[1], "margin", margin_label)):
        for region in dict.fromkeys(r["region"] for r in trained):
            mine = sorted((r for r in trained if r["region"] == region), key=lambda r: int(r["batches"]))
            x = np.array([int(r["batches"]) for r in mine])
            y = np.array([float(r[key]) for r in mine])
            if region == "mean":
                ax.plot(x, y, "o-", color="black", lw=2, label="mean of the hardest three")
                if key == "c2st_auc":
                    ax.fill_between(x, [float(r["c2st_low"]) for r in mine], [float(r["c2st_high"]) for r in mine],
                                    color="black", alpha=0.12)
                else:
                    se = np.array([float(r["margin_se"]) for r in mine])
                    ax.fill_between(x, y - se, y + se, color="black", alpha=0.12)
            else:
                ax.plot(x, y, "-", lw=0.9, alpha=0.7, label=region)
        for i, ref in enumerate(references):
            ax.axhline(float(ref[key]), ls="--", lw=1.2, color=colours[(i + 3) % len(colours)], label=ref["label"])
        ax.set_xlabel("training batches")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    frontier = axes[2]
    path = sorted((r for r in trained if r["region"] == "mean"), key=lambda r: int(r["batches"]))
    if path:
        x = np.array([float(r["c2st_auc"]) for r in path])
        y = np.array([float(r["margin"]) for r in path])
        frontier.plot(x, y, "-", color="black", lw=1, alpha=0.6)
        dots = frontier.scatter(x, y, c=[int(r["batches"]) for r in path], cmap="viridis", s=30, zorder=3)
        fig.colorbar(dots, ax=frontier, label="training batches", pad=0.02)
        for r, xi, yi in ((path[0], x[0], y[0]), (path[-1], x[-1], y[-1])):
            frontier.annotate(f"{r['label']} @ {r['batches']}", (xi, yi), fontsize=7, ha="right",
                              xytext=(-6, 4), textcoords="offset points")
    for i, ref in enumerate(references):
        frontier.errorbar(float(ref["c2st_auc"]), float(ref["margin"]), yerr=float(ref["margin_se"]), fmt="s",
                          ms=6, color=colours[(i + 3) % len(colours)], label=ref["label"], capsize=2)
    zoomed = frontier.get_xlim()[0] > 0.75   # say so when 0.5 (indistinguishable) is off the axis
    frontier.set_xlabel("C2ST AUC, mean of the hardest three" + (" (zoomed: 0.5 is far left)" if zoomed else ""))
    frontier.set_ylabel(margin_label)
    frontier.set_title("the frontier on these crops (better: left and up)", fontsize=9)
    frontier.grid(alpha=0.3)
    if references:
        frontier.legend(fontsize=7, loc="lower left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if name:
        save_figure(fig, name, folder)
    return fig


def detector_example_tiles(examples: dict, families=None) -> tuple[list[np.ndarray], list[str]]:
    """Tiles (crop | truth | prediction per example) and titles for :func:`face_grid`, from the
    ``examples`` of :func:`idinpaint.evaluation.detector.evaluate_detector`."""
    tiles, titles = [], []
    for family in families or list(examples):
        for image, truth, predicted in examples.get(family, []):
            iou = mask_metrics(predicted, truth)["iou"][0]
            tiles += [image, overlay(image, truth, (0, 200, 80)), overlay(image, predicted)]
            titles += [family, "truth", f"prediction (IoU {iou:.2f})"]
    return tiles, titles


def detector_examples_figure(examples: dict, name: str, folder=None, per_family: int = 1) -> list[Path]:
    """The generalisation table's figure (one example per family, crop | truth | prediction),
    saved as ``<folder>/<name>.png/.pdf``; returns the paths."""
    tiles, titles = detector_example_tiles({k: v[:per_family] for k, v in examples.items()})
    return save_figure(face_grid(tiles, titles, columns=9, size=1.2), name, folder)


def real_occlusions_figure(measured: dict, name: str = "detector_real_occlusions", folder=None,
                           columns: int = 12) -> list[Path]:
    """What the O-Detector marks on LFW's really occluded photos (top block, by kind) and on the clean
    ones (bottom block): each crop with its marked pixels tinted, titled with the photo, the kind and
    the marked share. ``measured``: :func:`idinpaint.evaluation.detector.measure_real_occlusions`."""
    rows, images, masks = measured["rows"], measured["images"], measured["masks"]
    tiles, titles = [], []
    for group in ("occluded", "clean"):
        chosen = [i for i, row in enumerate(rows) if (row["kind"] == "clean") == (group == "clean")]
        for i in sorted(chosen, key=lambda i: (rows[i]["kind"], -rows[i]["marked"])):
            tiles.append(overlay(images[i], masks[i]))
            titles.append(f"{Path(rows[i]['photo']).stem}\n{rows[i]['kind']} · {100 * rows[i]['marked']:.1f} %")
        tiles += [np.full_like(images[0], 255)] * (-len(chosen) % columns)
        titles += [""] * (-len(chosen) % columns)
    fig = face_grid(tiles, titles, columns=columns, size=1.05)
    for ax in fig.axes:
        ax.title.set_fontsize(4.5)
    fig.suptitle("O-Detector on LFW's own occlusions (top, checked by eye) and on clean faces (bottom): "
                 "marked pixels tinted, marked share of the crop", fontsize=8, y=1.005)
    return save_figure(fig, name, folder)


def draw_learning_curves(run_dir, stage: str = "ca_gan", folder=None, **kwargs):
    """:func:`idinpaint.evaluation.curves.learning_curves` of a run, then its figure
    ``curves_<run folder>_<stage>`` (PNG + PDF). Returns (rows, written paths)."""
    rows = learning_curves(run_dir, stage, **kwargs)
    name = f"curves_{Path(run_dir).name}_{stage}"
    recognizer = kwargs.get("recognizer", "dlib")   # a name or a recognizer
    fig = learning_curves_figure(rows, title=f"{Path(run_dir).name} {stage}: held-out validation crops",
                                 recognizer=getattr(recognizer, "name", recognizer))
    written = save_figure(fig, name, folder)
    plt.close(fig)
    return rows, written


def draw_snapshot_gallery(run_dir, stage: str = "ca_gan", folder=None, faces: int = 4, snapshots: int = 3,
                          regions=("two_eyes", "upper_face"), baselines=("telea", "ca_id"), aligned_root=None,
                          recognizer="dlib"):
    """A run's progress by eye, figure ``gallery_<run folder>_<stage>`` (PNG + PDF): ``faces`` held-out
    validation faces (one per person) at ``regions``; columns ground truth | occluded | the
    ``baselines`` | ``snapshots`` EMA snapshots from the first to the last, each fill with its hole
    PSNR and its cosine to the ground truth by ``recognizer`` (dlib: never a training loss). Returns
    the written paths."""
    from idinpaint.recognizers import get_recognizer  # the cosine printed under each fill

    relatives, images = gallery_faces(run_dir, faces, aligned_root)
    labels, fillers = gallery_fillers(run_dir, stage, snapshots, baselines, aligned_root)
    recognizer = get_recognizer(recognizer) if isinstance(recognizer, str) else recognizer
    fig = filler_comparison(list(images), list(regions), fillers, relatives=relatives, realism=True,
                            identity=recognizer, labels=labels, size=1.15)
    fig.suptitle(f"{Path(run_dir).name} {stage}: held-out validation faces (never trained on, not test pairs); "
                 f"under each fill its chroma spread, hole PSNR and {recognizer.name} cosine to the ground truth",
                 fontsize=7, y=1.0)
    written = save_figure(fig, f"gallery_{Path(run_dir).name}_{stage}", folder, dpi=100)  # photos: keep the file small
    plt.close(fig)
    return written


# --- the frontier: is it a face against is it this person ------------------------------------------

#: A marker per region on the frontier (the hardest three first; others cycle through the rest).
REGION_MARKERS = {"two_eyes": "o", "upper_face": "s", "center_block": "^"}
_MORE_MARKERS = ["D", "v", "P", "X", "<", ">"]
#: The occluded face on the frontier is named by its fill.
_FILL_COLOURS = {"black": "dimgray", "gray": "silver", "noise": "tan"}


def _frontier_colour(label: str, labels: list[str]) -> str:
    return _FILL_COLOURS.get(label) or _method_colour(label, [lab for lab in labels if lab not in _FILL_COLOURS])


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
                ax.annotate(_pretty(label), (mean["c2st_auc"], 100 * mean[rec]), xytext=(6, 5),
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
                      label=f"{_pretty(lab)} (mean)") for lab in labels]
    handles += [Line2D([], [], ls="", marker=markers[g], ms=6, color="gray", label=_pretty(g)) for g in frontier["regions"]]
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
        shown = result["gallery"]
        fig = filler_comparison(shown["faces"], shown["regions"], list(shown["fillers"].values()),
                                relatives=shown["relatives"], realism=True, labels=list(shown["fillers"]), size=1.0)
        written += save_figure(fig, f"gallery_{stem}", folder)
    return written


def tsne_figure(record: dict, dataset: str, folder=None) -> list[Path]:
    """The t-SNE panels of one map (a record of :func:`idinpaint.evaluation.runners.tsne_runs`)."""
    fig = plot_tsne_panels(record["conditions"], record["subjects"].names,
                           title=f"t-SNE of {record['recognizer']} embeddings, {dataset}, {record['spec']}")
    return save_figure(fig, record["stem"], folder)
