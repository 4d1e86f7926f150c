"""``idinpaint evaluate lfw | occluded | report | retention | tsne``: scores, tables and figures."""
from __future__ import annotations

import sys
import time
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
    _add_lfw_options(q, "results/lfw_occluded")

    q = add_command(targets, "curves", _cmd_evaluate_curves,
                    "a long run's snapshots on both axes (C2ST AUC, dlib margin) against training batches")
    q.add_argument("run", help="training run folder (trained with trainer.snapshot_every > 0)")
    q.add_argument("--stage", default="ca_gan", help="the stage whose snapshots are scored (default ca_gan)")
    q.add_argument("--every", type=int, default=1, help="score every N-th snapshot (and always the last)")
    q.add_argument("--recognizer", default="dlib", help="the independent recognizer of the margin (default dlib)")
    q.add_argument("--baselines", nargs="*", default=["telea", "ca_id"], metavar="FILLER",
                   help="reference fillers scored on the same crops (default telea ca_id: the shipped pair)")
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


def _recognizer(name: str, workers: int = 1):
    """dlib's ResNet is single-threaded: spread it over worker processes; SFace uses torch threads."""
    from idinpaint.recognizers import get_recognizer

    return get_recognizer(name, workers=workers) if name == "dlib" else get_recognizer(name)


def _check_pairs(args) -> None:
    """A missing or broken pairs.txt fails here, before any recognizer or model is loaded."""
    from idinpaint.data.lfw import load_pairs

    load_pairs(args.lfw_root, getattr(args, "folds", None))


def _folds_suffix(folds) -> str:
    return "" if not folds else "_folds" + "-".join(map(str, folds))


def _cmd_evaluate_lfw(args) -> int:
    """Score every View-2 pair of the aligned crops with each recognizer; writes
    <output>/<recognizer>.json (10-fold result and the best-accuracy threshold on all the pairs) and a
    ROC figure per recognizer; --thresholds-file also writes the thresholds together, for `recover`."""
    from idinpaint.data.lfw import default_aligned_root
    from idinpaint.evaluation.clean import evaluate_clean
    from idinpaint.evaluation.thresholds import threshold_entry, write_thresholds
    from idinpaint.figures import plot_roc, save_figure
    from idinpaint.paths import results_dir
    from idinpaint.runinfo import provenance, write_json

    aligned = require_aligned(args.aligned or default_aligned_root())
    _check_pairs(args)
    # For one release, the old `--output FILE.json` still names the one recognizer's file itself.
    output_file = args.output if args.output and Path(args.output).suffix == ".json" else None
    if output_file and len(args.recognizers) > 1:
        raise CLIError(f"--output {args.output}: give a folder (it gets <recognizer>.json for each recognizer)")
    check_outputs(args, output="file" if output_file else "folder", figures="folder", thresholds_file="file")
    best = {}
    for name in args.recognizers:
        started = time.time()
        recognizer = _recognizer(name, args.workers)
        result, scores, pairs = evaluate_clean(recognizer, aligned, args.lfw_root, args.folds)
        seconds = time.time() - started
        print(f"LFW clean, {name}, {result.pairs} pairs: {result.line()}")
        labels = [p.same for p in pairs]
        best[name] = threshold_entry(scores, labels)
        print(f"  best-accuracy threshold on all {best[name]['pairs']} pairs: cosine {best[name]['threshold']:.4f} "
              f"({100 * best[name]['accuracy']:.2f} %)")
        extra = {"dlib_fallback_boxes": recognizer.fallbacks} if hasattr(recognizer, "fallbacks") else {}
        output = Path(output_file or Path(args.output or results_dir() / "lfw_clean") / f"{name}.json")
        write_json(output, {**provenance({"recognizer": name, "aligned": str(aligned), "folds": args.folds}),
                            "seconds": round(seconds, 1), "result": result.as_dict(), "best_threshold": best[name],
                            **extra})
        fig = plot_roc({f"{name} clean": (scores, labels)}, title=f"LFW clean, {name}")
        figures = save_figure(fig, f"roc_lfw_clean_{name}{_folds_suffix(args.folds)}", args.figures)
        print(f"wrote {output} and {figures[0]}")
    if args.thresholds_file:
        print(f"wrote {write_thresholds(args.thresholds_file, best, aligned)}")
    return 0


