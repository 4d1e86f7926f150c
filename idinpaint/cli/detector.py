"""``idinpaint detector train | evaluate | protocol | real``: the O-Detector, finding the occluder on an
aligned crop."""
from __future__ import annotations

import argparse

from idinpaint.cli._common import (
    HALVES,
    add_aligned,
    add_command,
    add_figures,
    add_lfw_root,
    add_output_dir,
    add_recipe,
    check_inputs,
    check_outputs,
    override_arg,
    recipe_of,
)


def add_parser(commands) -> None:
    p = commands.add_parser("detector", help="the O-Detector: train it, measure it per occluder family")
    actions = p.add_subparsers(dest="action", required=True)

    q = add_command(actions, "train", _cmd_detector_train,
                    "train the O-Detector of each LFW half on synthetic composites", root_option="--lfw-root")
    _add_recipe(q)
    q.add_argument("--halves", nargs="+", choices=HALVES, default=["A", "B"], metavar="HALF",
                   help="LFW halves (%(choices)s); the detector of half A trains on half B's people + the unpaired")
    add_aligned(q, help="aligned LFW crops to train on (default: the recipe's data.root)")
    add_lfw_root(q)
    add_output_dir(q, default="results/detector/<recipe>", help="run folders (<output>/half<H>/)")
    q.add_argument("--export-dir", default=None, metavar="DIR",
                   help="also copy odetector_<recipe>_half<H>.pt + card here (default: the --output folder; "
                        "checkpoints/ for the shipped pair)")
    q.add_argument("--set", nargs="+", type=override_arg, default=[], metavar="KEY=VALUE",
                   help="override the training recipe, e.g. --set stages.detector.steps=200 "
                        "trainer.max_minutes=null detector.faces=500")

    q = add_command(actions, "evaluate", _cmd_detector_evaluate,
                    "IoU, Dice, precision, recall per occluder family (held-out ones marked) and clean-face "
                    "false alarms, on each half's test people", root_option="--lfw-root")
    _add_recipe(q)
    q.add_argument("--detector-dir", default=None, metavar="DIR",
                   help="folder with odetector_<recipe>_half{A,B}.pt (default: $IDINPAINT_DETECTOR_DIR, or "
                        "checkpoints/ for cpu and results/detector/<recipe> otherwise)")
    q.add_argument("--halves", nargs="+", choices=HALVES, default=["A", "B"], metavar="HALF",
                   help="LFW halves to measure on (%(choices)s), each with its own detector")
    q.add_argument("--faces", type=int, default=None,
                   help="crops per half and family (default: the recipe's detector.eval.faces)")
    add_aligned(q, help="aligned LFW crops (default: the recipe's data.root)")
    add_lfw_root(q)
    add_output_dir(q, default="results/detector", help="where generalisation_<recipe>.json/.md go")
    add_figures(q)

    q = add_command(actions, "protocol", _cmd_detector_protocol,
                    "IoU, Dice, precision, recall of the predicted mask on the protocol's own occlusions of the "
                    "test pairs (what `evaluate occluded --masks predicted` hands the fillers)",
                    root_option="--lfw-root")
    q.add_argument("--specs", nargs="+", required=True, type=_spec_arg, metavar="SPEC",
                   help="occlusion specs as `evaluate occluded` takes them, e.g. region:center_block@texture "
                        "maskthface:KN95")
    q.add_argument("--folds", type=int, nargs="*", default=None, help="only these folds (1..10)")
    q.add_argument("--detector-dir", default=None, metavar="DIR",
                   help="folder with odetector_cpu_half{A,B}.pt (default: $IDINPAINT_DETECTOR_DIR or checkpoints/)")
    add_aligned(q, help="aligned LFW crops (default data/lfw-112)")
    add_lfw_root(q)
    add_output_dir(q, default="results/detector", help="where protocol_masks.json/.md go")

    q = add_command(actions, "real", _cmd_detector_real,
                    "what the shipped pair marks on LFW's really occluded photos (a list checked by eye) and on as "
                    "many clean ones", root_option="--lfw-root")
    q.add_argument("--list", default=None, metavar="YAML",
                   help="the photos (default: the shipped idinpaint/data/real_occlusions.yaml)")
    q.add_argument("--detector-dir", default=None, metavar="DIR",
                   help="folder with odetector_cpu_half{A,B}.pt (default: $IDINPAINT_DETECTOR_DIR or checkpoints/)")
    add_aligned(q, help="aligned LFW crops (default data/lfw-112; listed photos missing there are aligned from raw "
                        "LFW into the cache)")
    add_lfw_root(q)
    add_output_dir(q, default="results/detector", help="where real_occlusions.json/.md go")
    add_figures(q)


