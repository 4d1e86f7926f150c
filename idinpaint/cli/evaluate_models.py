"""``idinpaint evaluate curves | retention | tsne``: what a model does beyond the protocol's pairs: a
training run's learning curves, identity kept on held-out crops, and maps of the embeddings (the
protocol's ``evaluate lfw | occluded | report`` are in :mod:`idinpaint.cli.evaluate`)."""
from __future__ import annotations

from pathlib import Path

from idinpaint.cli._common import (
    HALVES,
    CLIError,
    add_aligned,
    add_command,
    add_figures,
    add_fillers,
    add_lfw_options,
    add_option,
    add_output_dir,
    add_recognizers,
    add_regions,
    check_outputs,
    check_pairs,
    require_aligned,
)


def add_targets(targets) -> None:
    """The ``curves``, ``retention`` and ``tsne`` subcommands of ``idinpaint evaluate``."""
    q = add_command(targets, "curves", _cmd_evaluate_curves,
                    "a long run's snapshots on both axes (C2ST AUC, dlib margin) against training batches")
    q.add_argument("run", help="training run folder (trained with trainer.snapshot_every > 0)")
    q.add_argument("--stage", default="ca_gan", help="the stage whose snapshots are scored (default ca_gan)")
    q.add_argument("--every", type=int, default=1, help="score every N-th snapshot (and always the last)")
    add_recognizers(q, ["dlib"], help="the one independent recognizer whose margin is drawn")
    q.add_argument("--baselines", nargs="*", default=["telea", "ca_id"], metavar="FILLER",
                   help="reference fillers scored on the same crops (default telea ca_id: the shipped pair)")
    q.add_argument("--gallery", type=int, default=0, metavar="N",
                   help="also draw N held-out faces with the baselines and the first, middle and last snapshot")
    q.add_argument("--figures", default=None, metavar="DIR", help="where the figure goes (default figures/)")

    q = add_command(targets, "retention", _cmd_evaluate_retention,
                    "identity kept after occlusion + fill, on training splits' held-out crops")
    add_recognizers(q, ["dlib"])
    q.add_argument("--fillers", nargs="+", default=["none", "telea", "ca_id"],
                   help="fillers, or FILL:FILLER (gray:none = the gray-filled face); ca / ca_id use each half's model")
    q.add_argument("--models", nargs="*", default=None,
                   help="LABEL=FOLDER with idinpainter_cpu_half{A,B}.pt (default: the shipped pair); "
                        "several give ca_id@LABEL columns")
    q.add_argument("--compare", nargs="*", default=[], help="METHOD,BASELINE labels compared face by face")
    q.add_argument("--halves", nargs="+", choices=HALVES, default=["A", "B"], metavar="HALF",
                   help="LFW halves (%(choices)s), each scored with its own model on its validation crops")
    add_regions(q)
    q.add_argument("--val-images", type=int, default=64, help="the training split's data.val_images")
    q.add_argument("--seed", type=int, default=0, help="the training split's seed")
    add_lfw_options(q, "results/retention", folds=False)
    q.add_argument("--plot", nargs="*", default=None, help="labels drawn in the figures (default all)")
    q.add_argument("--gallery", type=int, default=0, metavar="N",
                   help="also draw N held-out faces (hardest three regions) with every filler and its realism")

    q = add_command(targets, "tsne", _cmd_evaluate_tsne,
                    "t-SNE of clean / occluded / filled embeddings with silhouette and NC accuracy",
                    root_option="--aligned")
    add_recognizers(q, ["sface"])
    q.add_argument("--dataset", choices=("lfw", "facescrub"), default="lfw", help="whose faces to map")
    add_aligned(q, "--root", help="aligned folder of the dataset (default: data/lfw-112 / registry)")
    add_option(q, "--specs", "--spec", nargs="+", default=["region:two_eyes@black"], metavar="SPEC",
               help="occlusion specs of the occluded condition (default region:two_eyes@black)")
    add_fillers(q, default=["telea", "mean_face"], help="fillers to map besides none: %(choices)s")
    q.add_argument("--people", type=int, default=12, help="how many people")
    q.add_argument("--images", type=int, default=20, help="images per person")
    q.add_argument("--min-images", type=int, default=20, help="only people with at least this many images")
    q.add_argument("--seed", type=int, default=0, help="choice of people/images, occlusion and t-SNE seed")
    q.add_argument("--projector-thumbnail", type=int, default=32, metavar="PX",
                   help="side of the face thumbnails in the TensorBoard projector log written to "
                        "<output>/projector/ (0: no projector log); open it with "
                        "`tensorboard --logdir <output>/projector`, PROJECTOR tab (default 32)")
    add_output_dir(q, default="results/tsne")
    add_figures(q)


