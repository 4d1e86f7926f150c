"""What every command module shares: the parser class, the one error wrapper, option builders
(one name per concept, old spellings as hidden aliases) and the checks run before any work.

The checks are light (paths, YAML, the registries' names): a command runs them before it imports
torch, OpenCV, dlib, scikit-learn, matplotlib or Lightning, inside its function, so that a wrong
path, option or key is one ``error:`` line in well under 2 s (``benchmarks/bench_errors.py``)."""
from __future__ import annotations

import argparse
import copy
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from idinpaint.paths import check_output_path, file_problem


class CLIError(Exception):
    """A bad option or input found by the CLI itself; the message is the one error line."""


#: What :func:`run_command` reports as one line. OSError covers DatasetError, FileNotFoundError and
#: PermissionError; ValueError covers CheckpointError, BadImageError, NoFaceError and
#: PairsFormatError; RuntimeError: torch devices and missing packaged models.
EXPECTED_ERRORS = (CLIError, OSError, ValueError, KeyError, RuntimeError)


def run_command(args: argparse.Namespace) -> int:
    """The one error-to-exit-code wrapper: the handler's status, or 2 and one ``error:`` line on
    stderr for an expected failure (``--debug`` re-raises it, traceback and all). Ctrl-C or SIGTERM:
    one line saying how far it got and to run the command again (it resumes), exit status 130 / 143."""
    from idinpaint.progress import handle_interrupts, interrupt_line, interrupt_status, interrupted

    with handle_interrupts():
        try:
            return int(args.func(args) or 0)
        except EXPECTED_ERRORS as err:
            if args.debug:
                raise
            print(f"error: {error_line(err, getattr(args, 'root_option', None))}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            if args.debug:
                raise
            print(interrupt_line(), file=sys.stderr, flush=True)
            return interrupt_status()
        except SystemExit:  # Lightning ends an interrupted fit with sys.exit(1)
            if not interrupted() or args.debug:
                raise
            print(interrupt_line(), file=sys.stderr, flush=True)
            return interrupt_status()


def error_line(err: BaseException, root_option: str | None) -> str:
    """One line for ``err``; the registry's generic "pass --root" hint names this command's option
    (``root_option``, set by the option builder that resolves the dataset), or goes."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        text = f"{err.filename}: {err.strerror}"  # e.g. PermissionError from open()
    elif isinstance(err, KeyError) and err.args:
        text = str(err.args[0])
    else:
        text = str(err)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()] or [type(err).__name__]
    line = lines[0] + (" (--debug shows the rest)" if len(lines) > 1 else "")
    return line.replace(" or pass --root", f" or pass {root_option}" if root_option else "")


# --- parser ----------------------------------------------------------------------------------------

class _HelpFormatter(argparse.HelpFormatter):
    """Shows an option under its canonical name only: old spellings parse but are not advertised."""

    def _format_action_invocation(self, action):
        if getattr(action, "hidden_aliases", ()):
            action = copy.copy(action)
            action.option_strings = action.option_strings[:1]
        return super()._format_action_invocation(action)


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one ``error:`` line too (naming options canonically)."""

    def __init__(self, *args, formatter_class=_HelpFormatter, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)

    def error(self, message: str):
        for action in self._actions:  # argparse names an option by all its strings: "--raw/--root"
            if getattr(action, "hidden_aliases", ()):
                message = message.replace("/".join(action.option_strings), action.option_strings[0])
        message = message.removeprefix("argument ")
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def add_command(subparsers, name: str, handler, help: str, **defaults) -> argparse.ArgumentParser:
    """A subcommand running ``handler``; its ``--help`` description is the handler's docstring."""
    parser = subparsers.add_parser(name, help=help, description=handler.__doc__)
    parser.set_defaults(func=handler, **defaults)
    return parser


def add_option(parser, name: str, *aliases: str, **kwargs) -> argparse.Action:
    """``parser.add_argument(name, ...)`` plus old spellings (``aliases``) that still parse to the
    same ``dest`` but stay out of ``--help``; kept for one release."""
    action = parser.add_argument(name, *aliases, **kwargs)
    action.hidden_aliases = aliases
    return action


def add_recipe(parser, default: str, help: str) -> None:
    """``--recipe NAME``: a training recipe of ``config/train.yaml``. ``--profile``, its older spelling,
    still works (:func:`recipe_of` says so in one line); run profiles are ``config/profiles.yaml``."""
    parser.add_argument("--recipe", default=None, metavar="NAME", help=f"{help} (default {default})")
    parser.add_argument("--profile", dest="old_recipe", default=None, help=argparse.SUPPRESS)
    parser.set_defaults(default_recipe=default)


def recipe_of(args) -> str:
    """The recipe ``--recipe`` names, or the older ``--profile`` with a one-line note on stderr."""
    if getattr(args, "old_recipe", None):
        if args.recipe and args.recipe != args.old_recipe:
            raise CLIError(f"--recipe {args.recipe} and --profile {args.old_recipe}: give --recipe only")
        print(f"note: --profile is now --recipe (a training recipe of config/train.yaml; run profiles are "
              f"config/profiles.yaml): using --recipe {args.old_recipe}", file=sys.stderr)
        return args.old_recipe
    return args.recipe or args.default_recipe


class Choices(Sequence):
    """Names read from a registry on first use (a value to check, a subcommand's ``--help``), not when
    the parser is built: the registries import numpy / OpenCV, and ``idinpaint --help`` stays fast.
    Give such an option a ``metavar`` (argparse would list the choices while building) and put
    ``%(choices)s`` in its help."""

    def __init__(self, module: str, *names: str, extra: tuple[str, ...] = (), member: str | None = None):
        self._module, self._names, self._extra, self._member = module, names, extra, member
        self._loaded: tuple[str, ...] | None = None

    def _registry(self):
        return importlib.import_module(f"idinpaint.{self._module}")

    def _all(self) -> tuple[str, ...]:
        if self._loaded is None:
            module = self._registry()
            values = [getattr(module, name) for name in self._names]
            names = [v for value in values for v in ([value] if isinstance(value, str) else value)]
            self._loaded = tuple(dict.fromkeys([*names, *self._extra]))
        return self._loaded

    def __getitem__(self, index):
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __contains__(self, value) -> bool:
        if self._member is not None and value not in self._extra:  # a registry's own test of a name
            return bool(getattr(self._registry(), self._member)(value))
        return value in self._all()


RECOGNIZERS = Choices("recognizers", "RECOGNIZERS")
REGIONS = Choices("occlusion", "REGION_NAMES", extra=("all",))
FILLS = Choices("occlusion", "FILLS")
#: A name is checked by the registry's own ``is_filler_name`` (which also knows fillers that register
#: themselves on first use, so that their torch models load only then).
FILLERS = Choices("fillers", "FILLERS", member="is_filler_name")
BLENDS = Choices("blending", "BLENDS")
HALVES = Choices("data.lfw", "HALF_FOLDS")


# --- shared options: one name per concept ----------------------------------------------------------

def add_aligned(parser, *aliases: str, required: bool = False,
                help: str = "aligned LFW folder (default data/lfw-112)") -> None:
    add_option(parser, "--aligned", *aliases, required=required, default=None, metavar="DIR", help=help)


def add_recognizers(parser, default: list[str], help: str = "recognizers to score with") -> None:
    add_option(parser, "--recognizers", "--recognizer", nargs="+", choices=RECOGNIZERS, default=default,
               metavar="NAME", help=f"{help}: %(choices)s (default: {' '.join(default)})")


def add_regions(parser) -> None:
    parser.add_argument("--regions", nargs="+", choices=REGIONS, default=["all"], metavar="REGION",
                        help="protocol regions: %(choices)s")


def add_fillers(parser, *aliases: str, default: list[str], help: str, nargs: str | int = "+") -> None:
    """``--fillers NAME ...``: registered filler names (``help`` may use ``%(choices)s``)."""
    add_option(parser, "--fillers", *aliases, nargs=nargs, choices=FILLERS, default=default, metavar="NAME", help=help)


def add_output_dir(parser, *aliases: str, default: str | None = None, help: str = "results folder") -> None:
    """``--output DIR``: always a folder (a command that writes one file has ``--output-file``);
    ``default`` only describes where the handler writes without it, ``None``: the option is required."""
    add_option(parser, "--output", *aliases, required=default is None, default=None, metavar="DIR",
               help=help if default is None else f"{help} (default {default})")


def add_output_file(parser, help: str, required: bool = False) -> None:
    """``--output-file FILE`` for a command's one written file (``--output FILE`` before)."""
    add_option(parser, "--output-file", "--output", required=required, default=None, metavar="FILE", help=help)


def add_figures(parser, help: str = "figure folder (default results/figures; --figures figures updates the README's)") -> None:
    parser.add_argument("--figures", default=None, metavar="DIR", help=help)


def add_lfw_root(parser) -> None:
    parser.add_argument("--lfw-root", default=None, metavar="DIR",
                        help="LFW root holding pairs.txt (default: registry)")
    parser.set_defaults(root_option="--lfw-root")


def add_lfw_options(parser, results: str, folds: bool = True) -> None:
    """Options every LFW evaluation subcommand shares."""
    if folds:
        parser.add_argument("--folds", type=int, nargs="*", default=None, help="only these folds (1..10)")
    add_aligned(parser)
    add_lfw_root(parser)
    add_output_dir(parser, default=results)
    add_figures(parser)
    add_workers(parser)


def check_pairs(args) -> None:
    """A missing or broken pairs.txt fails here, before any recognizer or model is loaded."""
    from idinpaint.data.lfw import load_pairs

    load_pairs(args.lfw_root, getattr(args, "folds", None))


def add_workers(parser, help: str = "processes for dlib's ResNet") -> None:
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help=help)