def _add_recipe(parser) -> None:
    add_recipe(parser, "smoke", help="the detector's training recipe (detector_<recipe> of config/train.yaml): smoke "
                                     "(CI, minutes) or cpu (the shipped pair)")
    parser.add_argument("--config", default=None, help="training YAML (default config/train.yaml)")


def _spec_arg(text: str) -> str:
    from idinpaint.occlusion import canonical_spec

    try:
        return canonical_spec(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _cmd_detector_train(args) -> int:
    """Train the O-Detector of each half (the detector_<recipe> training recipe, Lightning); writes a
    run folder per half, <output>/half<H>/, and odetector_<recipe>_half<H>.pt with its JSON card into
    --export-dir. Re-running the same command resumes."""
    from idinpaint.config import DETECTOR_RECIPE, TRAIN_CONFIG, load_training_config, parse_overrides

    check_inputs(args, "--config")
    check_outputs(args, output="folder", export_dir="folder")
    recipe = recipe_of(args)
    overrides = parse_overrides(args.set)
    # the recipe and every --set key, checked before Lightning and torch are imported
    load_training_config(args.config or TRAIN_CONFIG, DETECTOR_RECIPE.format(recipe), overrides)
    from idinpaint.training.pairs import train_detector_pair

    results = train_detector_pair(recipe, args.halves, aligned_root=args.aligned, lfw_root=args.lfw_root,
                                  output=args.output, export_dir=args.export_dir,
                                  overrides=overrides, config_path=args.config or TRAIN_CONFIG)
    for result in results:
        record, val = result["record"], result["record"].get("val_metrics") or {}
        print(f"half {result['half']}: {record['seconds'] / 60:.1f} min, {record['batches']} batches "
              f"({record.get('images_per_second')} crops/s), {result['parameters']:,} parameters, "
              f"{result['bytes'] / 1e6:.2f} MB; validation IoU {val.get('val/iou', float('nan')):.3f}, "
              f"clean-face predicted area {100 * val.get('val/clean_pred_area', float('nan')):.2f} %")
        print(f"  wrote {', '.join(result['files'])}")
    return 0


def _cmd_detector_evaluate(args) -> int:
    """The generalisation table: each occluder family (held-out ones marked) on crops of each half's
    test people, scored by that half's detector; clean faces give the false-alarm area. Writes
    <output>/generalisation_<recipe>.json/.md and the figure detector_examples_<recipe> (crop |
    truth | prediction per family)."""
    from idinpaint.config import TRAIN_CONFIG

    check_outputs(args, output="folder", figures="folder")
    recipe = recipe_of(args)
    from idinpaint.evaluation.detector import example_tiles, generalisation_report
    from idinpaint.figures import detector_examples_figure

    report = generalisation_report(recipe, args.halves, aligned_root=args.aligned, lfw_root=args.lfw_root,
                                   faces=args.faces, output=args.output, detector_dir=args.detector_dir,
                                   config_path=args.config or TRAIN_CONFIG)
    tiles, titles = example_tiles({family: shown[:1] for family, shown in report["examples"].items()})
    figures = detector_examples_figure(tiles, titles, f"detector_examples_{recipe}", args.figures)
    print(report["markdown"], end="")
    print(f"wrote {', '.join(map(str, report['paths']))} and {figures[0]}")
    return 0


def _cmd_detector_protocol(args) -> int:
    """How much of the protocol's true hole the shipped detector pair finds, on every distinct
    second image of the test pairs, each crop by the detector that never saw its person. Writes
    <output>/protocol_masks.json/.md."""
    check_outputs(args, output="folder")
    from idinpaint.evaluation.detector import protocol_masks_report

    report = protocol_masks_report(args.specs, args.folds, aligned_root=args.aligned, lfw_root=args.lfw_root,
                                   output=args.output, detector_dir=args.detector_dir)
    print(report["markdown"], end="")
    print(f"wrote {' and '.join(map(str, report['paths']))}")
    return 0


def _cmd_detector_real(args) -> int:
    """The marked share of every listed photo, really occluded or clean, each crop by the detector that
    never saw its person; writes <output>/real_occlusions.json/.md and the figure detector_real_occlusions."""
    check_outputs(args, output="folder", figures="folder")
    from idinpaint.evaluation.detector import real_occlusions_report
    from idinpaint.figures import real_occlusions_figure

    report = real_occlusions_report(aligned_root=args.aligned, lfw_root=args.lfw_root, output=args.output,
                                    detector_dir=args.detector_dir, listing_path=args.list)
    figures = real_occlusions_figure(report, folder=args.figures)
    print(report["markdown"], end="")
    if report["missing"]:
        print(f"no aligned crop (no face found) for {len(report['missing'])}: {', '.join(report['missing'])}")
    print(f"wrote {', '.join(map(str, report['paths']))} and {figures[0]}")
    return 0
