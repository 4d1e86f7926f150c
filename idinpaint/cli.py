"""``idinpaint`` — one console command, a subcommand per stage of the data flow.

Expected failures (missing or malformed data, bad paths or options, unreadable images, unusable
checkpoints, an unavailable device, unwritable outputs) end in one line on stderr,
``error: <file or option>: <reason and what to do>``, and exit status 2; ``--debug`` shows the
traceback instead.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


class CLIError(Exception):
    """A bad option or input found by the CLI itself; the message is the one error line."""


#: What main() reports as one line. OSError covers DatasetError, FileNotFoundError and
#: PermissionError; ValueError covers CheckpointError, BadImageError, NoFaceError and
#: PairsFormatError; RuntimeError: torch devices and missing packaged models.
EXPECTED_ERRORS = (CLIError, OSError, ValueError, KeyError, RuntimeError)


def _error_line(err: BaseException, root_option: str | None) -> str:
    """One line for ``err``; the registry's generic "pass --root" hint names this command's option."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        text = f"{err.filename}: {err.strerror}"  # e.g. PermissionError from open()
    elif isinstance(err, KeyError) and err.args:
        text = str(err.args[0])
    else:
        text = str(err)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()] or [type(err).__name__]
    line = lines[0] + (" (--debug shows the rest)" if len(lines) > 1 else "")
    return line.replace(" or pass --root", f" or pass {root_option}" if root_option else "")


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one ``error:`` line too."""

    def error(self, message: str):
        message = message.removeprefix("argument ")
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _check_inputs(args, *options) -> None:
    """Name the option of an input file that is not there (the readers then check what is in it)."""
    for option in options:
        value = getattr(args, option, None)
        if value is not None and not Path(value).is_file():
            reason = "is a folder, not a file" if Path(value).is_dir() else "no such file"
            raise CLIError(f"--{option} {value}: {reason}")


def _check_outputs(args, **kinds) -> None:
    """Fail before any work when an output option cannot be written (kind: image, file or folder)."""
    from .imageio import check_output_path

    for option, kind in kinds.items():
        value = getattr(args, option, None)
        if value is not None:
            try:
                check_output_path(value, kind)
            except ValueError as err:
                raise CLIError(f"--{option} {err}") from None


def _check_device(device: str | None) -> None:
    if device is None:
        return
    import torch

    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise CLIError(f"--device {device}: not a device name; use cpu or cuda (or leave --device out)") from None
    if chosen.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise CLIError(f"--device {device}: CUDA is not available on this machine; use --device cpu "
                           "(or leave --device out)")
        if chosen.index is not None and chosen.index >= count:
            raise CLIError(f"--device {device}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    elif chosen.type == "mps" and not torch.backends.mps.is_available():
        raise CLIError(f"--device {device}: MPS is not available on this machine; use --device cpu")
    elif chosen.type not in ("cpu", "mps"):
        raise CLIError(f"--device {device}: not supported; use cpu or cuda")


def _report_batch(report, output_dir, shown: int = 20) -> int:
    """A batch job's summary and its first failures (all of them are in <output_dir>/failures.csv)."""
    print(report.summary())
    for path, reason in report.failures[:shown]:
        print(f"  failed: {path}: {reason}")
    if len(report.failures) > shown:
        print(f"  ... {len(report.failures) - shown} more in {Path(output_dir) / 'failures.csv'}")
    return 0


def _aligned(folder) -> Path:
    aligned = Path(folder)
    if (aligned / "landmarks.csv").is_file():
        return aligned
    raise CLIError(f"{aligned}: no aligned LFW here (no landmarks.csv); pass --aligned <folder of crops> or run "
                   f"`idinpaint preprocess --root <lfw>/raw --output_dir {aligned} --has_subdirs` first")


def _check_pairs(args) -> None:
    """A missing or broken pairs.txt fails here, before any recogniser or model is loaded."""
    from .evaluation.lfw import load_pairs

    load_pairs(args.lfw_root, getattr(args, "folds", None))


