"""The papermill runner: executes the workbook's notebooks in order for a profile.

Each notebook gets ``profile=<name>`` as a parameter (its ``parameters`` cell reads the rest from
``config/profiles.yaml``; a profile's ``notebook_parameters`` block can pass a notebook more, e.g. the
smoke profile's smaller galleries), runs with kernel ``python3`` in the repository root, and its executed
copy goes to ``results/notebooks/<profile>/`` (git-ignored). Figures go to
``results/notebooks/<profile>/figures/`` too, so a run never overwrites the tracked ``figures/`` the
README shows; ``publish=True`` (``idinpaint notebooks run --publish``) writes them to ``figures/``
instead (refused for the smoke profile, whose figures come from a small subset). A timing table is
printed at the end; the exit status is non-zero when any notebook failed (the others still run).

Progress output inside the kernels is quiet because they are kernels without a terminal
(:mod:`idinpaint.progress`), not because of a variable this runner sets: JupyterLab and plain
papermill get the same output.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from idinpaint.config import load_profile
from idinpaint.paths import REPO_ROOT, results_dir

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


def _kernel_config(folder: Path):
    """Kernels talk to the runner over local IPC sockets in ``folder`` (private to this run): no
    network ports, and no "running over TCP without encryption" warning from every kernel."""
    from traitlets.config import Config

    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(folder / "kernel")
    return config


def notebook_parameters(profile: str, notebook: Path, parameters: dict | None = None) -> dict:
    """The papermill parameters of one notebook: ``profile``, then what the profile's
    ``notebook_parameters`` block gives this notebook (keyed by file stem, e.g. ``03_inpaint_gallery``,
    or by its number, ``"03"``), then ``parameters`` (every notebook)."""
    per_notebook = load_profile(profile).get("notebook_parameters") or {}
    own = {**per_notebook.get(notebook.name[:2], {}), **per_notebook.get(notebook.stem, {})}
    return {"profile": profile, **own, **(parameters or {})}


def _execute_all(notebooks: list[Path], output_dir: Path, profile: str, parameters: dict | None):
    import tempfile

    import papermill

    timings = []
    for notebook in notebooks:
        started = time.time()
        status = "ok"
        try:
            with tempfile.TemporaryDirectory(prefix="idinpaint-kernel-") as sockets:
                papermill.execute_notebook(
                    str(notebook), str(output_dir / notebook.name), kernel_name="python3",
                    parameters=notebook_parameters(profile, notebook, parameters), cwd=str(REPO_ROOT),
                    progress_bar=False, log_output=False, config=_kernel_config(Path(sockets)))
        except Exception as err:  # keep going: report every failing notebook at the end
            status = f"FAILED: {failure_line(err)}"
            print(f"{notebook.name}: {failure_line(err, 400)} (executed copy: {output_dir / notebook.name})",
                  file=sys.stderr, flush=True)
        timings.append((notebook.name, time.time() - started, status))
        print(f"{notebook.name:34s} {timings[-1][1]:7.1f} s  {status}", flush=True)
    return timings


def failure_line(err: Exception, width: int = 160) -> str:
    """The one line that says why a notebook failed: the cell's exception (``NotReadyError: ...``),
    not papermill's banner, which is the first line of its message."""
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    if ename:
        lines = [line.strip() for line in str(evalue or "").splitlines() if line.strip()]
        text = f"{ename}: {lines[0]}" if lines else ename
    else:
        lines = [line.strip() for line in str(err).splitlines() if line.strip() and not set(line.strip()) <= set("-=")]
        text = lines[0] if lines else type(err).__name__
    return text if len(text) <= width else text[: width - 3] + "..."


def _write_timings(path: Path, profile: str, publish: bool, timings) -> None:
    import json

    path.write_text(json.dumps({
        "profile": profile, "publish": publish, "total_seconds": round(sum(t for _, t, _ in timings), 1),
        "notebooks": [{"notebook": name, "seconds": round(seconds, 1), "status": status}
                      for name, seconds, status in timings]}, indent=2) + "\n")


def run_notebooks(profile: str = "smoke", only: list[str] | None = None, output_dir=None,
                  parameters: dict | None = None, publish: bool = False) -> int:
    if publish and profile == "smoke":
        raise ValueError("the smoke profile's figures come from a small subset of LFW: publishing them "
                         "would overwrite the full-protocol figures in figures/ (use --profile cpu or paper)")
    output_dir = Path(output_dir or results_dir() / "notebooks" / profile)
    notebooks = list_notebooks(only)  # an unknown number fails here, before anything is written
    output_dir.mkdir(parents=True, exist_ok=True)
    # Kernels inherit this process's environment: say where figures go, whatever the caller's shell has.
    kernel_env = {"IDINPAINT_PUBLISH": "1" if publish else "0"}
    if not publish:
        kernel_env["IDINPAINT_FIGURES"] = str(Path(output_dir).resolve() / "figures")
    previous = {name: os.environ.get(name) for name in kernel_env}
    os.environ.update(kernel_env)
    try:
        timings = _execute_all(notebooks, output_dir, profile, parameters)
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    total = sum(t for _, t, _ in timings)
    print(f"\n{'notebook':34s} {'seconds':>9s}  status")
    for name, seconds, status in timings:
        print(f"{name:34s} {seconds:9.1f}  {status}")
    print(f"{'total':34s} {total:9.1f}  (executed copies in {output_dir})")
    _write_timings(output_dir / "timings.json", profile, publish, timings)
    return 1 if any(status != "ok" for _, _, status in timings) else 0
