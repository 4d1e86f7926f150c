"""t-SNE maps of face embeddings, one panel per condition."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import matplotlib.pyplot as plt

from idinpaint.figures.base import pretty, save_figure


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
            ax.scatter(points[chosen, 0], points[chosen, 1], s=10, color=cmap(k % 20), label=pretty(name))
        sil, acc = _field(condition, "silhouette", np.nan), _field(condition, "nc_accuracy", np.nan)
        ax.set_title(f"{pretty(_field(condition, 'name'))}\nsilhouette {sil:.2f} · NC acc {100 * acc:.0f} %",
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


def tsne_figure(record: dict, dataset: str, folder=None) -> list[Path]:
    """The t-SNE panels of one map (a record of :func:`idinpaint.evaluation.runners.tsne_runs`)."""
    fig = plot_tsne_panels(record["conditions"], record["subjects"].names,
                           title=f"t-SNE of {record['recognizer']} embeddings, {dataset}, {record['spec']}")
    return save_figure(fig, record["stem"], folder)