def _cmd_preprocess(args) -> int:
    from .data.registry import IMAGE_SUFFIXES, list_images
    from .preprocess import preprocess_folder

    root = Path(args.root)
    if not root.is_dir():
        raise CLIError(f"--root {root}: {'is a file, not a' if root.exists() else 'no such'} folder; "
                       "pass the folder of raw photos (e.g. <lfw>/raw)")
    _check_outputs(args, output_dir="folder")
    files = [str(p) for p in list_images(root, args.has_subdirs or None)]
    if not files:
        where = "in its sub-folders (drop --has_subdirs if they lie directly in it)" if args.has_subdirs else "in it"
        raise CLIError(f"--root {root}: no images ({', '.join(IMAGE_SUFFIXES)}) {where}")
    report = preprocess_folder(root, args.output_dir, has_subdirs=args.has_subdirs or None, workers=args.workers,
                               size=args.size, limit=args.limit, files=files)
    return _report_batch(report, args.output_dir)


def _cmd_evaluate_lfw(args) -> int:
    from .evaluation.lfw import default_aligned_root, evaluate_clean
    from .figures import plot_roc, save_figure
    from .paths import results_dir
    from .runinfo import provenance, write_json

    aligned = _aligned(args.aligned or default_aligned_root())
    _check_pairs(args)
    _check_outputs(args, output="file", figures="folder")
    started = time.time()
    recognizer = _recognizer(args.recognizer, args.workers)
    result, scores, pairs = evaluate_clean(recognizer, aligned, args.lfw_root, args.folds)
    seconds = time.time() - started
    print(f"LFW clean, {args.recognizer}, {result.pairs} pairs: {result.line()}")
    extra = {"dlib_fallback_boxes": recognizer.fallbacks} if hasattr(recognizer, "fallbacks") else {}
    output = Path(args.output or results_dir() / "lfw_clean" / f"{args.recognizer}.json")
    write_json(output, {**provenance({"recognizer": args.recognizer, "aligned": str(aligned),
                                      "folds": args.folds}),
                        "seconds": round(seconds, 1), "result": result.as_dict(), **extra})
    labels = [p.same for p in pairs]
    fig = plot_roc({f"{args.recognizer} clean": (scores, labels)}, title=f"LFW clean, {args.recognizer}")
    suffix = "" if not args.folds else "_folds" + "-".join(map(str, args.folds))
    figures = save_figure(fig, f"roc_lfw_clean_{args.recognizer}{suffix}", args.figures)
    print(f"wrote {output} and {figures[0]}")
    return 0


def _recognizer(name: str, workers: int = 1):
    """dlib's ResNet is single-threaded: spread it over worker processes; SFace uses torch threads."""
    from .recognizers import get_recognizer

    return get_recognizer(name, workers=workers) if name == "dlib" else get_recognizer(name)


def _cmd_datasets(args) -> int:
    from .data.registry import DATASETS, DatasetError, dataset_root

    for name, spec in DATASETS.items():
        try:
            status = f"ok  {dataset_root(name)}"
        except DatasetError as err:
            status = f"--  {err}"
        print(f"{name:12s} {spec.layout:9s} {status}")
    return 0


def _cmd_notebooks(args) -> int:
    from .notebooks import run_notebooks

    return run_notebooks(profile=args.profile, only=args.only, output_dir=args.output_dir)


def _folds_suffix(folds) -> str:
    return "" if not folds else "_folds" + "-".join(map(str, folds))


def _cmd_prepare(args) -> int:
    from .prepare import prepare_folder

    _check_outputs(args, output="folder")
    report = prepare_folder(args.input, args.output, mode=args.mode, fill=args.fill, filler=args.filler,
                            seed=args.seed, limit=args.limit, mean_face=args.mean_face)
    return _report_batch(report, args.output)


