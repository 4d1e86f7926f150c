"""LFW View-2 verification on aligned crops: clean, and (later) occluded / inpainted second images."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from idinpaint.data.aligned import aligned_name, read_faces
from idinpaint.data.lfw import Pair, default_aligned_root, load_pairs, pair_arrays
from idinpaint.evaluation.embeddings import cache_file, embed_folder, load_embedding_cache, save_embedding_cache
from idinpaint.evaluation.verification import VerificationResult, cosine_scores, verify


def clean_landmarks_lookup(recognizer, clean_root):
    """For recognizers that cut their own chip (dlib): landmarks found once on each *clean* crop,
    cached, and reused for every occluded/inpainted copy of that crop."""
    if not hasattr(recognizer, "landmarks"):
        return None
    path = cache_file(f"{getattr(recognizer, 'landmarks_name', recognizer.name)}-landmarks", clean_root)

    def lookup(relatives: list[str]) -> np.ndarray:
        table = load_embedding_cache(path)
        missing = [r for r in dict.fromkeys(relatives) if r not in table]
        if missing:
            table.update(zip(missing, recognizer.landmarks(read_faces(clean_root, missing))))
            save_embedding_cache(path, table)
        return np.stack([table[r] for r in relatives])

    return lookup


def score_pairs(recognizer, pairs: list[Pair], clean_root, second_root=None, second_tag: str = "",
                progress: bool = True) -> np.ndarray:
    """Cosine scores of pairs; first images from ``clean_root``, second from ``second_root``
    (occluded/inpainted copies with the same relative paths) or clean when None."""
    clean_root = Path(clean_root)
    first, second, _, _ = pair_arrays(pairs)
    first = [aligned_name(p) for p in first]
    second = [aligned_name(p) for p in second]
    first_vectors = embed_folder(recognizer, clean_root, first, progress=progress)
    if second_root is None:
        second_vectors = embed_folder(recognizer, clean_root, second, progress=progress)
    else:
        second_vectors = embed_folder(recognizer, second_root, second, tag=second_tag, progress=progress,
                                      landmarks_of=clean_landmarks_lookup(recognizer, clean_root))
    return cosine_scores(first_vectors, second_vectors)


def evaluate_clean(recognizer, aligned_root=None, lfw_root=None, folds: list[int] | None = None,
                   progress: bool = True) -> tuple[VerificationResult, np.ndarray, list[Pair]]:
    """Clean LFW verification; returns (result, scores, pairs)."""
    aligned_root = Path(aligned_root or default_aligned_root())
    pairs = load_pairs(lfw_root, folds)
    scores = score_pairs(recognizer, pairs, aligned_root, progress=progress)
    _, _, labels, fold_ids = pair_arrays(pairs)
    return verify(scores, labels, fold_ids), scores, pairs


