"""``idinpaint detector train | evaluate | protocol`` and ``idinpaint recover``: the O-Detector (finding the
occluder on an aligned crop) and the photo pipeline built on it (find, segment, fill, verify)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from idinpaint.cli._common import (
    HALVES,
    add_aligned,
    add_command,
    add_figures,
    add_lfw_root,
    add_output_dir,
    add_recognizers,
    check_outputs,
    override_arg,
)


def add_parser(commands) -> None:
    p = commands.add_parser("detector", help="the O-Detector: train it, measure it per occluder family")
    actions = p.add_subparsers(dest="action", required=True)

    q = add_command(actions, "train", _cmd_detector_train,
                    "train the O-Detector of each LFW half on synthetic composites", root_option="--lfw-root")
    _add_profile(q)
    q.add_argument("--halves", nargs="+", choices=HALVES, default=["A", "B"], metavar="HALF",
                   help="LFW halves (%(choices)s); the detector of half A trains on half B's people + the unpaired")
    add_aligned(q, help="aligned LFW crops to train on (default: the profile's data.root)")
    add_lfw_root(q)
    add_output_dir(q, default="results/detector/<profile>", help="run folders (<output>/half<H>/)")
    q.add_argument("--export-dir", default=None, metavar="DIR",
                   help="also copy odetector_<profile>_half<H>.pt + card here (default: the --output folder; "
                        "checkpoints/ for the shipped pair)")
    q.add_argument("--set", nargs="+", type=override_arg, default=[], metavar="KEY=VALUE",
                   help="override the detector config, e.g. --set train.steps=200 train.max_minutes=null")

    q = add_command(actions, "evaluate", _cmd_detector_evaluate,
                    "IoU, Dice, precision, recall per occluder family (held-out ones marked) and clean-face "
                    "false alarms, on each half's test people", root_option="--lfw-root")
    _add_profile(q)
    q.add_argument("--detector-dir", default=None, metavar="DIR",
                   help="folder with odetector_<profile>_half{A,B}.pt (default: $IDINPAINT_DETECTOR_DIR, or "
                        "checkpoints/ for cpu and results/detector/<profile> otherwise)")
    q.add_argument("--halves", nargs="+", choices=HALVES, default=["A", "B"], metavar="HALF",
                   help="LFW halves to measure on (%(choices)s), each with its own detector")
    q.add_argument("--faces", type=int, default=None,
                   help="crops per half and family (default: the profile's eval.faces)")
    add_aligned(q, help="aligned LFW crops (default: the profile's data.root)")
    add_lfw_root(q)
    add_output_dir(q, default="results/detector", help="where generalisation_<profile>.json/.md go")
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

    q = add_command(commands, "recover", _cmd_recover,
                    "find the occluder on a photo's face, fill it (Telea, CA, CA+ID), verify against a reference",
                    root_option="--lfw-root")
    q.add_argument("photo", help="the photo of an occluded face (JPEG, PNG, ...; a gray photo stays gray)")
    q.add_argument("--reference", default=None, metavar="PHOTO",
                   help="a photo of the person to verify against, with both recognizers")
    add_output_dir(q, default="results/recover",
                   help="where <stem>_telea.png (to look at), _ca.png, _ca_id.png (for a recognizer), _mask.png, "
                        "_side_by_side.png and _recover.json go")
    q.add_argument("--half", choices=("auto", "A", "B"), default="auto",
                   help="whose LFW-half models to use (auto: the half that never saw an LFW photo's person, by its "
                        "file name <Name>_NNNN; for any other name half A, a guess)")
    q.add_argument("--detector", default=None, metavar="FILE", help="one O-Detector file instead of the shipped pair")
    q.add_argument("--detector-dir", default=None, metavar="DIR",
                   help="folder with odetector_<detector-profile>_half{A,B}.pt (default: $IDINPAINT_DETECTOR_DIR "
                        "or checkpoints/)")
    q.add_argument("--detector-profile", default="cpu", help="profile in the detector file names (default cpu)")
    q.add_argument("--mask-threshold", type=float, default=None, metavar="P",
                   help="occlusion probability from which a pixel is filled (default: the detector file's, 0.5); "
                        "lower finds more of the occluder and more false alarms")
    add_recognizers(q, ["sface", "dlib"], help="recognizers that verify the pair (with --reference)")
    q.add_argument("--thresholds", nargs="+", default=[], type=_threshold, metavar="NAME=COSINE",
                   help="same/different thresholds instead of the shipped ones (checkpoints/recognizer_thresholds.json, "
                        "best accuracy on the 6,000 clean LFW pairs)")
    q.add_argument("--calibrate", action="store_true",
                   help="recompute the thresholds on the clean LFW pairs of --aligned first (minutes: every crop "
                        "of the pairs is embedded by each recognizer, cached for the next time)")
    add_aligned(q, help="with --calibrate: the clean aligned LFW the thresholds are calibrated on (default data/lfw-112)")
    add_lfw_root(q)


def _add_profile(parser) -> None:
    parser.add_argument("--profile", default="smoke",
                        help="the detector profile of config/train.yaml: smoke (CI, minutes) or cpu (the shipped pair)")
    parser.add_argument("--config", default=None, help="training YAML (default config/train.yaml)")


def _threshold(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not (sep and name):
            raise ValueError(text)
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--thresholds takes NAME=COSINE (e.g. sface=0.33), got {text!r}") from None


def _config(args):
    from idinpaint.config import parse_overrides
    from idinpaint.detection import DEFAULT_CONFIG, load_detector_config

    overrides = parse_overrides(getattr(args, "set", None) or [])
    return load_detector_config(args.profile, args.config or DEFAULT_CONFIG, overrides)


def _cmd_detector_train(args) -> int:
    """Train the O-Detector of each half (plain torch loop on composites drawn on the fly); writes
    <output>/half<H>/ (run.json, provenance.json, config.json, train_log.json) and
    odetector_<profile>_half<H>.pt with its JSON card, copied to --export-dir."""
    from idinpaint.detection import train_detector
    from idinpaint.paths import results_dir

    config = _config(args)
    output = Path(args.output or results_dir() / "detector" / args.profile)
    check_outputs(args, output="folder", export_dir="folder")
    export = Path(args.export_dir) if args.export_dir else output
    for half in args.halves:
        result = train_detector(config, half, output / f"half{half}", lfw_root=args.lfw_root,
                                aligned_root=args.aligned, export=export)
        val = result["validation"]
        print(f"half {half}: {result['train_seconds'] / 60:.1f} min of training "
              f"({result['images_per_second']} crops/s), "
              f"{result['parameters']:,} parameters, {result['bytes'] / 1e6:.2f} MB; validation IoU "
              f"{val.get('occluded', {}).get('iou', float('nan')):.3f}, clean-face predicted area "
              f"{100 * val.get('clean', {}).get('pred_area', float('nan')):.2f} %")
        print(f"  wrote {', '.join(result['files'])}")
    return 0


def _detector_dir(args, profile: str | None = None) -> Path:
    import os

    from idinpaint.detection import DETECTOR_DIR_ENV, SHIPPED_DIR
    from idinpaint.paths import results_dir

    if args.detector_dir:
        return Path(args.detector_dir)
    if os.environ.get(DETECTOR_DIR_ENV):
        return Path(os.environ[DETECTOR_DIR_ENV])
    profile = profile or args.profile
    return SHIPPED_DIR if profile == "cpu" else results_dir() / "detector" / profile


def _cmd_detector_evaluate(args) -> int:
    """The generalisation table: each occluder family (held-out ones marked) on crops of each half's
    test people, scored by that half's detector; clean faces give the false-alarm area. Writes
    <output>/generalisation_<profile>.json/.md and the figure detector_examples_<profile> (crop |
    truth | prediction per family)."""
    from idinpaint.detection import evaluate_detector, example_tiles, generalisation_markdown, get_detector
    from idinpaint.figures import face_grid, save_figure
    from idinpaint.paths import results_dir
    from idinpaint.runinfo import provenance, write_json, write_text

    config = _config(args)
    check_outputs(args, output="folder", figures="folder")
    detector = get_detector(folder=_detector_dir(args), profile=args.profile, lfw_root=args.lfw_root)
    started = time.time()
    table = evaluate_detector(detector, config, args.halves, aligned_root=args.aligned, lfw_root=args.lfw_root,
                              faces=args.faces)
    output = Path(args.output or results_dir() / "detector")
    text = generalisation_markdown(table["rows"])
    stem = f"generalisation_{args.profile}"
    json_path = write_json(output / f"{stem}.json", {**provenance(table["config"]), "rows": table["rows"],
                                                     "seconds": round(time.time() - started, 1)})
    md_path = write_text(output / f"{stem}.md", text)
    print(text, end="")
    tiles, titles = example_tiles({k: v[:1] for k, v in table["examples"].items()})
    figures = save_figure(face_grid(tiles, titles, columns=9, size=1.2), f"detector_examples_{args.profile}",
                          args.figures)
    print(f"wrote {json_path}, {md_path} and {figures[0]}")
    return 0


def _spec_arg(text: str) -> str:
    from idinpaint.occlusion import canonical_spec

    try:
        return canonical_spec(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _cmd_detector_protocol(args) -> int:
    """How much of the protocol's true hole the shipped detector pair finds, on every distinct
    second image of the test pairs, each crop by the detector that never saw its person. Writes
    <output>/protocol_masks.json/.md."""
    from idinpaint.detection import get_detector, protocol_mask_quality, protocol_masks_markdown
    from idinpaint.paths import results_dir
    from idinpaint.runinfo import provenance, write_json, write_text

    check_outputs(args, output="folder")
    detector = get_detector(folder=_detector_dir(args, profile="cpu"), lfw_root=args.lfw_root)
    started = time.time()
    rows = protocol_mask_quality(detector, args.specs, aligned_root=args.aligned, lfw_root=args.lfw_root,
                                 folds=args.folds)
    output = Path(args.output or results_dir() / "detector")
    text = protocol_masks_markdown(rows)
    config = {"specs": args.specs, "folds": args.folds, "detector": repr(detector), "aligned_root": args.aligned}
    json_path = write_json(output / "protocol_masks.json", {**provenance(config), "rows": rows,
                                                              "seconds": round(time.time() - started, 1)})
    md_path = write_text(output / "protocol_masks.md", text)
    print(text, end="")
    print(f"wrote {json_path} and {md_path}")
    return 0


def _cmd_recover(args) -> int:
    """Find the face (YuNet), segment the occluder on its aligned crop (O-Detector), fill it with Telea,
    CA and CA+ID and paste each fill back into the photo (only occluded pixels change); writes each
    fill as <stem>_<filler>.png (Telea's to look at, CA+ID's for a recognizer), the mask (255 =
    occluded), a side-by-side strip and a JSON report into --output. With --reference, prints each
    recognizer's cosine and same/different for the occluded photo and each fill, at the thresholds it
    reaches on clean LFW (shipped; --calibrate recomputes them)."""
    from idinpaint.recover import recover_file

    check_outputs(args, output="folder")
    recovery, report, written = recover_file(
        args.photo, args.output, args.reference, half=args.half, detector_file=args.detector,
        detector_dir=args.detector_dir, detector_profile=args.detector_profile, mask_threshold=args.mask_threshold,
        recognizers=args.recognizers, thresholds=dict(args.thresholds), calibrate_thresholds=args.calibrate,
        aligned=args.aligned, lfw_root=args.lfw_root)
    _print_recovery(args, recovery, report, written)
    return 0


def _print_recovery(args, recovery, report, written) -> None:
    info = recovery.info
    print(f"{args.photo}: face score {info['face_score']:.2f}, eyes {info['eye_distance_px']:.0f} px apart; "
          f"models of LFW half {report['half']}")
    print(f"  {'note' if report.get('half_guessed') else 'half'}: {report['half_reason']}")
    for note in info["notes"]:
        print(f"  note: {note}")
    if recovery.nothing_occluded:
        print("  nothing occluded: no change to the photo")
    else:
        print(f"  O-Detector: {100 * info['crop_hole_fraction']:.1f} % of the face crop occluded "
              f"({info['photo_hole_pixels']} photo pixels); filled with {', '.join(recovery.filled)}")
    for name, result in (report.get("verification") or {}).items():
        threshold = result["threshold"]
        cells = []
        for version, value in result.items():
            if version == "threshold":
                continue
            verdict = "" if value["same"] is None else (" same" if value["same"] else " different")
            cells.append(f"{version} {value['cosine']:.3f}{verdict}")
        head = f"threshold {threshold:.3f}" if threshold is not None else "no threshold"
        print(f"  {name:6s} {head}: " + " | ".join(cells))
    if report.get("verification"):
        print(f"  thresholds {report['thresholds_source']}")
    if report.get("for_viewing") or report.get("for_recogniser"):
        print(f"  to look at: {written.get(report.get('for_viewing'), '-')} (Telea: a plausible fill); for a "
              f"recognizer: {written.get(report.get('for_recogniser'), '-')} (CA+ID: keeps the identity best, its "
              "texture is not a face)")
    print(f"wrote {', '.join(written.values())}", file=sys.stdout)
