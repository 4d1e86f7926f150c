"""What every figure shares: files only outside notebooks (no display needed), saving as PNG + PDF
under a stable name, a grid of faces, and one colour per method in every figure."""
from __future__ import annotations

from pathlib import Path

import matplotlib

if "inline" not in matplotlib.get_backend().lower():
    matplotlib.use("Agg")  # files only outside notebooks: no display is needed (or present in CI)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from idinpaint.paths import figures_dir  # noqa: E402
from idinpaint.runinfo import atomic_file  # noqa: E402


def save_figure(fig, name: str, folder=None, dpi: int = 150) -> list[Path]:
    """Write ``<folder>/<name>.png`` (``dpi``) and ``.pdf``; returns both paths."""
    folder = Path(folder) if folder is not None else figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, kwargs in ((".png", {"dpi": dpi}), (".pdf", {})):
        path = folder / f"{name}{suffix}"
        with atomic_file(path) as tmp:
            fig.savefig(tmp, format=suffix[1:], bbox_inches="tight", **kwargs)
        paths.append(path)
    return paths


def show_saved(paths) -> None:
    """Display saved PNG figures inline (in a notebook); prints their paths elsewhere."""
    try:
        from IPython.display import Image, display
    except ImportError:  # pragma: no cover - outside IPython
        print("\n".join(map(str, paths)))
        return
    for path in paths:
        display(Image(filename=str(path)))


def face_grid(images: list[np.ndarray], titles: list[str] | None = None, columns: int = 8, size: float = 1.3):
    """A grid of RGB faces with optional titles."""
    rows = max(1, int(np.ceil(len(images) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * size, rows * size * 1.15), squeeze=False)
    for index, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if index < len(images):
            ax.imshow(images[index])
            if titles:
                ax.set_title(titles[index], fontsize=6)
    fig.tight_layout()
    return fig


#: Fixed colours so a method looks the same in every figure.
METHOD_COLOURS = {"clean": "black", "occluded": "tab:gray", "none": "tab:gray", "telea": "tab:blue",
                  "ns": "tab:cyan", "mean_face": "tab:orange", "donor": "tab:purple", "ca": "tab:green", "ca_id": "tab:red"}


_EXTRA_COLOURS = ["tab:brown", "tab:pink", "tab:olive", "gold", "navy"]


RECOGNIZER_TITLES = {"sface": "SFace", "dlib": "dlib ResNet", "dlib_torch": "dlib ResNet (torch)"}


def method_colour(method: str, order: list[str]) -> str:
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    others = [m for m in order if m not in METHOD_COLOURS]
    return _EXTRA_COLOURS[others.index(method) % len(_EXTRA_COLOURS)] if method in others else "tab:purple"


def pretty(name: str) -> str:
    return name.replace("_", " ")
