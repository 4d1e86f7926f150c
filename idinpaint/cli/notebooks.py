"""``idinpaint notebooks run``: execute the workbook's notebooks with papermill."""
from __future__ import annotations

from idinpaint.cli._common import add_command, add_output_dir


def add_parser(commands) -> None:
    p = commands.add_parser("notebooks", help="execute the workbook's notebooks with papermill")
    actions = p.add_subparsers(dest="action", required=True)
    q = add_command(actions, "run", _cmd_notebooks, "run notebooks in order for a profile")
    q.add_argument("--profile", choices=("smoke", "cpu", "paper"), default="smoke")
    q.add_argument("--only", nargs="*", default=None, help="notebook numbers, e.g. 00 04")
    add_output_dir(q, "--output-dir", default="results/notebooks/<profile>", help="executed copies")
    q.add_argument("--publish", action="store_true",
                   help="write the notebooks' figures to figures/ (the README's; cpu and paper profiles only); "
                        "by default they go to <output>/figures")


def _cmd_notebooks(args) -> int:
    from idinpaint.notebooks import run_notebooks

    return run_notebooks(profile=args.profile, only=args.only, output_dir=args.output, publish=args.publish)
