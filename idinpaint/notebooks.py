"""The papermill runner: executes the workbook's notebooks in order for a profile.

Each notebook gets ``profile=<name>`` as a parameter (its ``parameters`` cell reads the rest from
``config/profiles.yaml``), runs with kernel ``python3`` in the repository root, and its executed
copy goes to ``results/notebooks/<profile>/`` (git-ignored); smoke-profile figures go to
``results/notebooks/smoke/figures/`` so they never overwrite the full-protocol ones in ``figures/``. A timing table is printed at the end;
the exit status is non-zero when any notebook failed (the others still run).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from .paths import REPO_ROOT, results_dir

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def list_notebooks(only: list[str] | None = None) -> list[Path]:
    notebooks = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = {str(x).zfill(2) for x in only}
        notebooks = [nb for nb in notebooks if nb.name[:2] in wanted]
        missing = wanted - {nb.name[:2] for nb in notebooks}
        if missing:
            raise ValueError(f"no notebook numbered {', '.join(sorted(missing))} in {NOTEBOOKS_DIR}")
    return notebooks


def _execute_all(notebooks: list[Path], output_dir: Path, profile: str, parameters: dict | None):
    import papermill

    timings = []
    for notebook in notebooks:
        started = time.time()
        status = "ok"
        try:
            papermill.execute_notebook(
                str(notebook), str(output_dir / notebook.name), kernel_name="python3",
                parameters={"profile": profile, **(parameters or {})}, cwd=str(REPO_ROOT),
                progress_bar=False, log_output=False)
        except Exception as err:  # keep going: report every failing notebook at the end
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            status = f"FAILED: {first_line[:160]}"
        timings.append((notebook.name, time.time() - started, status))
        print(f"{notebook.name:34s} {timings[-1][1]:7.1f} s  {status}", flush=True)
    return timings


def run_notebooks(profile: str = "smoke", only: list[str] | None = None, output_dir=None,
                  parameters: dict | None = None) -> int:
    output_dir = Path(output_dir or results_dir() / "notebooks" / profile)
    output_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PAPERMILL_EXECUTION", "1")  # throttles progress bars inside notebooks
    previous_figures = os.environ.get("IDINPAINT_FIGURES")
    if profile == "smoke":
        # Smoke figures come from a small subset: keep them out of figures/, which holds the
        # full-protocol figures the README shows. Restored afterwards (kernels inherit it).
        os.environ["IDINPAINT_FIGURES"] = str(output_dir / "figures")
    try:
        timings = _execute_all(list_notebooks(only), output_dir, profile, parameters)
    finally:
        if previous_figures is None:
            os.environ.pop("IDINPAINT_FIGURES", None)
        else:
            os.environ["IDINPAINT_FIGURES"] = previous_figures
    total = sum(t for _, t, _ in timings)
    print(f"\n{'notebook':34s} {'seconds':>9s}  status")
    for name, seconds, status in timings:
        print(f"{name:34s} {seconds:9.1f}  {status}")
    print(f"{'total':34s} {total:9.1f}  (executed copies in {output_dir})")
    return 1 if any(status != "ok" for _, _, status in timings) else 0