def _cmd_evaluate_occluded(args) -> int:
    """Occlude the second image of every View-2 pair in memory, fill it, and score; writes
    <output>/lfw_occluded_<recognizers>[_foldsN][_predicted].csv/.json/_scores.npz and ROC-per-region,
    radar and similarity-gap figures. --masks predicted gives every filler the O-Detector's mask
    instead of the oracle one. Exit status 1 when a condition failed (the others are still written)."""
    from idinpaint.data.lfw import default_aligned_root
    from idinpaint.evaluation.protocol import evaluate_conditions, protocol_specs
    from idinpaint.evaluation.report import format_table
    from idinpaint.figures import occluded_report_figures
    from idinpaint.paths import results_dir

    aligned = require_aligned(args.aligned or default_aligned_root())
    try:
        specs, baseline_only = protocol_specs(args.regions, args.fills)
    except ValueError as err:
        raise CLIError(f"--regions: {err}") from None
    _check_pairs(args)
    check_outputs(args, output="folder", figures="folder")
    specs += list(args.specs or [])
    suffix = _folds_suffix(args.folds) + ("_predicted" if args.masks == "predicted" else "")
    detector = None
    if args.masks == "predicted":
        from idinpaint.data.lfw import load_pairs
        from idinpaint.detection import get_detector

        detector = get_detector(folder=args.detector_dir, pairs=load_pairs(args.lfw_root))
    output = Path(args.output or results_dir() / "lfw_occluded")
    recognizers_tag = "-".join(args.recognizers)
    stem = f"lfw_occluded_{recognizers_tag}{suffix}"
    recognizers = [_recognizer(name, args.workers) for name in args.recognizers]
    results = evaluate_conditions(recognizers, specs, args.fillers, aligned, folds=args.folds,
                                  lfw_root=args.lfw_root, output_dir=output, stem=stem,
                                  mean_face_count=args.mean_face_count, baseline_only=baseline_only,
                                  masks=args.masks, detector=detector)
    print(format_table(results))
    written = occluded_report_figures(results, f"{recognizers_tag}", suffix, args.figures)
    print(f"wrote {', '.join(str(p) for p in results.paths)}")
    if written:
        print(f"figures (PNG + PDF): {', '.join(str(p) for p in written)}")
    if results.failures:
        print(f"{len(results.failures)} condition(s) failed:", file=sys.stderr)
        for row in results.failures:
            print(f"  {row['condition']}: {row['error']}", file=sys.stderr)
        return 1
    return 0


def _load_runs(runs):
    """Saved runs (FOLDER/STEM, a bare STEM in results/lfw_occluded/, STEM:OLD=NEW renames) combined."""
    from idinpaint.evaluation.results import combine_results, load_results, rename_filler
    from idinpaint.paths import results_dir

    parts = []
    for run in runs:
        run, _, renames = run.partition(":")  # RUN:OLD=NEW,... renames that run's fillers
        path = Path(run)
        if not path.is_absolute() and not path.parent.parts:
            path = results_dir() / "lfw_occluded" / path  # a bare stem: the default results folder
        json_path = path.with_name(path.name + ".json")
        if not json_path.is_file():
            raise CLIError(f"{json_path}: no such saved run (write it with `idinpaint evaluate occluded`)")
        part = load_results(path.parent, path.name)
        for rename in filter(None, renames.split(",")):
            old_name, equals, new_name = rename.partition("=")
            if not (old_name and equals and new_name):
                raise CLIError(f"{json_path}: {run}: rename {rename!r} is not OLD=NEW")
            try:
                part = rename_filler(part, old_name, new_name)
            except ValueError as err:
                raise CLIError(f"{json_path}: {err}") from None
        parts.append(part)
    return combine_results(*parts)


def _mask_cost_section(oracle, predicted) -> str:
    from idinpaint.evaluation.report import mask_cost_table

    parts = []
    for recognizer in dict.fromkeys(row["recognizer"] for row in predicted):
        try:
            table = mask_cost_table(oracle, predicted, recognizer)
        except ValueError as err:
            raise CLIError(f"--predicted: {err}") from None
        parts += [f"\n**{recognizer}: predicted minus oracle mask** (accuracy %, paired over the 10 folds, "
                  "exact sign-flip p)\n", table]
    return "\n".join(parts) + "\n"


def _cmd_evaluate_report(args) -> int:
    """Combine saved `evaluate occluded` runs (later runs win for a condition in several) and print
    the README's tables: accuracy and similarity gap per region and method, the headline means, and
    the method against each baseline with an exact sign-flip test over the 10 folds."""
    from idinpaint.evaluation.report import results_report
    from idinpaint.runinfo import write_text

    results = _load_runs(args.runs)
    predicted = _load_runs(args.predicted) if args.predicted else None
    check_outputs(args, output_file="file", figures="folder")
    text = results_report(results, args.method, args.baselines)
    if predicted is not None:
        text += _mask_cost_section(results, predicted)
    if args.output_file:
        write_text(Path(args.output_file), text)
        print(f"wrote {args.output_file}")
    else:
        print(text, end="")
    if args.figures:
        from idinpaint.figures import report_figures

        written = report_figures(results, args.figures)
        print(f"figures (PNG + PDF): {', '.join(str(p) for p in written)}")
    return 0


