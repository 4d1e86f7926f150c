"""``idinpaint train | export``: staged training, and a checkpoint -> a small inference file + its card."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from idinpaint.cli._common import (
    HALVES,
    CLIError,
    add_command,
    add_output_dir,
    add_output_file,
    add_recipe,
    check_inputs,
    check_outputs,
    override_arg,
    recipe_of,
)


def add_parser(commands) -> None:
    p = add_command(commands, "train", _cmd_train, "staged training of the CA inpainter and the identity-guided Fusor")
    p.add_argument("--config", default=None, help="training YAML (default config/train.yaml)")
    add_recipe(p, "smoke", help="a training recipe of the YAML: smoke, cpu, paper, recipe_gpu, ..., or cpu_v1 (the "
                                "superseded first cpu recipe)")
    p.add_argument("--stage", default=None, help="run only this stage (it starts from the previous stage's checkpoint)")
    p.add_argument("--resume", default=None, help="resume the stage this checkpoint belongs to, then run the later ones")
    p.add_argument("--half", choices=HALVES, default=None, metavar="HALF",
                   help="LFW half the model is evaluated on (%(choices)s; A: folds 1-5, B: 6-10); it trains on the "
                        "other half's people + the unpaired people")
    add_output_dir(p, default="results/train/<recipe>_half<H>", help="run folder")
    p.add_argument("--set", nargs="+", type=override_arg, default=[], metavar="KEY=VALUE",
                   help="override config values (YAML), e.g. --set trainer.accelerator=gpu data.num_workers=8")

    p = add_command(commands, "export", _cmd_export, "a training checkpoint -> a small inference file + its JSON card")
    p.add_argument("--checkpoint", required=True, help="last.ckpt / best.ckpt of a stage, or an exported .pt")
    add_output_file(p, required=True, help="the .pt to write")
    p.add_argument("--runs", nargs="*", default=[], metavar="RUN_DIR[:STAGE,...]",
                   help="the training run folder(s) that made it, in training order; :STAGE,... keeps "
                        "only those stages (e.g. the CA stage of the run a Fusor was trained on)")
    p.add_argument("--ca-only", action="store_true", help="keep only the CA (kind ca)")
    p.add_argument("--onnx", action="store_true",
                   help="also write <output-file>.onnx: the whole inpainter as one ONNX graph (image and mask in, "
                        "the network's fill out, SFace inside; dynamic batch; see idinpaint/onnx_export.py)")
    p.add_argument("--note", nargs="*", type=_note, default=[], metavar="KEY=TEXT", help="free fields of the card")


def _note(text: str) -> str:
    if "=" not in text or not text.split("=", 1)[0]:
        raise argparse.ArgumentTypeError(f"--note takes KEY=TEXT, got {text!r}")
    return text


def _cmd_train(args) -> int:
    """Run a training recipe's stages from config/train.yaml (Lightning). Re-running the same command
    resumes: finished stages are skipped, an unfinished one continues from its last.ckpt. Exit
    status 1 when a stage stopped on a non-finite loss (its last good checkpoint is kept)."""
    from idinpaint.config import TRAIN_CONFIG, load_training_config, parse_overrides

    check_inputs(args, "--config", "--resume")
    check_outputs(args, output="folder")
    recipe = recipe_of(args)
    overrides = parse_overrides(args.set)
    # the recipe, every --set key and --stage, checked before Lightning and torch are imported
    config = load_training_config(args.config or TRAIN_CONFIG, recipe, overrides)
    stages = [stage.get("name") for stage in config["stages"]]
    if args.stage is not None and args.stage not in stages:
        raise CLIError(f"--stage {args.stage}: not a stage of recipe {recipe}; its stages: {', '.join(stages)}")
    from idinpaint.training.stages import run_training

    summary = run_training(args.config or TRAIN_CONFIG, recipe=recipe, stage=args.stage,
                           resume=args.resume, half=args.half, output=args.output, overrides=overrides)
    if summary["status"] != "done":
        print(f"error: {summary.get('error')}", file=sys.stderr)
        return 1
    print(f"run folder {summary['run_dir']}; final checkpoint {summary.get('final_checkpoint')}")
    return 0


def _cmd_export(args) -> int:
    """Write an inference-only inpainter (kind, network configs, weights) and, beside it,
    <output-file>.json: its SHA-256 and, for each run folder given, the command, git SHA, versions,
    machine, config and stages. --onnx: also <output-file>.onnx, the whole inpainter as one ONNX
    graph (its name and SHA-256 go into the card)."""
    check_inputs(args, "--checkpoint")
    check_outputs(args, output_file="file")
    if args.onnx and Path(args.output_file).suffix.lower() in (".onnx", ".json"):
        raise CLIError(f"--output-file {args.output_file}: name the .pt; --onnx writes the .onnx beside it")
    from idinpaint.onnx_export import export_model

    written = export_model(args.checkpoint, args.output_file, args.runs, ca_only=args.ca_only, onnx=args.onnx,
                           notes=dict(note.split("=", 1) for note in args.note))
    print(f"wrote {', '.join(map(str, written[:-1]))} and {written[-1]}")
    return 0
