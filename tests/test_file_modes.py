"""Files a class can share: everything the package writes atomically gets the mode an ordinary
``open`` gives under the process's umask (0644 under umask 022, 0600 under 077), not the owner-only
mode of the temporary file it is written to first (:func:`idinpaint.runinfo.atomic_file`)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from idinpaint.evaluation.embeddings import save_embedding_cache
from idinpaint.evaluation.results import OccludedResults, write_results
from idinpaint.fillers import MeanFaceFiller
from idinpaint.imageio import write_mask, write_rgb
from idinpaint.runinfo import new_file_mode, umask, write_json, write_text


@pytest.fixture
def with_umask(request):
    """Run the test under ``request.param`` as the umask, the old one restored after."""
    before = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _write_everything(folder: Path) -> list[Path]:
    """One file of each kind the package writes: PNG (image, mask), npy (a mean face), npz (an
    embedding cache, a run's scores), JSON, CSV and markdown."""
    rng = np.random.default_rng(0)
    write_rgb(folder / "image.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    write_mask(folder / "mask.png", np.eye(8, dtype=bool))
    mean_face = MeanFaceFiller()
    mean_face.mean = rng.random((8, 8, 3)).astype(np.float32)
    mean_face.save(folder / "mean_face.npy")
    save_embedding_cache(folder / "cache" / "embeddings.npz", {"a.png": np.ones(4, np.float32)})
    write_json(folder / "run.json", {"what": "a test"})
    write_text(folder / "notes.md", "# notes\n")
    results = OccludedResults(labels=np.array([True, False]), folds=np.zeros(2, int), first=["a", "b"],
                              second=["c", "d"])
    written = write_results(results, folder / "results", "run")
    return [folder / name for name in ("image.png", "mask.png", "mean_face.npy", "cache/embeddings.npz", "run.json",
                                       "notes.md")] + written


@pytest.mark.parametrize("with_umask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)],
                         indirect=["with_umask"], ids=["umask022", "umask077", "umask002"])
def test_written_files_get_the_mode_an_ordinary_open_gives(with_umask, expected, tmp_path):
    assert umask() == with_umask and new_file_mode() == expected
    ordinary = tmp_path / "ordinary.txt"
    with open(ordinary, "w") as handle:
        handle.write("x")
    assert _mode(ordinary) == expected, "the umask the test set is the one open() uses"
    written = _write_everything(tmp_path)
    kinds = {path.suffix for path in written}
    assert kinds >= {".png", ".npy", ".npz", ".json", ".csv", ".md"}, kinds
    wrong = {str(path.relative_to(tmp_path)): oct(_mode(path)) for path in written if _mode(path) != expected}
    assert not wrong, f"not {oct(expected)} under umask {oct(with_umask)}: {wrong}"
    assert not list(tmp_path.rglob("*.tmp")), "no temporary file is left behind"


def test_every_atomic_writer_goes_through_the_one_that_sets_the_mode():
    """A temporary file made anywhere else would keep mkstemp's 0600: the package makes its temporary
    files in one place (:func:`idinpaint.runinfo.atomic_file`)."""
    package = Path(__file__).resolve().parent.parent / "idinpaint"
    makers = ("mkstemp(", "NamedTemporaryFile(")
    found = [f"{path.relative_to(package.parent)}:{number}" for path in sorted(package.rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1) if any(m in line for m in makers)]
    assert [place.split(":")[0] for place in found] == ["idinpaint/runinfo.py"], found