def _cmd_evaluate_curves(args) -> int:
    """Score a run's EMA snapshots on its held-out validation crops; writes <run>/<stage>/curves.csv
    and the figure curves_<run folder name>_<stage> (PNG + PDF)."""
    from idinpaint.figures import draw_learning_curves

    rows, written = draw_learning_curves(args.run, args.stage, recognizer=args.recognizer, every=args.every,
                                         baselines=args.baselines, folder=args.figures)
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
    from idinpaint.evaluation.retention import run_retention
    from idinpaint.figures import filler_comparison, plot_identity_retention, save_figure
    from idinpaint.paths import results_dir

    aligned = require_aligned(args.aligned or default_aligned_root())
    bad = [item for item in args.models or [] if "=" not in item]
    if bad:
        raise CLIError(f"--models: takes LABEL=FOLDER items, got {bad[0]!r}")
    model_dirs = dict(item.split("=", 1) for item in args.models) if args.models else None
    compare = [tuple(item.split(",", 1)) for item in args.compare]
    bad = [item for item, pair in zip(args.compare, compare) if len(pair) != 2]
    if bad:
        raise CLIError(f"--compare: takes METHOD,BASELINE items, got {bad[0]!r}")
    _check_pairs(args)
    check_outputs(args, output="folder", figures="folder")
    regions = None if "all" in args.regions else args.regions
    recognizers = [_recognizer(name, args.workers) for name in args.recognizers]
    kwargs = {} if regions is None else {"regions": regions}
    result = run_retention(recognizers, args.fillers, args.halves, model_dirs, compare=compare,
                           val_images=args.val_images, seed=args.seed, aligned_root=aligned,
                           lfw_root=args.lfw_root, output_dir=args.output or results_dir() / "retention",
                           gallery=args.gallery, **kwargs)
    print(result["markdown"])
    stem = Path(result["paths"][0]).parent.name
    written = []
    for recognizer in args.recognizers:
        mine = [r for r in result["rows"] if r["recognizer"] == recognizer]
        for measure in ("retention", "margin"):
            fig = plot_identity_retention(mine, f"Identity {measure} on held-out validation crops ({recognizer})", measure,
                                          fillers=args.plot or None)
            written += save_figure(fig, f"{measure}_{stem}_{recognizer}", args.figures)
    if "gallery" in result:  # held-out faces: ground truth | occluded | each filler, realism under each
        shown = result["gallery"]
        fig = filler_comparison(shown["faces"], shown["regions"], list(shown["fillers"].values()),
                                relatives=shown["relatives"], realism=True, labels=list(shown["fillers"]), size=1.0)
        written += save_figure(fig, f"gallery_{stem}", args.figures)
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
    from idinpaint.evaluation.tsne import load_subjects, run_tsne, write_projector, write_tsne
    from idinpaint.figures import plot_tsne_panels, save_figure
    from idinpaint.occlusion import canonical_spec
    from idinpaint.paths import results_dir

    check_outputs(args, output="folder", figures="folder")
    if args.projector_thumbnail < 0:
        raise CLIError(f"--projector-thumbnail {args.projector_thumbnail}: give a size in pixels, or 0 for no log")
    subjects = load_subjects(args.dataset, args.aligned, min_images=args.min_images, max_people=args.people,
                             images_per_person=args.images, seed=args.seed)
    output = Path(args.output or results_dir() / "tsne")
    for recognizer in args.recognizers:
        for spec in map(canonical_spec, args.specs):
            conditions = run_tsne(recognizer, subjects, spec, args.fillers, seed=args.seed,
                                  thumbnails=args.projector_thumbnail)
            for condition in conditions:
                print(f"{condition.name:10s} silhouette {condition.silhouette:6.3f}  "
                      f"nearest-centroid accuracy {100 * condition.nc_accuracy:6.2f} %")
            slug = "".join(c if c.isalnum() else "-" for c in spec)
            stem = f"tsne_{args.dataset}_{recognizer}_{slug}"
            config = {"dataset": args.dataset, "recognizer": recognizer, "spec": spec, "fillers": args.fillers,
                      "people": args.people, "images": args.images, "min_images": args.min_images, "seed": args.seed}
            paths = write_tsne(conditions, subjects, output, stem, config)
            fig = plot_tsne_panels(conditions, subjects.names,
                                   title=f"t-SNE of {recognizer} embeddings, {args.dataset}, {spec}")
            figures = save_figure(fig, stem, args.figures)
            print(f"wrote {paths[0]} and {figures[0]}")
            if args.projector_thumbnail:
                log = write_projector(conditions, subjects, output / "projector", stem)
                print(f"projector log {log}: `tensorboard --logdir {output / 'projector'}`, PROJECTOR tab")
    return 0
