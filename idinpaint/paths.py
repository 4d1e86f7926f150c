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


# --- checks of a path, before any work ---------------------------------------------------------------
# Here, not in imageio: a command checks its paths before it imports OpenCV, torch or anything heavy,
# so a wrong path is one line in well under a second.

#: Suffixes every OpenCV build writes; any other is asked of OpenCV itself (tests check they agree).
COMMON_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".tif", ".tiff", ".webp")


def can_write_image(path) -> bool:
    """Whether OpenCV can encode an image to ``path``, by its suffix."""
    if Path(path).suffix.lower() in COMMON_IMAGE_SUFFIXES:
        return True
    import cv2  # only for an unusual suffix: OpenCV knows which encoders its build has

    return bool(cv2.haveImageWriter(str(path)))


def file_problem(path) -> str | None:
    """Why ``path`` cannot be read as an input file (``file not found``, ``is a folder, not an image
    file``, ``empty file (0 bytes)``), or None; what is in it is for its reader to check."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "file not found"
    if path.is_dir():
        return "is a folder, not an image file"
    if size == 0:
        return "empty file (0 bytes)"
    return None


def check_output_path(path, kind: str = "image") -> Path:
    """Fail early (one line, ``ValueError``) when ``path`` cannot be written, before the work, so a
    long job cannot fail at its last step. ``kind``: ``image`` (a file OpenCV can encode, by its
    suffix), ``file`` or ``folder``. Catches a folder where a file is wanted and the reverse, a
    parent that is a file, and a parent that is not writable."""
    path = Path(path)
    if kind == "folder":
        if path.exists() and not path.is_dir():
            raise ValueError(f"{path}: is a file, not a folder; choose a folder for the output")
    elif path.is_dir():
        raise ValueError(f"{path}: is a folder; give a file name for the output")
    elif kind == "image" and not can_write_image(path):
        raise ValueError(f"{path}: cannot write images of type {path.suffix or '(no suffix)'!r}; use .png or .jpg")
    parent = path if kind == "folder" else path.parent
    existing = next(p for p in (parent, *parent.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"{path}: cannot write here: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{path}: cannot write here: folder {existing} is not writable")
    return path