def _cmd_evaluate_occluded(args) -> int:
    from .evaluation.lfw import default_aligned_root
    from .evaluation.occluded import evaluate_conditions, format_table, protocol_specs
    from .figures import occluded_report_figures
    from .paths import results_dir

    aligned = _aligned(args.aligned or default_aligned_root())
    try:
        specs, baseline_only = protocol_specs(args.regions, args.fills)
    except ValueError as err:
        raise CLIError(f"--regions: {err}") from None
    _check_pairs(args)
    _check_outputs(args, output="folder", figures="folder")
    specs += list(args.specs or [])
    suffix = _folds_suffix(args.folds)
    output = Path(args.output or results_dir() / "lfw_occluded")
    recognisers_tag = "-".join(args.recognizers)
    stem = f"lfw_occluded_{recognisers_tag}{suffix}"
    recognizers = [_recognizer(name, args.workers) for name in args.recognizers]
    results = evaluate_conditions(recognizers, specs, args.fillers, aligned, folds=args.folds,
                                  lfw_root=args.lfw_root, output_dir=output, stem=stem,
                                  mean_face_count=args.mean_face_count, baseline_only=baseline_only)
    print(format_table(results))
    written = occluded_report_figures(results, f"{recognisers_tag}", suffix, args.figures)
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
    from .evaluation.occluded import combine_results, load_results, rename_filler, results_report
    from .paths import results_dir
    from .runinfo import write_text

    parts = []
    for run in args.runs:
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
    _check_outputs(args, output="file", figures="folder")
    results = combine_results(*parts)
    text = results_report(results, args.method, args.baselines)
    if args.output:
        write_text(Path(args.output), text)
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    if args.figures:
        from .evaluation.occluded import recogniser_results
        from .figures import occluded_report_figures

        written = []
        for recogniser in dict.fromkeys(row["recogniser"] for row in results):
            written += occluded_report_figures(recogniser_results(results, recogniser), recogniser, "", args.figures)
        print(f"figures (PNG + PDF): {', '.join(str(p) for p in written)}")
    return 0


def _cmd_evaluate_retention(args) -> int:
    from .evaluation.lfw import default_aligned_root
    from .evaluation.retention import run_retention
    from .paths import results_dir

    aligned = _aligned(args.aligned or default_aligned_root())
    bad = [item for item in args.models or [] if "=" not in item]
    if bad:
        raise CLIError(f"--models: takes LABEL=FOLDER items, got {bad[0]!r}")
    model_dirs = dict(item.split("=", 1) for item in args.models) if args.models else None
    compare = [tuple(item.split(",", 1)) for item in args.compare]
    bad = [item for item, pair in zip(args.compare, compare) if len(pair) != 2]
    if bad:
        raise CLIError(f"--compare: takes METHOD,BASELINE items, got {bad[0]!r}")
    _check_pairs(args)
    _check_outputs(args, output="folder", figures="folder")
    regions = None if "all" in args.regions else args.regions
    recognizers = [_recognizer(name, args.workers) for name in args.recognizers]
    kwargs = {} if regions is None else {"regions": regions}
    result = run_retention(recognizers, args.fillers, args.halves, model_dirs, compare=compare,
                           val_images=args.val_images, seed=args.seed, aligned_root=aligned,
                           lfw_root=args.lfw_root, output_dir=args.output or results_dir() / "retention",
                           gallery=args.gallery, figures_dir=args.figures, **kwargs)
    print(result["markdown"])
    from .figures import plot_identity_retention, save_figure

    stem = Path(result["paths"][0]).parent.name
    written = []
    for recognizer in args.recognizers:
        mine = [r for r in result["rows"] if r["recognizer"] == recognizer]
        for measure in ("retention", "margin"):
            fig = plot_identity_retention(mine, f"Identity {measure} on held-out validation crops ({recognizer})", measure,
                                          fillers=args.plot or None)
            written += save_figure(fig, f"{measure}_{stem}_{recognizer}", args.figures)
    written += result.get("gallery", [])
    print(f"wrote {', '.join(str(p) for p in result['paths'] + written)}")
    return 0


def _cmd_evaluate_tsne(args) -> int:
    from .evaluation.occluded import canonical_spec
    from .evaluation.tsne import load_subjects, run_tsne, write_tsne
    from .figures import plot_tsne_panels, save_figure
    from .paths import results_dir

    _check_outputs(args, output="folder", figures="folder")
    subjects = load_subjects(args.dataset, args.root, min_images=args.min_images, max_people=args.people,
                             images_per_person=args.images, seed=args.seed)
    spec = canonical_spec(args.spec)
    conditions = run_tsne(args.recognizer, subjects, spec, args.fillers, seed=args.seed)
    for condition in conditions:
        print(f"{condition.name:10s} silhouette {condition.silhouette:6.3f}  "
              f"nearest-centroid accuracy {100 * condition.nc_accuracy:6.2f} %")
    slug = "".join(c if c.isalnum() else "-" for c in spec)
    stem = f"tsne_{args.dataset}_{args.recognizer}_{slug}"
    config = {"dataset": args.dataset, "recognizer": args.recognizer, "spec": spec, "fillers": args.fillers,
              "people": args.people, "images": args.images, "min_images": args.min_images, "seed": args.seed}
    paths = write_tsne(conditions, subjects, args.output or results_dir() / "tsne", stem, config)
    fig = plot_tsne_panels(conditions, subjects.names,
                           title=f"t-SNE of {args.recognizer} embeddings, {args.dataset}, {spec}")
    figures = save_figure(fig, stem, args.figures)
    print(f"wrote {paths[0]} and {figures[0]}")
    return 0


