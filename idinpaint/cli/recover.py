"""``idinpaint recover``: the photo pipeline built on the O-Detector (find, segment, fill, verify);
the detector's own commands are in :mod:`idinpaint.cli.detector`."""
from __future__ import annotations

import argparse
import sys

from idinpaint.cli._common import (
    add_aligned,
    add_command,
    add_lfw_root,
    add_option,
    add_output_dir,
    add_recognizers,
    check_outputs,
    check_photos,
)


def add_parser(commands) -> None:
    q = add_command(commands, "recover", _cmd_recover,
                    "find the occluder on a photo's face, fill it (Telea, CA, CA+ID), verify against a reference",
                    root_option="--lfw-root")
    q.add_argument("photo", help="the photo of an occluded face (JPEG, PNG, ...; a gray photo stays gray)")
    q.add_argument("--reference", default=None, metavar="PHOTO",
                   help="another photo of the same person: the hole is also filled from it (<stem>_reference.png, the "
                        "one to look at) and every fill is verified against it with both recognizers")
    add_output_dir(q, default="results/recover",
                   help="where <stem>_telea.png, _ca.png, _ca_id.png (and _reference.png with --reference), _mask.png, "
                        "_side_by_side.png and _recover.json go")
    q.add_argument("--half", choices=("auto", "A", "B"), default="auto",
                   help="whose LFW-half models to use (auto: the half that never saw an LFW photo's person, by its "
                        "file name <Name>_NNNN; for any other name half A, a guess)")
    q.add_argument("--detector", default=None, metavar="FILE", help="one O-Detector file instead of the shipped pair")
    q.add_argument("--detector-dir", default=None, metavar="DIR",
                   help="folder with odetector_<detector-recipe>_half{A,B}.pt (default: $IDINPAINT_DETECTOR_DIR "
                        "or checkpoints/)")
    add_option(q, "--detector-recipe", "--detector-profile", default="cpu", metavar="NAME",
               help="the detector's training recipe, as in its file names (default cpu)")
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


def _threshold(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not (sep and name):
            raise ValueError(text)
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--thresholds takes NAME=COSINE (e.g. sface=0.33), got {text!r}") from None


def _cmd_recover(args) -> int:
    """Find the face (YuNet), segment the occluder on its aligned crop (O-Detector), fill it with Telea,
    CA and CA+ID and paste each fill back into the photo (only occluded pixels change); writes each
    fill as <stem>_<filler>.png, the mask (255 = occluded), a side-by-side strip and a JSON report into
    --output. With --reference (another photo of the same person): also <stem>_reference.png, the hole
    filled from that photo (the one to look at), and each recognizer's cosine and same/different for
    the occluded photo and each fill, at the thresholds it reaches on clean LFW (shipped; --calibrate
    recomputes them), ranked; without, what the protocol measured on average."""
    check_outputs(args, output="folder")
    check_photos(args.photo, args.reference)
    from idinpaint.recover import recover_file

    recovery, report, written = recover_file(
        args.photo, args.output, args.reference, half=args.half, detector_file=args.detector,
        detector_dir=args.detector_dir, detector_recipe=args.detector_recipe, mask_threshold=args.mask_threshold,
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
    if report.get("reference_problem"):
        print(f"  note: {report['reference_problem']}")
    if recovery.nothing_occluded:
        print("  nothing occluded: no change to the photo")
    else:
        print(f"  O-Detector: {100 * info['crop_hole_fraction']:.1f} % of the face crop occluded "
              f"({info['photo_hole_pixels']} photo pixels); filled with {', '.join(recovery.filled)}")
    if (report.get("reference_fill") or {}).get("fit") and "reference" in recovery.filled:
        print(f"  reference fill: {report['reference_fill']['fit']}")
    for name, result in (report.get("verification") or {}).items():
        threshold = result["threshold"]
        cells = []
        for version, value in result.items():
            if version == "threshold":
                continue
            verdict = "" if value["same"] is None else (" same" if value["same"] else " different")
            cells.append(f"{version} {value['cosine']:.4f}{verdict}")
        head = f"threshold {threshold:.4f}" if threshold is not None else "no threshold"
        print(f"  {name:6s} {head}: " + " | ".join(cells))
    if report.get("verification"):
        print(f"  thresholds {report['thresholds_source']}")
    _print_advice(report, written)
    print(f"wrote {', '.join(written.values())}", file=sys.stdout)


def _print_advice(report, written) -> None:
    """Which fill to look at, and which keeps the identity: only what was measured, with its numbers."""
    if not report.get("for_viewing"):
        return
    if report["for_viewing"] == "reference":
        print(f"  to look at: {written['reference']} (real pixels of the reference photo's face, fitted into the "
              "hole; its cosine to that same photo is not evidence of identity)")
    else:
        print(f"  to look at: {written[report['for_viewing']]} (Telea: a smooth fill; it draws no eyes or brows)")
    ranking = report.get("ranking")
    if ranking:
        for name, rows in ranking["ranks"].items():
            print(f"  ranked by {name}: " + " > ".join(f"{version} {cosine:.4f}" for version, cosine, _ in rows))
        if ranking["pick"]:
            print(f"  for a recognizer, on this photo: {written.get(ranking['pick'], ranking['pick'])} "
                  f"({ranking['why']})")
        return
    averages = report.get("protocol_averages") or {}
    accuracy = averages.get("accuracy") or {}
    if accuracy:
        cells = "; ".join(f"{name} " + ", ".join(f"{method} {values['mean']:.2f}" for method, values in methods.items())
                          for name, methods in accuracy.items())
        print(f"  for a recognizer: nothing was measured on this photo (no --reference). On average over LFW's "
              f"occluded pairs the protocol measured accuracy % {cells} ({averages.get('source', '')}); an "
              "average, not a promise for this photo")
