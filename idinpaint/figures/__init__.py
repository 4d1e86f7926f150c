"""scored -> figures. Every figure is saved as PNG + PDF under ``figures/`` with a stable name.

This package only draws: what a figure shows is computed by the layers below and handed in
(occluded faces by :func:`idinpaint.occlusion.occlusion_examples`, fills and their numbers by
:func:`idinpaint.evaluation.gallery.compare_fillers`, a run's curves by
:func:`idinpaint.evaluation.curves.learning_curves`, ...); the layering test keeps its imports to
reading and drawing. Split by what it draws: :mod:`.base` (saving, grids, colours), :mod:`.faces`,
:mod:`.protocol`, :mod:`.training`, :mod:`.tsne`; every figure is reachable as
``idinpaint.figures.<name>``.
"""
from idinpaint.figures.base import (  # first: it chooses matplotlib's backend before pyplot is imported
    METHOD_COLOURS,
    RECOGNIZER_TITLES,
    face_grid,
    method_colour,
    pretty,
    save_figure,
    show_saved,
)
from idinpaint.figures.faces import (
    detector_examples_figure,
    filler_comparison,
    occlusion_gallery,
    plot_alignment_examples,
    real_occlusions_figure,
)
from idinpaint.figures.protocol import (
    REGION_MARKERS,
    clean_roc_figure,
    frontier_figure,
    occluded_report_figures,
    plot_identity_retention,
    plot_radar,
    plot_realism,
    plot_roc,
    plot_roc_per_region,
    plot_similarity_gap,
    report_figures,
    retention_figures,
    save_frontier,
)
from idinpaint.figures.training import (
    learning_curves_figure,
    plot_training_curves,
    run_curves_figure,
    snapshot_gallery_figure,
)
from idinpaint.figures.tsne import plot_tsne_panels, tsne_figure

__all__ = [
    "METHOD_COLOURS", "RECOGNIZER_TITLES", "face_grid", "method_colour", "pretty", "save_figure", "show_saved",
    "detector_examples_figure", "filler_comparison", "occlusion_gallery", "plot_alignment_examples",
    "real_occlusions_figure",
    "REGION_MARKERS", "clean_roc_figure", "frontier_figure", "occluded_report_figures", "plot_identity_retention",
    "plot_radar", "plot_realism", "plot_roc", "plot_roc_per_region", "plot_similarity_gap", "report_figures",
    "retention_figures", "save_frontier",
    "learning_curves_figure", "plot_training_curves", "run_curves_figure", "snapshot_gallery_figure",
    "plot_tsne_panels", "tsne_figure",
]