def _cmd_train(args) -> int:
    from .config import parse_overrides
    from .training.stages import DEFAULT_CONFIG, run_training

    _check_inputs(args, "config", "resume")
    _check_outputs(args, output="folder")
    summary = run_training(args.config or DEFAULT_CONFIG, profile=args.profile, stage=args.stage,
                           resume=args.resume, half=args.half, output=args.output,
                           overrides=parse_overrides(args.set))
    if summary["status"] != "done":
        print(f"error: {summary.get('error')}", file=sys.stderr)
        return 1
    print(f"run folder {summary['run_dir']}; final checkpoint {summary.get('final_checkpoint')}")
    return 0


def _cmd_export(args) -> int:
    from .inpaint import checkpoint_card, export_checkpoint, training_runs
    from .runinfo import write_json

    _check_inputs(args, "checkpoint")
    training_runs(args.runs)  # a wrong folder fails before anything is written
    _check_outputs(args, output="file")
    target = export_checkpoint(args.checkpoint, args.output, ca_only=args.ca_only)
    notes = dict(note.split("=", 1) for note in args.note)
    card = write_json(Path(target).with_suffix(".json"), checkpoint_card(target, args.runs, notes))
    print(f"wrote {target} and {card}")
    return 0


def _note(text: str) -> str:
    if "=" not in text or not text.split("=", 1)[0]:
        raise argparse.ArgumentTypeError(f"--note takes KEY=TEXT, got {text!r}")
    return text


def _override(text: str) -> str:
    from .config import parse_overrides

    try:
        parse_overrides([text])
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _cmd_inpaint(args) -> int:
    from .inpaint import inpaint_file

    _check_inputs(args, "image", "mask", "checkpoint")
    _check_outputs(args, output="image")
    _check_device(args.device)
    info = inpaint_file(args.checkpoint, args.image, args.mask, args.output, blend_method=args.blend,
                        device=args.device)
    if info.get("nothing_to_fill"):
        print(f"{args.mask}: nothing to fill (the mask has no 255 pixels); wrote the input unchanged to "
              f"{info['output']}")
        return 0
    notes = [", aligned first"] if info.get("aligned") else []
    if info.get("uncovered"):
        notes.append(f"; {info['uncovered']} hole pixels outside the face crop left as they were")
    notes += [f"; {note}" for note in info.get("notes", [])]
    print(f"wrote {info['output']} ({info['kind']}{''.join(notes)})")
    return 0


def _add_lfw_evaluation_options(parser, results: str) -> None:
    """Options every LFW evaluation subcommand shares."""
    parser.add_argument("--folds", type=int, nargs="*", default=None, help="only these folds (1..10)")
    parser.add_argument("--aligned", default=None, help="aligned LFW folder (default data/lfw-112)")
    parser.add_argument("--lfw-root", default=None, help="LFW root holding pairs.txt (default: registry)")
    parser.add_argument("--output", default=None, help=f"results (default {results})")
    parser.add_argument("--figures", default=None, help="figure folder (default figures/)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for dlib's ResNet")