def add_limit(parser) -> None:
    parser.add_argument("--limit", type=int, default=None, help="only the first N images (sorted)")


def add_debug(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """``--debug`` on the command and on every subcommand (so it works before or after them)."""
    parser.add_argument("--debug", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="on an error, show the full traceback instead of one line")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                add_debug(sub)


# --- checks before any work ------------------------------------------------------------------------

def check_inputs(args, *options: str) -> None:
    """Name the option of an input file that is not there (the readers then check what is in it)."""
    for option in options:
        value = getattr(args, _dest(option), None)
        if value is not None and not Path(value).is_file():
            reason = "is a folder, not a file" if Path(value).is_dir() else "no such file"
            raise CLIError(f"{option} {value}: {reason}")


def check_photos(*paths) -> None:
    """A photo that is not there, a folder or an empty file is the one line its reader would give
    (``PHOTO: file not found``), found before the command imports its models (None: not given)."""
    for path in paths:
        problem = file_problem(path) if path is not None else None
        if problem:
            raise CLIError(f"{path}: {problem}")


def check_outputs(args, **kinds: str) -> None:
    """Fail before any work when an output option cannot be written. Keywords are options' dests,
    values their kind (image, file or folder)."""
    for dest, kind in kinds.items():
        value = getattr(args, dest, None)
        if value is not None:
            try:
                check_output_path(value, kind)
            except ValueError as err:
                raise CLIError(f"--{dest.replace('_', '-')} {err}") from None


def _dest(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


def check_device(device: str | None) -> None:
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


def require_aligned(folder) -> Path:
    """``folder`` when it holds aligned crops (a ``landmarks.csv``), else the error saying how to make them."""
    aligned = Path(folder)
    if (aligned / "landmarks.csv").is_file():
        return aligned
    raise CLIError(f"{aligned}: no aligned LFW here (no landmarks.csv); pass --aligned <folder of crops> or run "
                   f"`idinpaint preprocess --raw <lfw>/raw --aligned {aligned} --has-subdirs` first")


def report_batch(report, output_dir, shown: int = 20) -> int:
    """A batch job's summary and its first failures (all of them are in <output_dir>/failures.csv)."""
    print(report.summary())
    for path, reason in report.failures[:shown]:
        print(f"  failed: {path}: {reason}")
    if len(report.failures) > shown:
        print(f"  ... {len(report.failures) - shown} more in {Path(output_dir) / 'failures.csv'}")
    return 0


def override_arg(text: str) -> str:
    """argparse type of ``--set KEY=VALUE``: checked when the command line is read."""
    from idinpaint.config import parse_overrides

    try:
        parse_overrides([text])
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text