def _cmd_evaluate_curves(args) -> int:
    """Score a run's EMA snapshots on its held-out validation crops; writes <run>/<stage>/curves.csv
    and the figure curves_<run folder name>_<stage> (PNG + PDF)."""
    from idinpaint.evaluation.curves import learning_curves, snapshot_gallery
    from idinpaint.figures import run_curves_figure, snapshot_gallery_figure

    if len(args.recognizers) != 1:
        raise CLIError(f"--recognizers: curves draw one recognizer's margin, got {' '.join(args.recognizers)}")
    rows = learning_curves(args.run, args.stage, recognizer=args.recognizers[0], every=args.every,
                           baselines=args.baselines)
    written = run_curves_figure(rows, args.run, args.stage, args.figures, recognizer=args.recognizers[0])
    if args.gallery:
        shown = snapshot_gallery(args.run, args.stage, faces=args.gallery, baselines=args.baselines)
        written += snapshot_gallery_figure(shown, args.run, args.stage, args.figures)
    shown = [r for r in rows if r["region"] == "mean"]
    for row in shown:
        print(f"{row['label']:>10} {str(row['batches']):>6}  C2ST {row['c2st_auc']:.3f}  margin {row['margin']:.4f}")
    print(f"wrote {Path(args.run) / args.stage / 'curves.csv'}, {', '.join(str(p) for p in written)}")
    return 0


def _cmd_evaluate_retention(args) -> int:
    """Mean cosine between a recognizer's embeddings of the filled and the clean face, per region,
    on the validation crops `idinpaint train --half H` holds out (people in neither the model's
    training set nor its test pairs): for decisions the test pairs must not make. Writes
    <output>/retention.json/.md."""
    from idinpaint.data.lfw import default_aligned_root
    from idinpaint.evaluation.runners import retention_run
    from idinpaint.figures import retention_figures

    aligned = require_aligned(args.aligned or default_aligned_root())
    bad = [item for item in args.models or [] if "=" not in item]
    if bad:
        raise CLIError(f"--models: takes LABEL=FOLDER items, got {bad[0]!r}")
    compare = [tuple(item.split(",", 1)) for item in args.compare]
    bad = [item for item, pair in zip(args.compare, compare) if len(pair) != 2]
    if bad:
        raise CLIError(f"--compare: takes METHOD,BASELINE items, got {bad[0]!r}")
    check_pairs(args)
    check_outputs(args, output="folder", figures="folder")
    result = retention_run(args.recognizers, args.fillers, args.halves,
                           dict(item.split("=", 1) for item in args.models) if args.models else None, compare,
                           args.regions, args.val_images, args.seed, aligned, args.lfw_root, args.output, args.gallery,
                           args.workers)
    print(result["markdown"])
    written = retention_figures(result, args.recognizers, args.plot, args.figures)
    print(f"wrote {', '.join(str(p) for p in result['paths'] + written)}")
    return 0


def _cmd_evaluate_tsne(args) -> int:
    """Embed a fixed set of people (default: LFW people with >= 20 crops) clean, occluded and
    filled; writes results/tsne/<stem>.json/.npz and a t-SNE figure whose panel titles give
    silhouette (cosine) and leave-one-out nearest-centroid accuracy, for each recognizer and spec.
    Also writes the same faces for TensorBoard's embedding projector to <output>/projector/<stem>/
    (embeddings, face thumbnails, labels person / condition / region / fill / filler): open it with
    `tensorboard --logdir results/tsne/projector` (or your --output + /projector), PROJECTOR tab,
    and colour by condition or person."""
    from idinpaint.evaluation.runners import tsne_runs
    from idinpaint.figures import tsne_figure

    check_outputs(args, output="folder", figures="folder")
    if args.projector_thumbnail < 0:
        raise CLIError(f"--projector-thumbnail {args.projector_thumbnail}: give a size in pixels, or 0 for no log")
    for record in tsne_runs(args.recognizers, args.specs, args.fillers, args.dataset, args.aligned, args.people,
                            args.images, args.min_images, args.seed, args.projector_thumbnail, args.output):
        for condition in record["conditions"]:
            print(f"{condition.name:10s} silhouette {condition.silhouette:6.3f}  "
                  f"nearest-centroid accuracy {100 * condition.nc_accuracy:6.2f} %")
        figures = tsne_figure(record, args.dataset, args.figures)
        print(f"wrote {record['paths'][0]} and {figures[0]}")
        if record["projector"]:
            print(f"projector log {record['projector']}: `tensorboard --logdir {record['projector_dir']}`, "
                  "PROJECTOR tab")
    return 0