def _add_debug(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """``--debug`` on the command and on every subcommand (so it works before or after them)."""
    parser.add_argument("--debug", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="on an error, show the full traceback instead of one line")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _add_debug(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="idinpaint", description=__doc__.split("\n\n")[0],
                     epilog="Errors are one line `error: <file or option>: <reason>` (exit status 2); "
                            "--debug shows the traceback.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("preprocess", help="raw photos -> 112x112 ArcFace-aligned crops (YuNet)")
    p.add_argument("--root", required=True, help="folder of raw photos")
    p.add_argument("--output_dir", "--output-dir", required=True, help="where crops, landmarks.csv, failures.csv go")
    p.add_argument("--has_subdirs", "--has-subdirs", action="store_true", help="one sub-folder per identity")
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)), help="parallel processes")
    p.add_argument("--size", type=int, default=112, help="crop size (template scales with it)")
    p.add_argument("--limit", type=int, default=None, help="only the first N images (sorted)")
    p.set_defaults(func=_cmd_preprocess)

    p = commands.add_parser("evaluate", help="verification on LFW View-2")
    targets = p.add_subparsers(dest="target", required=True)
    q = targets.add_parser("lfw", help="clean LFW 10-fold verification")
    q.add_argument("--recognizer", choices=("sface", "dlib"), default="sface")
    _add_lfw_evaluation_options(q, "results/lfw_clean/<recognizer>.json")
    q.set_defaults(func=_cmd_evaluate_lfw, root_option="--lfw-root")

    p = commands.add_parser("datasets", help="list known datasets and whether they are found")
    p.set_defaults(func=_cmd_datasets)

    p = commands.add_parser("notebooks", help="execute the workbook's notebooks with papermill")
    actions = p.add_subparsers(dest="action", required=True)
    q = actions.add_parser("run", help="run notebooks in order for a profile")
    q.add_argument("--profile", choices=("smoke", "cpu", "paper"), default="smoke")
    q.add_argument("--only", nargs="*", default=None, help="notebook numbers, e.g. 00 04")
    q.add_argument("--output-dir", default=None, help="executed copies (default results/notebooks/<profile>)")
    q.set_defaults(func=_cmd_notebooks)

    p = commands.add_parser("prepare", help="aligned crops -> occluded (and inpainted) copies + masks on disk",
                            description="Write occluded copies of an aligned folder: <output>/<rel>.png (filled "
                                        "by --filler when not none) and <output>/masks/<rel>.png (255 = hole). "
                                        "Resumable (finished files are skipped); unreadable inputs are listed in "
                                        "<output>/failures.csv.")
    p.add_argument("--input", required=True, help="aligned folder (e.g. data/lfw-112)")
    p.add_argument("--output", required=True, help="where occluded images, masks/, failures.csv, prepare.json go")
    p.add_argument("--mode", required=True,
                   help="region:<name> | random_part | random_block[:size] | free_form | maskthface[:template]")
    p.add_argument("--fill", choices=("black", "gray", "white", "noise", "occluder"), default=None,
                   help="what the hole is painted with (default black; maskthface: the occluder's own pixels)")
    p.add_argument("--filler", default="none", help="none | telea | ns | mean_face (or a registered filler)")
    p.add_argument("--mean-face", default=None, help="saved mean face .npy for --filler mean_face "
                                                     "(default: fitted on LFW people in no View-2 pair)")
    p.add_argument("--seed", type=int, default=0, help="base seed of random masks / noise (0 = the evaluation's pixels)")
    p.add_argument("--limit", type=int, default=None, help="only the first N images (sorted)")
    p.set_defaults(func=_cmd_prepare, root_option=None)

    q = targets.add_parser("occluded", help="LFW with occluded (and filled) second images, per region and filler",
                           description="Occlude the second image of every View-2 pair in memory, fill it, and "
                                       "score; writes <output>/lfw_occluded_<recognisers>[_foldsN].csv/.json/_scores.npz and "
                                       "ROC-per-region, radar and similarity-gap figures. Exit status 1 when a "
                                       "condition failed (the others are still written).")
    q.add_argument("--recognizers", nargs="+", choices=("sface", "dlib"), default=["sface"], help="recognisers to score with")
    q.add_argument("--regions", nargs="+", default=["all"], help="protocol regions (e.g. two_eyes nose mouth) or all")
    q.add_argument("--fills", nargs="+", choices=("black", "gray", "white", "noise"), default=["black"],
                   help="hole fills; every region is occluded with each; fillers (which never read the "
                        "hole) run on the first fill only")
    q.add_argument("--fillers", nargs="+", default=["none", "telea", "mean_face"],
                   help="fillers (none is always included: the occluded baseline of the recovery ratio)")
    q.add_argument("--specs", nargs="*", default=[], help="extra occlusion specs, e.g. maskthface:surgical random_block:48@gray")
    q.add_argument("--mean-face-count", type=int, default=300, help="non-pair crops the mean face is fitted on")
    _add_lfw_evaluation_options(q, "results/lfw_occluded/")
    q.set_defaults(func=_cmd_evaluate_occluded, root_option="--lfw-root")

    q = targets.add_parser("report", help="markdown tables (accuracy, gap, headline, paired fold test) of saved runs",
                           description="Combine saved `evaluate occluded` runs (later runs win for a condition "
                                       "in several) and print the README's tables: accuracy and similarity gap per "
                                       "region and method, the headline means, and the method against each "
                                       "baseline with an exact sign-flip test over the 10 folds.")
    q.add_argument("runs", nargs="+", help="saved runs as FOLDER/STEM (e.g. results/lfw_occluded/lfw_occluded_dlib) "
                                           "or a bare STEM in results/lfw_occluded/; STEM:OLD=NEW renames a filler "
                                           "of that run (e.g. :ca_id=ca_id_v1, to compare two models)")
    q.add_argument("--method", default="ca_id", help="the filler judged against the baselines")
    q.add_argument("--baselines", nargs="+", default=["none", "gray:none", "telea", "donor"],
                   help="fillers on the same fill, or FILL:FILLER (gray:none = the gray-filled face)")
    q.add_argument("--output", default=None, help="write the markdown here instead of printing it")
    q.add_argument("--figures", default=None, help="also draw the combined runs' radar, ROC and similarity-gap "
                                                   "figures per recogniser into this folder (e.g. figures)")
    q.set_defaults(func=_cmd_evaluate_report)

    q = targets.add_parser("retention", help="identity kept after occlusion + fill, on training splits' held-out crops",
                           description="Mean cosine between a recogniser's embeddings of the filled and the clean "
                                       "face, per region, on the validation crops `idinpaint train --half H` holds "
                                       "out (people in neither the model's training set nor its test pairs): for "
                                       "decisions the test pairs must not make. Writes <output>/retention.json/.md.")
    q.add_argument("--recognizers", nargs="+", choices=("sface", "dlib"), default=["dlib"])
    q.add_argument("--fillers", nargs="+", default=["none", "telea", "ca_id"],
                   help="fillers, or FILL:FILLER (gray:none = the gray-filled face); ca / ca_id use each half's model")
    q.add_argument("--models", nargs="*", default=None,
                   help="LABEL=FOLDER with idinpainter_cpu_half{A,B}.pt (default: the shipped pair); "
                        "several give ca_id@LABEL columns")
    q.add_argument("--compare", nargs="*", default=[], help="METHOD,BASELINE labels compared face by face")
    q.add_argument("--halves", nargs="+", choices=("A", "B"), default=["A", "B"])
    q.add_argument("--regions", nargs="+", default=["all"], help="protocol regions or all")
    q.add_argument("--val-images", type=int, default=64, help="the training split's data.val_images")
    q.add_argument("--seed", type=int, default=0, help="the training split's seed")
    q.add_argument("--aligned", default=None, help="aligned LFW folder (default data/lfw-112)")
    q.add_argument("--lfw-root", default=None, help="LFW root holding pairs.txt (default: registry)")
    q.add_argument("--output", default=None, help="results folder (default results/retention)")
    q.add_argument("--figures", default=None, help="figure folder (default figures/)")
    q.add_argument("--plot", nargs="*", default=None, help="labels drawn in the figures (default all)")
    q.add_argument("--gallery", type=int, default=0, metavar="N",
                   help="also draw N held-out faces (hardest three regions) with every filler and its realism")
    q.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for dlib's ResNet")
    q.set_defaults(func=_cmd_evaluate_retention, root_option="--lfw-root")

    q = targets.add_parser("tsne", help="t-SNE of clean / occluded / filled embeddings with silhouette and NC accuracy",
                           description="Embed a fixed set of people (default: LFW people with >= 20 crops) clean, "
                                       "occluded and filled; writes results/tsne/<stem>.json/.npz and a t-SNE "
                                       "figure whose panel titles give silhouette (cosine) and leave-one-out "
                                       "nearest-centroid accuracy.")
    q.add_argument("--recognizer", choices=("sface", "dlib"), default="sface")
    q.add_argument("--dataset", choices=("lfw", "facescrub"), default="lfw", help="whose faces to map")
    q.add_argument("--root", default=None, help="aligned folder of the dataset (default: data/lfw-112 / registry)")
    q.add_argument("--spec", default="region:two_eyes@black", help="occlusion spec of the occluded condition")
    q.add_argument("--fillers", nargs="+", default=["telea", "mean_face"], help="fillers to map besides none")
    q.add_argument("--people", type=int, default=12, help="how many people")
    q.add_argument("--images", type=int, default=20, help="images per person")
    q.add_argument("--min-images", type=int, default=20, help="only people with at least this many images")
    q.add_argument("--seed", type=int, default=0, help="choice of people/images, occlusion and t-SNE seed")
    q.add_argument("--output", default=None, help="results folder (default results/tsne)")
    q.add_argument("--figures", default=None, help="figure folder (default figures/)")
    q.set_defaults(func=_cmd_evaluate_tsne)

    p = commands.add_parser("train", help="staged training of the CA inpainter and the identity-guided Fusor",
                            description="Run a profile's stages from config/train.yaml (Lightning). Re-running "
                                        "the same command resumes: finished stages are skipped, an unfinished "
                                        "one continues from its last.ckpt. Exit status 1 when a stage stopped "
                                        "on a non-finite loss (its last good checkpoint is kept).")
    p.add_argument("--config", default=None, help="training YAML (default config/train.yaml)")
    p.add_argument("--profile", default="smoke",
                   help="a profile of the YAML: smoke, cpu, paper, or cpu_v1 (the superseded first cpu recipe; default smoke)")
    p.add_argument("--stage", default=None, help="run only this stage (it starts from the previous stage's checkpoint)")
    p.add_argument("--resume", default=None, help="resume the stage this checkpoint belongs to, then run the later ones")
    p.add_argument("--half", choices=("A", "B"), default=None,
                   help="LFW half the model is evaluated on (A: folds 1-5, B: 6-10); it trains on the other "
                        "half's people + the unpaired people")
    p.add_argument("--output", default=None, help="run folder (default results/train/<profile>_half<H>)")
    p.add_argument("--set", nargs="+", type=_override, default=[], metavar="KEY=VALUE",
                   help="override config values (YAML), e.g. --set trainer.accelerator=gpu data.num_workers=8")
    p.set_defaults(func=_cmd_train, root_option=None)

    p = commands.add_parser("export", help="a training checkpoint -> a small inference file + its JSON card",
                            description="Write an inference-only inpainter (kind, network configs, weights) "
                                        "and, beside it, <output>.json: its SHA-256 and, for each run folder "
                                        "given, the command, git SHA, versions, machine, config and stages.")
    p.add_argument("--checkpoint", required=True, help="last.ckpt / best.ckpt of a stage, or an exported .pt")
    p.add_argument("--output", required=True, help="the .pt to write")
    p.add_argument("--runs", nargs="*", default=[], metavar="RUN_DIR[:STAGE,...]",
                   help="the training run folder(s) that made it, in training order; :STAGE,... keeps "
                        "only those stages (e.g. the CA stage of the run a Fusor was trained on)")
    p.add_argument("--ca-only", action="store_true", help="keep only the CA (kind ca)")
    p.add_argument("--note", nargs="*", type=_note, default=[], metavar="KEY=TEXT", help="free fields of the card")
    p.set_defaults(func=_cmd_export)

    p = commands.add_parser("inpaint", help="fill the hole of one image with a trained checkpoint",
                            description="Fill the hole (mask PNG, 255 = hole, same size as the image) with a "
                                        "ca or ca_id checkpoint. A photo that is not a 112x112 aligned crop is "
                                        "aligned first (YuNet) and the fill is warped back into the photo; a "
                                        "112x112 image must show a face. An all-zero mask writes the image "
                                        "unchanged; a hole over 90 % of the image is refused; a gray photo gets "
                                        "a gray result.")
    p.add_argument("--checkpoint", required=True, help="last.ckpt / best.ckpt / inpainter.pt of a training run")
    p.add_argument("--image", required=True)
    p.add_argument("--mask", required=True, help="single-channel PNG, 255 = hole")
    p.add_argument("--output", required=True)
    p.add_argument("--blend", choices=("poisson", "alpha", "none"), default="alpha",
                   help="how the fill is blended into the hole (default alpha, chosen on held-out crops; "
                        "poisson = Poisson image editing, solved exactly)")
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")
    p.set_defaults(func=_cmd_inpaint)
    _add_debug(parser, top=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EXPECTED_ERRORS as err:
        if args.debug:
            raise
        print(f"error: {_error_line(err, getattr(args, 'root_option', '--root'))}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
