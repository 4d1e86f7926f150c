"""``idinpaint evaluate reference``: the "reference available" track — holes filled from another photo
of the probe's own person, with its coverage, controls and the claimed-identity attack; ``--validation``
compares the reference-guided fills on half A's held-out validation faces and reads the ship rule."""
from __future__ import annotations

from idinpaint.cli._common import add_aligned, add_command, add_lfw_root, add_output_dir, add_recognizers

HARDEST = ["two_eyes", "upper_face", "center_block"]


def add_parser(targets) -> None:
    q = add_command(targets, "reference", _cmd_evaluate_reference,
                    "reference available: fill each occluded probe from another photo of its own person; coverage, "
                    "both recognizers, the C2ST judge, the controls and the claimed-identity attack")
    add_recognizers(q, ["sface", "dlib"])
    q.add_argument("--regions", nargs="+", default=HARDEST, metavar="REGION",
                   help="face parts to occlude (default: the hardest three, %(default)s)")
    q.add_argument("--folds", nargs="+", type=int, default=None, metavar="K", help="pairs folds 1-10 (default all)")
    q.add_argument("--fillers", nargs="+", default=None, metavar="FILLER",
                   help="the track's fills (default: none telea ca_id reference self_paste other_person; also "
                        "reference_fusor / ca_id_ref: the Fusor on the reference or CA fill with the reference's "
                        "identity, worse on both axes on the validation faces)")
    q.add_argument("--no-c2st", action="store_true", help="skip the learned realism judge (faster)")
    q.add_argument("--no-attack", action="store_true", help="skip the claimed-identity attack table")
    q.add_argument("--validation", action="store_true",
                   help="instead: compare the reference-guided fills (and Telea, CA + ID, the controls) on half A's "
                        "held-out validation faces and read the ship rule of docs/experiments.md")
    add_output_dir(q, default="results/lfw_reference",
                   help="where lfw_reference.{csv,json}, its scores, reference_track.json (or validation.json) go")
    add_aligned(q)
    add_lfw_root(q)


def _cmd_evaluate_reference(args) -> int:
    """The "reference available" track (it knows who each probe is; the blind protocol does not): each
    occluded second image of the LFW pairs is filled from another photo of its own person that is in no
    pair with it and no near-duplicate of it or its partners; probes with no such photo are counted as
    not covered. Writes the protocol's rows for the covered pairs (none, Telea, CA + ID, reference, the
    self-paste and other-person controls), the coverage, the ring fit's
    refusals and the claimed-identity attack's false-accept rates. --validation: the same fills on half
    A's held-out validation faces, and the ship rule read on them."""
    from idinpaint.paths import results_dir
    from idinpaint.evaluation.reference import (  # the fillers and recognizers: loaded after the options are checked
        format_track,
        format_validation,
        run_reference_track,
        run_validation,
    )

    args.output = args.output or str(results_dir() / "lfw_reference")
    if args.validation:
        summary = run_validation(args.recognizers, regions=args.regions, aligned_root=args.aligned,
                                 output_dir=args.output)
        print(format_validation(summary))
        return 0
    summary = run_reference_track(args.recognizers, args.regions, folds=args.folds, aligned_root=args.aligned,
                                  **({"fillers": args.fillers} if args.fillers else {}),
                                  lfw_root=args.lfw_root, output_dir=args.output, c2st=not args.no_c2st,
                                  attack=not args.no_attack)
    print(format_track(summary))
    return 0
