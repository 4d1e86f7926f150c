"""Where things live: the repository, shared datasets, generated data and results.

Every location can be overridden by an environment variable so the same code runs in a fresh
clone, in CI and on a user's machine that keeps datasets elsewhere.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def shared_dir() -> Path:
    """The read-only shared data folder (``../shared`` beside the checkout by default)."""
    return _env_path("IDINPAINT_SHARED", REPO_ROOT.parent / "shared")


def data_dir() -> Path:
    """Generated data (aligned crops, occluded copies, embedding caches); git-ignored."""
    return _env_path("IDINPAINT_DATA", REPO_ROOT / "data")


#: The aligned LFW crops under the data folder (what ``idinpaint preprocess`` writes by default).
ALIGNED_NAME = "lfw-112"


def aligned_folder(path=None) -> Path:
    """The aligned-crops folder a setting names, resolved one way everywhere (commands, notebooks,
    training configs, run folders): None -> ``<data>/lfw-112``; a relative path under ``data/`` (how
    configs name it, e.g. ``data/smoke/lfw-112``) -> the same place under :func:`data_dir`, so
    ``IDINPAINT_DATA`` moves it; any other relative path -> against the repository root; an absolute
    one as it is."""
    if path is None or str(path) == "":
        return data_dir() / ALIGNED_NAME
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    if path.parts[0] == "data":
        return data_dir().joinpath(*path.parts[1:])
    return REPO_ROOT / path


def results_dir() -> Path:
    """Run outputs (metrics JSON, executed notebooks, logs); git-ignored."""
    return _env_path("IDINPAINT_RESULTS", REPO_ROOT / "results")


#: The tracked figures the README and docs link (PNG + PDF with stable names).
PUBLISHED_FIGURES = REPO_ROOT / "figures"


def publishing(publish: bool | None = None) -> bool:
    """Whether figures go to the tracked :data:`PUBLISHED_FIGURES`: ``publish`` when given, else
    ``IDINPAINT_PUBLISH`` (``1``/``true``/``yes``; set by ``idinpaint notebooks run --publish``)."""
    if publish is not None:
        return bool(publish)
    return os.environ.get("IDINPAINT_PUBLISH", "").strip().lower() in ("1", "true", "yes", "on")


def figures_dir(publish: bool | None = None) -> Path:
    """Where figures are written: ``IDINPAINT_FIGURES`` when set; else the tracked ``figures/`` when
    publishing is asked for (``publish=True`` or ``IDINPAINT_PUBLISH=1``); else ``<results>/figures``
    (git-ignored), so a notebook run in JupyterLab or by plain papermill never overwrites a figure
    the README shows. Commands given a folder (``--figures``) write there."""
    explicit = os.environ.get("IDINPAINT_FIGURES")
    if explicit:
        return Path(explicit).expanduser().resolve()
    return PUBLISHED_FIGURES if publishing(publish) else results_dir() / "figures"


class NotReadyError(RuntimeError):
    """An input made by an earlier step (aligned crops, a training run, saved scores) is not there yet;
    the message names the file and the notebook or command that makes it. In a notebook it shows as
    that one line, not a traceback; from a command, as one ``error:`` line."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of the traceback
        return [f"{type(self).__name__}: {self}"]


def require_input(path, made_by: str) -> Path:
    """``path`` when it exists, else :class:`NotReadyError` saying to run ``made_by`` first."""
    path = Path(path)
    if not path.exists():
        raise NotReadyError(f"{path}: not there yet; run {made_by} first")
    return path


def cache_dir() -> Path:
    """Converted models and other derived artefacts that are safe to delete."""
    return _env_path("IDINPAINT_CACHE", data_dir() / "cache")


def occluders_dir() -> Path:
    """MaskTheFace templates (``IDINPAINT_OCCLUDERS`` or ``<shared>/data/occluders/maskthface``)."""
    return _env_path("IDINPAINT_OCCLUDERS", shared_dir() / "data" / "occluders" / "maskthface")


def run_dir(recipe: str, half: str = "A") -> Path:
    """The folder of a training run: ``<results>/train/<recipe>_half<A|B>`` (``recipe``: a training recipe
    of ``config/train.yaml``). The one convention the
    CLI (``idinpaint train``), the notebooks and the Makefile share."""
    half = str(half).upper()
    if half.startswith("HALF"):
        half = half[4:]
    return results_dir() / "train" / f"{recipe}_half{half}"
