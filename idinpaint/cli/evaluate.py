"""``idinpaint evaluate lfw | occluded | report``: the protocol's scores, tables and figures; ``reference``
is in :mod:`idinpaint.cli.reference`, ``curves``, ``retention`` and ``tsne`` in
:mod:`idinpaint.cli.evaluate_models`."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from idinpaint.cli import evaluate_models, reference
from idinpaint.cli._common import (
    FILLS,
    CLIError,
    add_command,
    add_figures,
    add_fillers,
    add_lfw_options,
    add_output_file,
    add_recognizers,
    add_regions,
    check_outputs,
    check_pairs,
    require_aligned,
)

def add_parser(commands) -> None:
    p = commands.add_parser("evaluate", help="verification on LFW View-2")
    targets = p.add_subparsers(dest="target", required=True)
    reference.add_parser(targets)

    q = add_command(targets, "lfw", _cmd_evaluate_lfw, "clean LFW 10-fold verification")
    add_recognizers(q, ["sface"])
    add_lfw_options(q, "results/lfw_clean")
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
                help="fillers: %(choices)s (default: none telea mean_face; none is always included: the occluded "
                     "baseline of the recovery ratio). Add CA and CA + ID, the shipped inpainters, with --fillers "
                     "none telea mean_face ca ca_id (each crop filled by the model of the LFW half that never saw "
                     "its person; slower on a CPU)")
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
    add_lfw_options(q, "results/lfw_occluded")

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
    evaluate_models.add_targets(targets)

def _cmd_evaluate_lfw(args) -> int:
    """Score every View-2 pair of the aligned crops with each recognizer; writes
    <output>/<recognizer>.json (10-fold result and the best-accuracy threshold on all the pairs) and a
    ROC figure per recognizer; --thresholds-file also writes the thresholds together, for `recover`."""
    from idinpaint.data.lfw import default_aligned_root

    aligned = require_aligned(args.aligned or default_aligned_root())
    check_pairs(args)
    # For one release, the old `--output FILE.json` still names the one recognizer's file itself.
    output_file = args.output if args.output and Path(args.output).suffix == ".json" else None
    if output_file and len(args.recognizers) > 1:
        raise CLIError(f"--output {args.output}: give a folder (it gets <recognizer>.json for each recognizer)")
    check_outputs(args, output="file" if output_file else "folder", figures="folder", thresholds_file="file")
    from idinpaint.evaluation.runners import clean_runs, folds_suffix
    from idinpaint.figures import clean_roc_figure

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
    radar and similarity-gap figures. By default the fillers are none, telea and mean_face; CA and
    CA + ID run with --fillers none telea mean_face ca ca_id. --masks predicted gives every filler the
    O-Detector's mask instead of the oracle one. Run again, it reuses the conditions already in the
    cache (and says how many); Ctrl-C says how many conditions were done. Exit status 1 when a
    condition failed (the others are still written)."""
    from idinpaint.data.lfw import default_aligned_root

    aligned = require_aligned(args.aligned or default_aligned_root())
    check_pairs(args)
    check_outputs(args, output="folder", figures="folder")
    from idinpaint.evaluation.protocol import protocol_specs
    from idinpaint.evaluation.report import format_table
    from idinpaint.evaluation.runners import occluded_run
    from idinpaint.figures import occluded_report_figures

    try:
        protocol_specs(args.regions, args.fills)
    except ValueError as err:
        raise CLIError(f"--regions: {err}") from None
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
    from idinpaint.evaluation.runners import report_text, runs_suffix
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


