"""Embedding a folder of aligned crops, with an on-disk cache so a re-run costs little.

The cache is an ``.npz`` of (paths, embeddings) per recognizer and image folder, loaded without
pickle. Only images missing from the cache are embedded; the cache is rewritten atomically.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from idinpaint.data.aligned import read_faces
from idinpaint.paths import cache_dir
from idinpaint.progress import progress_bar
from idinpaint.runinfo import atomic_file


def cache_file(recognizer_name: str, folder, tag: str = "") -> Path:
    key = hashlib.sha1(f"{Path(folder).resolve()}|{tag}".encode()).hexdigest()[:12]
    return cache_dir() / "embeddings" / f"{recognizer_name}_{Path(folder).name}_{key}.npz"


def load_embedding_cache(path: Path) -> dict[str, np.ndarray]:
    """{relative crop path: embedding} from an ``.npz`` cache; empty when the file does not exist."""
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as stored:
        return dict(zip(stored["paths"].tolist(), stored["embeddings"]))


def cached_names(path: Path) -> set[str]:
    """The crops an ``.npz`` cache holds, read without its embeddings (empty when there is none or
    it cannot be read: then it is redone)."""
    if not path.is_file():
        return set()
    try:
        with np.load(path, allow_pickle=False) as stored:
            return set(stored["paths"].tolist())
    except (OSError, ValueError, KeyError):
        return set()


def save_embedding_cache(path: Path, table: dict[str, np.ndarray]) -> None:
    """Write the cache atomically (temp file + rename): an interrupted write never loses earlier rows,
    and leaves no temp file (:func:`~idinpaint.runinfo.atomic_file`)."""
    keys = sorted(table)
    with atomic_file(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, paths=np.array(keys), embeddings=np.stack([table[k] for k in keys]))


def embed_folder(recognizer, folder, relatives: list[str], *, tag: str = "", chunk: int = 512,
                 landmarks_of=None, use_cache: bool = True, progress: bool = True) -> np.ndarray:
    """Embeddings (N, D) of ``folder/relative`` for each relative path, cached per folder.

    ``landmarks_of``: optional callable(list of relative paths) -> (n, 5, 2), passed to recognizers
    that need geometry from the clean crop (dlib) when ``folder`` holds occluded copies.
    """
    path = cache_file(recognizer.name, folder, tag)
    table = load_embedding_cache(path) if use_cache else {}
    missing = [rel for rel in dict.fromkeys(relatives) if rel not in table]
    with progress_bar(total=len(missing), desc=f"embed[{recognizer.name}] {Path(folder).name}", unit="img",
                      disable=not progress or not missing) as bar:
        for start in range(0, len(missing), chunk):
            batch = missing[start:start + chunk]
            kwargs = {"landmarks": landmarks_of(batch)} if landmarks_of is not None else {}
            vectors = recognizer.embed(read_faces(folder, batch), **kwargs)
            table.update(zip(batch, vectors))
            if use_cache:
                save_embedding_cache(path, table)  # after every chunk: an interrupted run resumes here
            bar.update(len(batch))
    return np.stack([table[rel] for rel in relatives]) if relatives else np.zeros((0, recognizer.dim), np.float32)
