"""Faces to look at: raw photos beside their aligned crops, every occluder on one face, fillers side by
side with their numbers, and what the O-Detector marks."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from idinpaint.align import ARCFACE_TEMPLATE
from idinpaint.data.aligned import aligned_name, read_landmarks
from idinpaint.figures.base import face_grid, pretty, save_figure
from idinpaint.imageio import overlay, read_rgb


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


def occlusion_gallery(examples, size: float = 1.1):
    """Every protocol region x every fill, and every MaskTheFace template, on one face: draws an
    :class:`~idinpaint.occlusion.OcclusionExamples` (:func:`idinpaint.occlusion.occlusion_examples`)."""
    fills, regions, templates = examples.fills, examples.regions, examples.templates
    columns = max(len(regions), 1)
    template_rows = int(np.ceil(len(templates) / columns)) if templates else (1 if examples.missing else 0)
    rows = len(fills) + template_rows
    fig, axes = plt.subplots(rows, columns, figsize=(columns * size, rows * size * 1.2), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, fill in enumerate(fills):
        for j, region in enumerate(regions):
            axes[i, j].imshow(examples.grid[fill][region])
            axes[i, j].set_title(f"{pretty(region)}\n@{fill}" if i == 0 else f"@{fill}", fontsize=6)
    for k, (template, shown) in enumerate(templates):
        ax = axes[len(fills) + k // columns, k % columns]
        if isinstance(shown, str):  # it could not be drawn: say why
            ax.text(0.5, 0.5, f"{template}:\n{shown}", ha="center", va="center", fontsize=5)
        else:
            ax.imshow(shown)
            ax.set_title(template, fontsize=6)
    if examples.missing:
        axes[len(fills), 0].text(0, 0.5, "MaskTheFace templates not found: " + examples.missing[:120], fontsize=6,
                                 va="center", transform=axes[len(fills), 0].transAxes)
    fig.tight_layout()
    return fig


def filler_comparison(comparison, size: float = 1.3):
    """Rows = regions (for each face); columns = ground truth | occluded | each filler: draws a
    :class:`~idinpaint.evaluation.gallery.FillerComparison` (:func:`idinpaint.evaluation.gallery.
    compare_fillers`), with its chroma spread, hole PSNR and identity cosine under each fill when it
    measured them."""
    columns, rows = comparison.columns, comparison.rows
    notes = comparison.has_notes
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(size * len(columns), size * (1.35 if notes else 1.1) * len(rows)),
                             squeeze=False)
    for r, row in enumerate(rows):
        for column, image in enumerate(row.images):
            ax = axes[r, column]
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(pretty(columns[column]), fontsize=7)
            if column == 0:
                ax.set_ylabel(pretty(row.region), fontsize=7)
            elif notes:
                parts = []
                if row.realism is not None:
                    spread, psnr = row.realism["chroma_spread"][column - 1], row.realism["hole_psnr"][column - 1]
                    parts.append(f"spread {spread:.2f} · {psnr:.1f} dB")
                if row.cosines is not None:
                    parts.append(f"id cos {row.cosines[column - 1]:.2f}")
                ax.set_xlabel("\n".join(parts), fontsize=5.5, labelpad=1)
    fig.tight_layout()
    return fig


def detector_examples_figure(tiles: list, titles: list, name: str, folder=None) -> list[Path]:
    """The generalisation table's figure: ``tiles`` and ``titles`` of
    :func:`idinpaint.evaluation.detector.example_tiles` (crop | truth | prediction per family), saved as
    ``<folder>/<name>.png/.pdf``; returns the paths."""
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
