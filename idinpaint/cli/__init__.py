"""``idinpaint`` — one console command, a subcommand per stage of the data flow.

Expected failures (missing or malformed data, bad paths or options, unreadable images, unusable
checkpoints, an unavailable device, unwritable outputs) end in one line on stderr,
``error: <file or option>: <reason and what to do>``, and exit status 2; ``--debug`` shows the
traceback instead.

One name per concept, on every command that has it:

* ``--aligned DIR``: a folder of aligned 112x112 crops (with its ``landmarks.csv``); ``preprocess``
  writes it, every other command reads it. ``--raw DIR`` is ``preprocess``'s folder of raw photos.
* ``--output DIR``: always a folder, where the command writes its results. A command that writes a
  single file (``evaluate report``, ``export``, ``inpaint``) names it ``--output-file FILE``.
* ``--recognizers NAME ...``, ``--fillers NAME ...``, ``--specs SPEC ...`` (occlusion specs such as
  ``region:two_eyes@black``): plural, taking one or more; commands loop over what they are given.
  ``prepare`` takes one spec and one filler per ``--output`` folder.
* Options are spelt with dashes (``--has-subdirs``).

Old spellings (``--root``, ``--input``, ``--output-dir``/``--output_dir``, ``--has_subdirs``,
``--recognizer``, ``--spec``, ``prepare --mode``/``--fill``/``--filler``, ``--output FILE``) still parse
to the same options for one release but are left out of ``--help``. Choices (recognizers, fillers,
regions, fills, blends, halves) come from the library's registries, read on first use so that
building the parser imports no numpy, OpenCV or torch. Each command checks its paths, options and
keys (light checks, :mod:`._common`) before it imports torch, OpenCV, dlib, scikit-learn, matplotlib
or Lightning inside its function: a wrong input is one line in well under 2 s
(``benchmarks/bench_errors.py``; ``tests/test_fast_errors.py`` checks that no such line waits for torch).

Modules: :mod:`._common` (parser, error wrapper, option builders, checks), :mod:`.data` (datasets,
preprocess, prepare), :mod:`.evaluate` (evaluate lfw/occluded/report; curves/retention/tsne in :mod:`.evaluate_models`), :mod:`.train`
(train, export), :mod:`.inpaint`, :mod:`.detector` (detector train/evaluate/protocol), :mod:`.recover` (recover), :mod:`.notebooks`;
each registers its subcommands with
``add_parser(subparsers)``.
"""
from __future__ import annotations

import argparse
import sys

from idinpaint.cli import data, detector, evaluate, inpaint, notebooks, recover, train
from idinpaint.cli._common import EXPECTED_ERRORS, CLIError, Parser, add_debug, run_command

#: Subcommand modules, in the order of the data flow (the order of ``idinpaint --help``).
COMMAND_MODULES = (data, evaluate, train, inpaint, detector, recover, notebooks)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="idinpaint", description=__doc__.split("\n\n")[0],
                     epilog="Errors are one line `error: <file or option>: <reason>` (exit status 2); "
                            "--debug shows the traceback.")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_parser(commands)
    add_debug(parser, top=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv))


__all__ = ["CLIError", "EXPECTED_ERRORS", "build_parser", "main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
