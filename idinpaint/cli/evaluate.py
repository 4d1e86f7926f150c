"""``idinpaint evaluate lfw | occluded | report | retention | tsne``: scores, tables and figures."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from idinpaint.cli._common import (
    FILLS,
    HALVES,
    CLIError,
    add_aligned,
    add_command,
    add_figures,
    add_fillers,
    add_lfw_root,
    add_option,
    add_output_dir,
    add_output_file,
    add_recognizers,
    add_regions,
    add_workers,
    check_outputs,
    require_aligned,
)


def add_parser(commands) -> None:
    p = commands.add_parser("evaluate", help="verification on LFW View-2")
    targets = p.add_subparsers(dest="target", required=True)

    q = add_command(targets, "lfw", _cmd_evaluate_lfw, "clean LFW 10-fold verification")
    add_recognizers(q, ["sface"])
    _add_lfw_options(q, "results/lfw_clean")
    q.add_argument("--thresholds-file", default=None, metavar="FILE",
                   help="also write each recognizer's best-accuracy threshold on these pairs here (what `recover` "
                        "uses; the shipped one is checkpoints/recognizer_thresholds.json)")

    q = add_command(targets, "occluded", _cmd_evaluate_occluded,
                    "LFW with occluded (and filled) second images, per region and filler")
    add_recognizers(q, ["sface"])
    add_regions(q)
    q.add_argument("--fills", nargs="+", choices=FILLS, default=["black"], metavar="FILL",
                   help="hole fills (%(choices)s); every region is occluded with each; fillers (which never read "
                        "the hole) run on the first fill only")
    add_fillers(q, default=["none", "telea", "mean_face"],
                help="fillers: %(choices)s (none is always included: the occluded baseline of the recovery ratio)")
    q.add_argument("--specs", nargs="*", default=[], metavar="SPEC",
                   help="extra occlusion specs, e.g. maskthface:surgical random_block:48@gray")
    q.add_argument("--mean-face-count", type=int, default=300, help="non-pair crops the mean face is fitted on")
    q.add_argument("--masks", choices=("oracle", "predicted"), default="oracle",
                   help="the mask each filler gets: oracle (the occlusion's exact hole) or predicted (the O-Detector's "
                        "on the occluded crop, each crop by the LFW-half detector that never saw its person); "
                        "predicted runs are saved as <stem>_predicted")
    q.add_argument("--detector-dir", default=None, metavar="DIR",
                   help="with --masks predicted: folder with odetector_cpu_half{A,B}.pt (default: "
                        "$IDINPAINT_DETECTOR_DIR or checkpoints/)")
    q.add_argument("--cluster", nargs="?", const="local", default=os.environ.get("DASK_SCHEDULER_ADDRESS"),
                   metavar="ADDRESS",
                   help="run the conditions as tasks on a Dask cluster: a scheduler address (tcp://host:8786; "
                        "default $DASK_SCHEDULER_ADDRESS) or, with no address, a local cluster of --workers "
                        "single-threaded processes; the rows are those of a serial run (docs/cluster.md)")
    q.add_argument("--threads", type=int, default=None,
                   help="torch / OpenCV threads while a condition is filled and embedded (default: torch's; the "
                        "numbers do not depend on it)")
    _add_lfw_options(q, "results/lfw_occluded")

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

    q = add_command(targets, "report", _cmd_evaluate_report,
                    "markdown tables (accuracy, gap, headline, paired fold test) of saved runs")
    q.add_argument("runs", nargs="+", help="saved runs as FOLDER/STEM (e.g. results/lfw_occluded/lfw_occluded_dlib) "
                                           "or a bare STEM in results/lfw_occluded/; STEM:OLD=NEW renames a filler "
                                           "of that run (e.g. :ca_id=ca_id_v1, to compare two models)")
    q.add_argument("--method", default="ca_id", help="the filler judged against the baselines")
    q.add_argument("--baselines", nargs="+", default=["none", "gray:none", "telea", "donor"],
                   help="fillers on the same fill, or FILL:FILLER (gray:none = the gray-filled face)")
    q.add_argument("--predicted", nargs="+", default=[], metavar="RUN",
                   help="runs of the same conditions with --masks predicted (FOLDER/STEM_predicted): adds, per "
                        "recognizer, each filler's accuracy with the oracle and the predicted mask and the paired "
                        "fold test of the difference")
    add_output_file(q, help="write the markdown here instead of printing it")
    add_figures(q, help="also draw the combined runs' radar, ROC and similarity-gap figures per recognizer, and the "
                        "frontier (C2ST AUC against accuracy, both recognizers) into this folder (e.g. figures)")

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
    _add_lfw_options(q, "results/retention", folds=False)
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


def _add_lfw_options(parser, results: str, folds: bool = True) -> None:
    """Options every LFW evaluation subcommand shares."""
    if folds:
        parser.add_argument("--folds", type=int, nargs="*", default=None, help="only these folds (1..10)")
    add_aligned(parser)
    add_lfw_root(parser)
    add_output_dir(parser, default=results)
    add_figures(parser)
    add_workers(parser)


def _check_pairs(args) -> None:
    """A missing or broken pairs.txt fails here, before any recognizer or model is loaded."""
    from idinpaint.data.lfw import load_pairs

    load_pairs(args.lfw_root, getattr(args, "folds", None))


def _cmd_evaluate_lfw(args) -> int:
    """Score every View-2 pair of the aligned crops with each recognizer; writes
    <output>/<recognizer>.json (10-fold result and the best-accuracy threshold on all the pairs) and a
    ROC figure per recognizer; --thresholds-file also writes the thresholds together, for `recover`."""
    from idinpaint.data.lfw import default_aligned_root
    from idinpaint.evaluation.runners import clean_runs, folds_suffix
    from idinpaint.figures import clean_roc_figure

    aligned = require_aligned(args.aligned or default_aligned_root())
    _check_pairs(args)
    # For one release, the old `--output FILE.json` still names the one recognizer's file itself.
    output_file = args.output if args.output and Path(args.output).suffix == ".json" else None
    if output_file and len(args.recognizers) > 1:
        raise CLIError(f"--output {args.output}: give a folder (it gets <recognizer>.json for each recognizer)")
    check_outputs(args, output="file" if output_file else "folder", figures="folder", thresholds_file="file")
    done = clean_runs(args.recognizers, aligned, args.lfw_root, args.folds, None if output_file else args.output,
                      output_file, args.workers, args.thresholds_file)
    for run in done["runs"]:
        best = run["best_threshold"]
        print(f"LFW clean, {run['recognizer']}, {run['result'].pairs} pairs: {run['result'].line()}")
        print(f"  best-accuracy threshold on all {best['pairs']} pairs: cosine {best['threshold']:.4f} "
              f"({100 * best['accuracy']:.2f} %)")
        figures = clean_roc_figure(run, folds_suffix(args.folds), args.figures)
        print(f"wrote {run['path']} and {figures[0]}")
    if done["thresholds_file"]:
        print(f"wrote {done['thresholds_file']}")
    return 0


def _cmd_evaluate_occluded(args) -> int:
    """Occlude the second image of every View-2 pair in memory, fill it, and score; writes
    <output>/lfw_occluded_<recognizers>[_foldsN][_predicted].csv/.json/_scores.npz and ROC-per-region,
    radar and similarity-gap figures. --masks predicted gives every filler the O-Detector's mask
    instead of the oracle one. Exit status 1 when a condition failed (the others are still written)."""
    from idinpaint.data.lfw import default_aligned_root
    from idinpaint.evaluation.protocol import protocol_specs
    from idinpaint.evaluation.report import format_table
    from idinpaint.evaluation.runners import occluded_run
    from idinpaint.figures import occluded_report_figures

    aligned = require_aligned(args.aligned or default_aligned_root())
    try:
        protocol_specs(args.regions, args.fills)
    except ValueError as err:
        raise CLIError(f"--regions: {err}") from None
    _check_pairs(args)
    check_outputs(args, output="folder", figures="folder")
    results, tag, suffix = occluded_run(args.recognizers, args.regions, args.fills, args.fillers, args.specs, aligned,
                                        args.folds, args.lfw_root, args.output, args.mean_face_count, args.masks,
                                        args.detector_dir, args.workers, cluster=args.cluster, threads=args.threads)
    print(format_table(results))
    written = occluded_report_figures(results, tag, suffix, args.figures)
    print(f"wrote {', '.join(str(p) for p in results.paths)}")
    if written:
        print(f"figures (PNG + PDF): {', '.join(str(p) for p in written)}")
    if results.failures:
        print(f"{len(results.failures)} condition(s) failed:", file=sys.stderr)
        for row in results.failures:
            print(f"  {row['condition']}: {row['error']}", file=sys.stderr)
        return 1
    return 0


def _cmd_evaluate_report(args) -> int:
    """Combine saved `evaluate occluded` runs (later runs win for a condition in several) and print
    the README's tables: accuracy and similarity gap per region and method, the headline means, and
    the method against each baseline with an exact sign-flip test over the 10 folds."""
    from idinpaint.evaluation.runners import report_text
    from idinpaint.figures import report_figures
    from idinpaint.runinfo import write_text

    check_outputs(args, output_file="file", figures="folder")
    text, results = report_text(args.runs, args.method, args.baselines, args.predicted)
    if args.output_file:
        write_text(Path(args.output_file), text)
        print(f"wrote {args.output_file}")
    else:
        print(text, end="")
    if args.figures:
        written = report_figures(results, args.figures, suffix=runs_suffix(args.runs))
        print(f"figures (PNG + PDF): {', '.join(str(p) for p in written)}")
    return 0


def runs_suffix(runs) -> str:
    """The figure-name suffix saved runs share (``_folds1-10``, ``_predicted``: what their stems say
    after the recognizers), so that combining a subset of the folds does not overwrite the figures
    of the full protocol. Empty for full runs; runs with different suffixes give all of them."""
    found = []
    for run in runs:
        stem = Path(run).name
        for part in re.findall(r"_folds[0-9-]+|_predicted", stem):
            if part not in found:
                found.append(part)
    return "".join(found)


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
    _check_pairs(args)
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


