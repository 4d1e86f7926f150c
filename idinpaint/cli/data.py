"""``idinpaint datasets | preprocess | prepare``: the data on disk, raw -> aligned -> occluded."""
from __future__ import annotations

import argparse
from pathlib import Path

from idinpaint.cli._common import (
    Choices,
    CLIError,
    add_aligned,
    add_command,
    add_fillers,
    add_limit,
    add_option,
    add_output_dir,
    add_workers,
    check_outputs,
    report_batch,
)

FILL_OR_OCCLUDER = Choices("occlusion", "FILLS", "OCCLUDER_FILL")


def add_parser(commands) -> None:
    add_command(commands, "datasets", _cmd_datasets, "list known datasets and whether they are found")

    p = add_command(commands, "preprocess", _cmd_preprocess, "raw photos -> 112x112 ArcFace-aligned crops (YuNet)",
                    root_option="--raw")
    add_option(p, "--raw", "--root", required=True, metavar="DIR", help="folder of raw photos")
    add_aligned(p, "--output-dir", "--output_dir", required=True,
                help="the aligned folder to write: crops, landmarks.csv, failures.csv")
    add_option(p, "--has-subdirs", "--has_subdirs", action="store_true", help="one sub-folder per identity")
    add_workers(p, help="parallel processes")
    p.add_argument("--size", type=int, default=112, help="crop size (template scales with it)")
    add_limit(p)

    p = add_command(commands, "prepare", _cmd_prepare,
                    "aligned crops -> occluded (and inpainted) copies + masks on disk")
    add_aligned(p, "--input", required=True, help="aligned folder (e.g. data/lfw-112)")
    add_output_dir(p, help="where occluded images, masks/, failures.csv, prepare.json go")
    # One spec and one filler per run (each writes its own --output folder), under the names
    # `evaluate` uses. --mode SPEC [--fill FILL] is the old spelling of --specs SPEC[@FILL].
    add_option(p, "--specs", "--mode", nargs=1, required=True, metavar="SPEC",
               help="the occlusion spec (docs/architecture.md#the-occlusion-grammar): region:<name> | random_part | "
                    "random_block[:size] | free_form | maskthface[:template] | moved_region | block | glasses, then "
                    "@black|gray|white|noise|texture[:family]|occluder for what the hole is painted with (default "
                    "black; maskthface: the occluder's own pixels), e.g. region:two_eyes@gray")
    p.add_argument("--fill", choices=FILL_OR_OCCLUDER, default=None, metavar="FILL", help=argparse.SUPPRESS)
    add_fillers(p, "--filler", nargs=1, default=["none"],
                help="the filler that inpaints the hole: %(choices)s (default none)")
    p.add_argument("--mean-face", default=None, help="saved mean face .npy for --fillers mean_face "
                                                     "(default: fitted on LFW people in no View-2 pair)")
    p.add_argument("--seed", type=int, default=0, help="base seed of random masks / noise (0 = the evaluation's pixels)")
    add_limit(p)


def _cmd_datasets(args) -> int:
    from idinpaint.data.registry import dataset_status

    for row in dataset_status():
        print(f"{row['name']:12s} {row['layout']:9s} {'ok' if row['found'] else '--'}  {row['where']}")
    return 0


def _cmd_preprocess(args) -> int:
    raw = Path(args.raw)
    if not raw.is_dir():
        raise CLIError(f"--raw {raw}: {'is a file, not a' if raw.exists() else 'no such'} folder; "
                       "pass the folder of raw photos (e.g. <lfw>/raw)")
    check_outputs(args, aligned="folder")
    from idinpaint.data.registry import IMAGE_SUFFIXES, list_images
    from idinpaint.preprocess import preprocess_folder

    files = [str(p) for p in list_images(raw, args.has_subdirs or None)]
    if not files:
        where = "in its sub-folders (drop --has-subdirs if they lie directly in it)" if args.has_subdirs else "in it"
        raise CLIError(f"--raw {raw}: no images ({', '.join(IMAGE_SUFFIXES)}) {where}")
    report = preprocess_folder(raw, args.aligned, has_subdirs=args.has_subdirs or None, workers=args.workers,
                               size=args.size, limit=args.limit, files=files)
    return report_batch(report, args.aligned)


def _cmd_prepare(args) -> int:
    """Write occluded copies of an aligned folder: <output>/<rel>.png (filled by --fillers when not
    none) and <output>/masks/<rel>.png (255 = hole). Resumable (finished files are skipped);
    unreadable inputs are listed in <output>/failures.csv."""
    check_outputs(args, output="folder")
    from idinpaint.prepare import prepare_folder

    report = prepare_folder(args.aligned, args.output, mode=args.specs[0], fill=args.fill, filler=args.fillers[0],
                            seed=args.seed, limit=args.limit, mean_face=args.mean_face)
    return report_batch(report, args.output)
