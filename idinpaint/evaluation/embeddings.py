"""Embedding a folder of aligned crops, with an on-disk cache so a re-run costs little.

The cache is an ``.npz`` of (paths, embeddings) per recogniser and image folder, loaded without
pickle. Only images missing from the cache are embedded; the cache is rewritten atomically.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..imageio import BadImageError, read_rgb
from ..paths import cache_dir


def cache_file(recognizer_name: str, folder, tag: str = "") -> Path:
    key = hashlib.sha1(f"{Path(folder).resolve()}|{tag}".encode()).hexdigest()[:12]
    return cache_dir() / "embeddings" / f"{recognizer_name}_{Path(folder).name}_{key}.npz"


def load_embedding_cache(path: Path) -> dict[str, np.ndarray]:
    """{relative crop path: embedding} from an ``.npz`` cache; empty when the file does not exist."""
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as stored:
        return dict(zip(stored["paths"].tolist(), stored["embeddings"]))


def save_embedding_cache(path: Path, table: dict[str, np.ndarray]) -> None:
    """Write the cache atomically (temp file + rename): an interrupted write never loses earlier rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted(table)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    os.close(fd)
    with open(tmp, "wb") as handle:
        np.savez(handle, paths=np.array(keys), embeddings=np.stack([table[k] for k in keys]))
    os.replace(tmp, path)


def read_faces(folder, relatives: list[str]) -> np.ndarray:
    """Load aligned crops as one (N, 112, 112, 3) batch; a missing crop is a clear error."""
    folder = Path(folder)
    faces = []
    for rel in relatives:
        try:
            faces.append(read_rgb(folder / rel))
        except BadImageError as err:
            raise BadImageError(err.path, f"{err.reason} (was the dataset aligned? run `idinpaint preprocess`)") from None
    return np.stack(faces) if faces else np.zeros((0, 112, 112, 3), np.uint8)


def embed_folder(recognizer, folder, relatives: list[str], *, tag: str = "", chunk: int = 512,
                 landmarks_of=None, use_cache: bool = True, progress: bool = True) -> np.ndarray:
    """Embeddings (N, D) of ``folder/relative`` for each relative path, cached per folder.

    ``landmarks_of``: optional callable(list of relative paths) -> (n, 5, 2), passed to recognisers
    that need geometry from the clean crop (dlib) when ``folder`` holds occluded copies.
    """
    path = cache_file(recognizer.name, folder, tag)
    table = load_embedding_cache(path) if use_cache else {}
    missing = [rel for rel in dict.fromkeys(relatives) if rel not in table]
    interval = 30.0 if os.environ.get("PAPERMILL_EXECUTION") or os.environ.get("CI") else 1.0
    with tqdm(total=len(missing), desc=f"embed[{recognizer.name}] {Path(folder).name}", unit="img",
              disable=not progress or not missing, mininterval=interval) as bar:
        for start in range(0, len(missing), chunk):
            batch = missing[start:start + chunk]
            kwargs = {"landmarks": landmarks_of(batch)} if landmarks_of is not None else {}
            vectors = recognizer.embed(read_faces(folder, batch), **kwargs)
            table.update(zip(batch, vectors))
            if use_cache:
                save_embedding_cache(path, table)  # after every chunk: an interrupted run resumes here
            bar.update(len(batch))
    return np.stack([table[rel] for rel in relatives]) if relatives else np.zeros((0, recognizer.dim), np.float32)
