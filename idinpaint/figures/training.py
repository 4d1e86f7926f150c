"""A training run's figures: its logged scalars, its learning curves on both axes and its snapshots by eye."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from idinpaint.figures.base import save_figure
from idinpaint.figures.faces import filler_comparison
from idinpaint.runs import logged_scalars


def plot_training_curves(run_dir, tags=("train/", "val/")):
    """Every logged scalar of a staged run (:func:`idinpaint.runs.logged_scalars`: TensorBoard events under
    ``<run_dir>/tb/<stage>``), one panel per scalar, stages one after another on a common batch axis with
    their boundaries marked."""
    series, boundaries = logged_scalars(run_dir, tags)
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


def run_curves_figure(rows, run_dir, stage: str = "ca_gan", folder=None, recognizer: str = "dlib") -> list[Path]:
    """The curves of a run (rows of :func:`idinpaint.evaluation.curves.learning_curves`) as figure
    ``curves_<run folder>_<stage>`` (PNG + PDF); returns the written paths."""
    fig = learning_curves_figure(rows, title=f"{Path(run_dir).name} {stage}: held-out validation crops",
                                 recognizer=recognizer)
    written = save_figure(fig, f"curves_{Path(run_dir).name}_{stage}", folder)
    plt.close(fig)
    return written


def snapshot_gallery_figure(comparison, run_dir, stage: str = "ca_gan", folder=None,
                            recognizer: str = "dlib") -> list[Path]:
    """A run's progress by eye (:func:`idinpaint.evaluation.curves.snapshot_gallery`: held-out faces,
    the baselines and the snapshots from first to last, each fill with its chroma spread, hole PSNR and
    ``recognizer`` cosine) as figure ``gallery_<run folder>_<stage>`` (PNG + PDF); returns the paths."""
    fig = filler_comparison(comparison, size=1.15)
    fig.suptitle(f"{Path(run_dir).name} {stage}: held-out validation faces (never trained on, not test pairs); "
                 f"under each fill its chroma spread, hole PSNR and {recognizer} cosine to the ground truth",
                 fontsize=7, y=1.0)
    written = save_figure(fig, f"gallery_{Path(run_dir).name}_{stage}", folder, dpi=100)  # photos: keep the file small
    plt.close(fig)
    return written
