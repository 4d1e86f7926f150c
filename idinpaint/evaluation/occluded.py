"""The occluded-LFW protocol ("the measuring stick"): how much verification a face part costs, and
how much of it a filler wins back.

A *condition* is (occlusion spec, filler, recogniser), e.g. (``region:two_eyes@black``, ``telea``,
``sface``). For every View-2 pair only the **second** image is occluded and filled; the first stays
clean, so a pair compares a clean face with a repaired one, as in ID-Inpainter.

Everything happens in memory: the unique second-image crops are read in chunks from the aligned
folder, occluded with a generator seeded from (canonical spec, crop path, seed) — so a re-run, a
resumed run, every filler and every recogniser see bit-identical occluded pixels — filled, and
embedded. Embeddings are cached per (recogniser, occlusion, filler) in an ``.npz`` under
``cache_dir()/embeddings`` (the format of :mod:`.embeddings`, loaded without pickle), rewritten
after every chunk so an interrupted run resumes. First-image and clean second-image embeddings come
from :func:`.embeddings.embed_folder` on the clean folder (the clean evaluation's cache).

The ``mean_face`` filler is fitted on crops of LFW people who appear in **no** View-2 pair (LFW has
1,468 of them), never on test identities; the mean is cached as ``.npy`` in ``cache_dir()``.

Rows (plain dicts, one per condition, plus one clean row per recogniser) hold the verification
numbers of :func:`.verification.verify`, ``acc_clean``, ``acc_occluded`` (same occlusion, filler
``none``) and ``recovery_ratio`` = (acc_filled - acc_occluded) / (acc_clean - acc_occluded), and the
realism of the fill against the clean crop (:mod:`.realism`: chroma spread, chroma error, hole L1
and PSNR, SSIM; the same for every recogniser, computed once per condition and cached). A
condition that raises is recorded in its row's ``error`` and the run goes on.

With one fold selected (e.g. ``folds=[10]``) the 10-fold protocol has no other folds to pick a
threshold on; the selected pairs are then split into 10 balanced sub-folds (``protocol`` column
says ``subfolds``), so the accuracy is still cross-validated, never tuned on the test pairs.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import math
import os
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from tqdm import tqdm

from ..align import ARCFACE_TEMPLATE, CROP_SIZE, apply_transform, similarity_transform
from ..data.lfw import Pair, pair_arrays
from ..fillers import FILLERS, DonorFiller, Filler, MeanFaceFiller, get_filler, is_filler_name
from ..imageio import _atomic_write_bytes, read_rgb, write_rgb
from ..occlusion import REGION_NAMES, OcclusionSpec, make_occlusion, parse_spec
from ..paths import cache_dir, results_dir
from ..preprocess import LANDMARKS_FILE, aligned_name, read_landmarks
from ..runinfo import provenance, write_json, write_text
from .realism import REALISM_FIELDS, as_vectors, realism_metrics, summarize
from .embeddings import load_embedding_cache, save_embedding_cache, embed_folder, read_faces
from .lfw import clean_landmarks_lookup, default_aligned_root, load_pairs
from .verification import PairedComparison, compare_fold_accuracies, cosine_scores, kfold_accuracy, recovery_ratio, verify

CLEAN = "clean"
#: Bump when the occlusion / filling pipeline changes in a way that alters pixels: old caches are ignored.
CACHE_VERSION = "occluded-v1"
DEFAULT_CHUNK = 256
MEAN_FACE_COUNT = 300
MEAN_FACE_SEED = 0
DEFAULT_STEM = "lfw_occluded"
ROW_FIELDS = [
    "recogniser", "occlusion", "region", "fill", "filler", "accuracy", "accuracy_std", "auc",
    "tar_far_1e-3", "tar_far_1e-4", "similarity_gap", "similarity_gap_std", "same_mean", "different_mean",
    "pairs", "acc_clean", "acc_occluded", "recovery_ratio", *REALISM_FIELDS, "protocol", "embedded", "seconds",
    "condition", "error",
]
_METRICS = ("accuracy", "accuracy_std", "auc", "tar_far_1e-3", "tar_far_1e-4", "similarity_gap",
            "similarity_gap_std", "same_mean", "different_mean")


# --- occluding deterministically -----------------------------------------------------------------

def canonical_spec(spec: str | OcclusionSpec) -> str:
    """The spec with its defaults written out (``region:nose`` -> ``region:nose@black``)."""
    return str(spec if isinstance(spec, OcclusionSpec) else parse_spec(spec))


def occlusion_seed(spec: str | OcclusionSpec, relative: str, seed: int = 0) -> int:
    """64-bit seed from (canonical spec, crop path, base seed): the same crop always gets the same hole."""
    text = f"{canonical_spec(spec)}|{Path(relative).as_posix()}|{int(seed)}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


@functools.lru_cache(maxsize=4)
def _crop_landmark_table(root: str, mtime: float) -> dict[str, np.ndarray]:
    table = {}
    for source, points in read_landmarks(root).items():
        table[aligned_name(source)] = apply_transform(similarity_transform(points, ARCFACE_TEMPLATE), points)
    return table


def crop_landmarks_of(root):
    """callable(relatives) -> list of (5, 2) crop landmarks (None where unknown) from the aligned folder's
    ``landmarks.csv`` (used to place MaskTheFace occluders); None when the folder has no such file."""
    path = Path(root) / LANDMARKS_FILE
    if not path.is_file():
        return None
    table = _crop_landmark_table(str(Path(root)), path.stat().st_mtime)

    def lookup(relatives: Sequence[str]) -> list:
        return [table.get(aligned_name(rel)) for rel in relatives]

    return lookup


def occlude_faces(spec: str | OcclusionSpec, faces: np.ndarray, relatives: Sequence[str],
                  landmarks: Sequence | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Occlude a batch (N, H, W, 3) of crops; crop ``i`` uses a generator seeded by
    :func:`occlusion_seed` (spec, ``relatives[i]``, ``seed``). ``landmarks``: optional per-crop
    (5, 2) points in 112-crop pixels (None entries fall back to the template; maskthface only).
    Returns (occluded uint8 (N, H, W, 3), masks bool (N, H, W), True = hole)."""
    parsed = spec if isinstance(spec, OcclusionSpec) else parse_spec(spec)
    faces = np.asarray(faces)
    if len(faces) != len(relatives):
        raise ValueError(f"{len(faces)} faces but {len(relatives)} paths")
    occluded = np.empty_like(faces)
    masks = np.zeros(faces.shape[:3], dtype=bool)
    for i, (face, rel) in enumerate(zip(faces, relatives)):
        rng = np.random.default_rng(occlusion_seed(parsed, rel, seed))
        points = None
        if landmarks is not None and landmarks[i] is not None:
            points = np.asarray(landmarks[i], dtype=np.float64) * (face.shape[0] / CROP_SIZE)
        occluded[i], masks[i] = make_occlusion(parsed, face, rng, landmarks=points)
    return occluded, masks


def region_label(spec: str | OcclusionSpec) -> str:
    """What a spec covers, for tables: the region name, ``maskthface:<template>`` or the random kind."""
    if spec == CLEAN:
        return CLEAN
    parsed = spec if isinstance(spec, OcclusionSpec) else parse_spec(spec)
    if parsed.kind == "region":
        return parsed.arg
    if parsed.kind == "maskthface":
        return f"maskthface:{parsed.arg or 'surgical'}"
    return parsed.kind + (f":{parsed.arg}" if parsed.arg is not None else "")


# --- fillers -------------------------------------------------------------------------------------

def filler_fingerprint(filler: Filler) -> str:
    """What makes a filler's output what it is (part of the cache key): a fitted mean face's hash,
    a ``cache_tag`` attribute if the filler has one, else its repr."""
    tag = getattr(filler, "cache_tag", None)
    if tag:
        return str(tag)
    if isinstance(filler, MeanFaceFiller) and filler.mean is not None:
        return "mean_face:" + hashlib.sha1(np.ascontiguousarray(filler.mean).tobytes()).hexdigest()[:16]
    return repr(filler)


def pair_people(pairs: Iterable[Pair]) -> set[str]:
    return {path.split("/")[0] for p in pairs for path in (p.first, p.second)}


def mean_face_files(aligned_root, pairs: Iterable[Pair], count: int = MEAN_FACE_COUNT, seed: int = MEAN_FACE_SEED,
                    exclude_people: Iterable[str] = ()) -> list[str]:
    """Crops (relative paths) to fit the mean face on: people of ``aligned_root`` in none of ``pairs``
    (nor in ``exclude_people``). One crop per person (the first) for ``count`` people drawn with
    ``default_rng(seed)``; when fewer such people exist, ``count`` crops drawn from all their crops."""
    root = Path(aligned_root)
    excluded = pair_people(pairs) | set(exclude_people)
    people = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name not in excluded
                    and not d.name.startswith("."))
    crops = {person: sorted(f"{person}/{p.name}" for p in (root / person).glob("*.png")) for person in people}
    crops = {person: files for person, files in crops.items() if files}
    if not crops:
        raise ValueError(f"{root}: no identities outside the evaluation pairs to fit the mean face on")
    rng = np.random.default_rng(seed)
    if len(crops) >= count:
        names = sorted(crops)
        chosen = sorted(rng.choice(len(names), size=count, replace=False).tolist())
        return [crops[names[i]][0] for i in chosen]
    pool = sorted(f for files in crops.values() for f in files)
    if len(pool) <= count:
        return pool
    return [pool[i] for i in sorted(rng.choice(len(pool), size=count, replace=False).tolist())]


def fit_mean_face(aligned_root=None, pairs: Iterable[Pair] | None = None, count: int = MEAN_FACE_COUNT,
                  seed: int = MEAN_FACE_SEED, exclude_people: Iterable[str] = (), lfw_root=None,
                  use_cache: bool = True) -> MeanFaceFiller:
    """A :class:`MeanFaceFiller` fitted on non-pair identities (see :func:`mean_face_files`; ``pairs``
    default to all of LFW View-2). Cached as ``cache_dir()/mean_face_<folder>_<key>.npy`` with a
    ``.json`` listing the crops. The filler gets a ``training_files`` attribute."""
    root = Path(aligned_root or default_aligned_root()).resolve()
    pairs = load_pairs(lfw_root) if pairs is None else list(pairs)
    files = mean_face_files(root, pairs, count, seed, exclude_people)
    key = hashlib.sha1(("\n".join([str(root), *files])).encode()).hexdigest()[:12]
    path = cache_dir() / f"mean_face_{root.name}_{key}.npy"
    if use_cache and path.is_file():
        filler = MeanFaceFiller.load(path)
    else:
        filler = MeanFaceFiller()
        filler.fit(read_faces(root, files[start:start + 64]) for start in range(0, len(files), 64))
        if use_cache:
            filler.save(path)
            write_json(path.with_suffix(".json"), {"aligned_root": str(root), "count": len(files), "seed": seed,
                                                   "people": len({f.split('/')[0] for f in files}),
                                                   "files": files})
    filler.training_files = files
    return filler


DONOR_SEED = 1


def donor_filler(aligned_root=None, pairs: Iterable[Pair] | None = None, count: int = MEAN_FACE_COUNT,
                 seed: int = DONOR_SEED, exclude_people: Iterable[str] = (), lfw_root=None) -> DonorFiller:
    """A :class:`~idinpaint.fillers.DonorFiller` whose donors are ``count`` crops of LFW people in no
    View-2 pair (one per person, drawn as :func:`mean_face_files` draws, with its own seed)."""
    root = Path(aligned_root or default_aligned_root()).resolve()
    pairs = load_pairs(lfw_root) if pairs is None else list(pairs)
    files = mean_face_files(root, pairs, count, seed, exclude_people)
    return DonorFiller(read_faces(root, files), [f.split("/")[0] for f in files], seed=seed)


def build_filler(filler, aligned_root=None, pairs: Iterable[Pair] | None = None, lfw_root=None,
                 exclude_people: Iterable[str] = (), mean_face_count: int = MEAN_FACE_COUNT) -> Filler:
    """A Filler instance from a name (``mean_face`` fitted on, ``donor`` drawn from, non-pair people)
    or an instance as is."""
    if isinstance(filler, Filler):
        return filler
    if filler == "mean_face":
        return fit_mean_face(aligned_root, pairs, count=mean_face_count, exclude_people=exclude_people,
                             lfw_root=lfw_root)
    if filler == "donor":
        return donor_filler(aligned_root, pairs, count=mean_face_count, exclude_people=exclude_people,
                            lfw_root=lfw_root)
    return get_filler(filler)


# --- embedding one condition with a resumable cache ---------------------------------------------

def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


def _condition_stem(root, spec: str | OcclusionSpec, filler: Filler, seed: int = 0) -> str:
    """``<folder>_<spec>_<filler>_<key>``; the key hashes the folder, spec, seed, filler fingerprint
    and :data:`CACHE_VERSION`."""
    spec = canonical_spec(spec)
    text = f"{Path(root).resolve()}|{spec}|{int(seed)}|{filler_fingerprint(filler)}|{CACHE_VERSION}"
    key = hashlib.sha1(text.encode()).hexdigest()[:12]
    return f"{Path(root).name}_{_slug(spec)}_{_slug(filler.name)}_{key}"


def condition_cache_file(recognizer_name: str, root, spec: str | OcclusionSpec, filler: Filler, seed: int = 0) -> Path:
    """``cache_dir()/embeddings/<rec>_<folder>_<spec>_<filler>_<key>.npz`` (see :func:`_condition_stem`)."""
    return cache_dir() / "embeddings" / f"{recognizer_name}_{_condition_stem(root, spec, filler, seed)}.npz"


def filled_cache_dir(root, spec: str | OcclusionSpec, filler: Filler, seed: int = 0) -> Path:
    """``cache_dir()/filled/<folder>_<spec>_<filler>_<key>/``: filled crops (PNG, same relative paths)
    of fillers with ``cache_fills`` (networks), shared by every recogniser that scores the condition."""
    return cache_dir() / "filled" / _condition_stem(root, spec, filler, seed)


def fill_chunk(filler: Filler, occluded: np.ndarray, masks: np.ndarray, relatives: Sequence[str],
               folder: Path | None = None) -> np.ndarray:
    """``filler.fill_for`` on a chunk; with ``folder``, crops filled earlier are read back and new ones
    written there (atomically, one PNG per crop, so an interrupted run keeps what it finished)."""
    if folder is None:
        return filler.fill_for(occluded, masks, list(relatives))
    out = np.empty_like(occluded)
    todo = []
    for i, rel in enumerate(relatives):
        path = folder / Path(rel).with_suffix(".png")
        if path.is_file():
            out[i] = read_rgb(path)
        else:
            todo.append(i)
    if todo:
        filled = filler.fill_for(occluded[todo], masks[todo], [relatives[i] for i in todo])
        for i, image in zip(todo, filled):
            write_rgb(folder / Path(relatives[i]).with_suffix(".png"), image)
            out[i] = image
    return out


def _cached_per_crop(root: Path, relatives: Sequence[str], parsed: OcclusionSpec, filler: Filler, *, path: Path,
                     seed: int, chunk: int, use_cache: bool, progress: bool, desc: str, measure) -> tuple[dict, int]:
    """The shared loop of :func:`embed_condition` and :func:`realism_condition`: crops missing from
    the cache at ``path`` are read, occluded (seeded), filled (through the filled-crop cache of
    network fillers) and given to ``measure(faces, filled, masks, relatives) -> (n, D)``, chunk by
    chunk; the cache is saved after every chunk, so an interrupted run resumes. Returns (table,
    how many were computed now)."""
    table = load_embedding_cache(path) if use_cache else {}
    missing = [rel for rel in dict.fromkeys(relatives) if rel not in table]
    occluder_points = crop_landmarks_of(root) if parsed.kind == "maskthface" else None
    fill_dir = filled_cache_dir(root, parsed, filler, seed) if use_cache and getattr(filler, "cache_fills", False) else None
    interval = 30.0 if os.environ.get("PAPERMILL_EXECUTION") or os.environ.get("CI") else 1.0
    with tqdm(total=len(missing), desc=desc, unit="img", disable=not progress or not missing,
              mininterval=interval) as bar:
        for start in range(0, len(missing), chunk):
            batch = missing[start:start + chunk]
            faces = read_faces(root, batch)
            points = occluder_points(batch) if occluder_points is not None else None
            occluded, masks = occlude_faces(parsed, faces, batch, landmarks=points, seed=seed)
            filled = fill_chunk(filler, occluded, masks, batch, fill_dir)
            table.update(zip(batch, measure(faces, filled, masks, batch)))
            if use_cache:
                save_embedding_cache(path, table)  # after every chunk: an interrupted run resumes here
            bar.update(len(batch))
    return table, len(missing)


def embed_condition(recognizer, root, relatives: Sequence[str], spec: str | OcclusionSpec, filler: Filler, *,
                    seed: int = 0, chunk: int = DEFAULT_CHUNK, landmarks_of=None, use_cache: bool = True,
                    progress: bool = True) -> tuple[np.ndarray, int]:
    """Embeddings (N, D) of the occluded + filled copies of ``root/relative``; returns (embeddings,
    how many were computed now). Missing crops are done in chunks and the cache is saved after each.

    ``landmarks_of``: callable(relatives) -> (n, 5, 2) clean-crop landmarks for recognisers that cut
    their own chip (dlib; see :func:`.lfw.clean_landmarks_lookup`).
    """
    root = Path(root)
    parsed = spec if isinstance(spec, OcclusionSpec) else parse_spec(spec)

    def embed(faces, filled, masks, batch):
        kwargs = {"landmarks": landmarks_of(batch)} if landmarks_of is not None else {}
        return recognizer.embed(filled, **kwargs)

    table, computed = _cached_per_crop(
        root, relatives, parsed, filler, path=condition_cache_file(recognizer.name, root, parsed, filler, seed),
        seed=seed, chunk=chunk, use_cache=use_cache, progress=progress,
        desc=f"embed[{recognizer.name}] {parsed} + {filler.name}", measure=embed)
    if not relatives:
        return np.zeros((0, getattr(recognizer, "dim", 0)), np.float32), computed
    return np.stack([table[rel] for rel in relatives]), computed


def realism_cache_file(root, spec: str | OcclusionSpec, filler: Filler, seed: int = 0) -> Path:
    """``cache_dir()/realism/<folder>_<spec>_<filler>_<key>.npz``: per-crop realism vectors."""
    return cache_dir() / "realism" / f"{_condition_stem(root, spec, filler, seed)}.npz"


def realism_condition(root, relatives: Sequence[str], spec: str | OcclusionSpec, filler: Filler, *,
                      seed: int = 0, chunk: int = DEFAULT_CHUNK, use_cache: bool = True,
                      progress: bool = True) -> np.ndarray:
    """Per-crop realism (N, len(REALISM_FIELDS)) of the occluded + filled copies of ``root/relative``
    against the clean crops (see :mod:`.realism`). Shares the occlusion, the filled-crop cache and
    the chunking of :func:`embed_condition`; cached per condition, saved after every chunk."""
    root = Path(root)
    parsed = spec if isinstance(spec, OcclusionSpec) else parse_spec(spec)
    table, _ = _cached_per_crop(
        root, relatives, parsed, filler, path=realism_cache_file(root, parsed, filler, seed), seed=seed,
        chunk=chunk, use_cache=use_cache, progress=progress, desc=f"realism {parsed} + {filler.name}",
        measure=lambda faces, filled, masks, batch: as_vectors(realism_metrics(filled, faces, masks)))
    if not relatives:
        return np.zeros((0, len(REALISM_FIELDS)), np.float32)
    return np.stack([table[rel] for rel in relatives])


# --- scoring -------------------------------------------------------------------------------------

def verify_pairs(scores, labels, folds) -> tuple[dict, str]:
    """(metrics dict, protocol): the LFW 10-fold protocol over the given folds, or, with a single
    fold, over 10 balanced sub-folds of it."""
    result = verify(scores, labels, folds)
    metrics = {
        "accuracy": result.accuracy, "accuracy_std": result.accuracy_std, "auc": result.auc,
        "tar_far_1e-3": result.tar_at_far.get("0.001", math.nan),
        "tar_far_1e-4": result.tar_at_far.get("0.0001", math.nan),
        "similarity_gap": result.similarity_gap, "similarity_gap_std": result.similarity_gap_std,
        "same_mean": result.same_mean, "different_mean": result.different_mean, "pairs": result.pairs,
    }
    return metrics, result.protocol


class OccludedResults(list):
    """The row dicts of a run (a plain list) plus what figures need: ``scores`` (condition -> pair
    cosine scores, in pair order), ``labels`` (same-person bool), ``folds`` (0..9), ``first`` /
    ``second`` (crop paths) and ``paths`` (files written)."""

    def __init__(self, rows=(), scores=None, labels=None, folds=None, first=None, second=None):
        super().__init__(rows)
        self.scores: dict[str, np.ndarray] = dict(scores or {})
        self.labels = np.zeros(0, bool) if labels is None else np.asarray(labels, bool)
        self.folds = np.zeros(0, int) if folds is None else np.asarray(folds, int)
        self.first = list(first or [])
        self.second = list(second or [])
        self.paths: list[Path] = []

    @property
    def failures(self) -> list[dict]:
        return [row for row in self if row.get("error")]


def condition_key(recogniser: str, occlusion: str, filler: str) -> str:
    return f"{recogniser}|{occlusion}|{filler}"


def _empty_row(recogniser: str, occlusion: str, filler: str) -> dict:
    row = {field: math.nan for field in ROW_FIELDS}
    fill = "" if occlusion == CLEAN else parse_spec(occlusion).fill
    row.update(recogniser=recogniser, occlusion=occlusion, region=region_label(occlusion), fill=fill,
               filler=filler, pairs=0, protocol="", embedded=0, seconds=0.0,
               condition=condition_key(recogniser, occlusion, filler), error="")
    return row


def _error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}".replace("\n", " ")[:500]


def _add_recovery(rows: list[dict]) -> None:
    clean = {r["recogniser"]: r["accuracy"] for r in rows if r["occlusion"] == CLEAN and not r["error"]}
    occluded = {(r["recogniser"], r["occlusion"]): r["accuracy"] for r in rows
                if r["filler"] == "none" and r["occlusion"] != CLEAN and not r["error"]}
    for row in rows:
        row["acc_clean"] = clean.get(row["recogniser"], math.nan)
        if row["occlusion"] == CLEAN:
            continue
        row["acc_occluded"] = occluded.get((row["recogniser"], row["occlusion"]), math.nan)
        values = (row["accuracy"], row["acc_occluded"], row["acc_clean"])
        if row["error"] or any(math.isnan(float(v)) for v in values):
            row["recovery_ratio"] = math.nan
        else:
            row["recovery_ratio"] = recovery_ratio(*values)


def protocol_specs(regions="all", fills=("black",)) -> tuple[list[str], list[str]]:
    """(specs, baseline_only) for regions x fills. Fillers never read the hole, so they run on the
    first fill only; the other fills are occluded baselines (see ``evaluate_conditions``)."""
    from ..occlusion import REGION_NAMES

    regions = list(REGION_NAMES) if regions == "all" or "all" in regions else list(regions)
    unknown = [r for r in regions if r not in REGION_NAMES]
    if unknown:
        raise ValueError(f"unknown regions {unknown}; valid: {', '.join(REGION_NAMES)} or all")
    specs = [f"region:{region}@{fill}" for fill in fills for region in regions]
    return specs, [f"region:{region}@{fill}" for fill in list(fills)[1:] for region in regions]


def evaluate_conditions(recognizers: Sequence = ("sface",), occlusions: Sequence[str] = ("region:two_eyes@black",),
                        fillers: Sequence = ("none",), aligned_root=None, folds: Sequence[int] | None = None,
                        progress: bool = True, *, lfw_root=None, pairs: Sequence[Pair] | None = None,
                        include_clean: bool = True, seed: int = 0, chunk: int = DEFAULT_CHUNK,
                        use_cache: bool = True, mean_face_count: int = MEAN_FACE_COUNT,
                        output_dir=None, stem: str = DEFAULT_STEM,
                        baseline_only: Sequence[str] = ()) -> OccludedResults:
    """Score every (recogniser, occlusion, filler) condition on LFW View-2 with occluded second images.

    ``recognizers``: names (``sface``, ``dlib``) or :class:`~idinpaint.recognizers.Recognizer`
    instances; ``occlusions``: spec strings; ``fillers``: names or :class:`~idinpaint.fillers.Filler`
    instances (``none`` is always added: it is the occluded baseline of ``recovery_ratio``);
    ``folds``: 1..10 (default all); ``pairs``: use these pairs instead of LFW's ``pairs.txt`` (their
    people are then the ones the mean face avoids; otherwise all View-2 people are avoided).
    ``baseline_only``: specs scored with filler ``none`` only. Fillers see only the pixels outside
    the hole, so a filled face does not depend on how the hole was painted: running every filler on
    black *and* gray holes would score identical images twice.
    ``output_dir``: when given, CSV + JSON + scores npz are (re)written there after every condition
    (see :func:`write_results`). Returns :class:`OccludedResults` (list of row dicts + scores).
    """
    started_run = time.time()
    aligned_root = Path(aligned_root or default_aligned_root())
    all_pairs = load_pairs(lfw_root) if pairs is None else list(pairs)
    wanted = {int(f) - 1 for f in folds} if folds else None
    eval_pairs = [p for p in all_pairs if wanted is None or p.fold in wanted]
    if not eval_pairs:
        raise ValueError(f"no pairs in folds {sorted(folds or [])}")
    specs = [canonical_spec(s) for s in dict.fromkeys(occlusions)]  # bad specs fail here, before any work
    baseline_specs = {canonical_spec(s) for s in baseline_only}
    filler_items = list(dict.fromkeys(fillers, None))
    if not any((f.name if isinstance(f, Filler) else f) == "none" for f in filler_items):
        filler_items.insert(0, "none")
    for f in filler_items:
        if not isinstance(f, Filler) and not is_filler_name(f):
            raise ValueError(f"unknown filler {f!r}; valid fillers: {', '.join(FILLERS)}")

    first_paths, second_paths, labels, fold_ids = pair_arrays(eval_pairs)
    first_rel = [aligned_name(p) for p in first_paths]
    second_rel = [aligned_name(p) for p in second_paths]
    unique_second = list(dict.fromkeys(second_rel))
    position = {rel: i for i, rel in enumerate(unique_second)}
    order = np.array([position[rel] for rel in second_rel])
    results = OccludedResults(labels=labels, folds=fold_ids, first=first_rel, second=second_rel)
    config = {"recognizers": [getattr(r, "name", r) for r in recognizers], "occlusions": specs,
              "fillers": [getattr(f, "name", f) for f in filler_items], "aligned_root": str(aligned_root),
              "folds": list(folds) if folds else None, "seed": seed, "pairs": len(eval_pairs),
              "unique_second_images": len(unique_second), "mean_face_count": mean_face_count,
              "cache_version": CACHE_VERSION}

    built: dict[str, Filler | BaseException] = {}
    realism: dict[tuple[str, str], dict[str, float]] = {}  # (spec, filler) -> summary, shared by recognisers

    def filler_for(item) -> Filler:
        name = item.name if isinstance(item, Filler) else item
        if name not in built:
            try:
                built[name] = build_filler(item, aligned_root, all_pairs, lfw_root, mean_face_count=mean_face_count)
            except Exception as err:  # recorded on every row that needs it
                built[name] = err
        if isinstance(built[name], BaseException):
            raise built[name]
        return built[name]

    def record(row: dict, scores: np.ndarray | None) -> None:
        results.append(row)
        if scores is not None:
            results.scores[row["condition"]] = np.asarray(scores, dtype=np.float32)
        _add_recovery(results)
        if progress:
            status = f"ERROR {row['error']}" if row["error"] else f"accuracy {100 * row['accuracy']:.2f} %"
            tqdm.write(f"[{row['recogniser']}] {row['occlusion']} + {row['filler']}: {status}")
        if output_dir is not None:
            write_results(results, output_dir, stem, {**config, "seconds": round(time.time() - started_run, 1)})

    for rec_item in recognizers:
        rec_name = getattr(rec_item, "name", rec_item)
        recognizer, rec_error = None, None
        try:
            if isinstance(rec_item, str):
                from ..recognizers import get_recognizer

                recognizer = get_recognizer(rec_item)
            else:
                recognizer = rec_item
        except Exception as err:
            rec_error = err
        first_vectors, clean_error = None, None
        if recognizer is not None:
            started = time.time()
            row = _empty_row(rec_name, CLEAN, "none")
            try:
                first_vectors = embed_folder(recognizer, aligned_root, first_rel, progress=progress,
                                             use_cache=use_cache)
                clean_second = embed_folder(recognizer, aligned_root, unique_second, progress=progress,
                                            use_cache=use_cache)
                scores = cosine_scores(first_vectors, clean_second[order])
                metrics, row["protocol"] = verify_pairs(scores, labels, fold_ids)
                row.update(metrics)
            except Exception as err:
                clean_error, scores, row["error"] = err, None, _error_text(err)
            row["seconds"] = round(time.time() - started, 2)
            if include_clean or row["error"]:
                record(row, scores)
        landmarks_of = clean_landmarks_lookup(recognizer, aligned_root) if recognizer is not None else None
        for spec in specs:
            for item in filler_items:
                filler_name = item.name if isinstance(item, Filler) else item
                if spec in baseline_specs and filler_name != "none":
                    continue
                row = _empty_row(rec_name, spec, filler_name)
                started = time.time()
                scores = None
                try:
                    if rec_error is not None:
                        raise RuntimeError(f"recogniser {rec_name!r} unavailable: {_error_text(rec_error)}")
                    if clean_error is not None:
                        raise RuntimeError(f"first-image embeddings failed: {_error_text(clean_error)}")
                    filler = filler_for(item)
                    if (spec, filler_name) not in realism:
                        realism[(spec, filler_name)] = summarize(realism_condition(
                            aligned_root, unique_second, spec, filler, seed=seed, chunk=chunk,
                            use_cache=use_cache, progress=progress))
                    row.update(realism[(spec, filler_name)])
                    vectors, row["embedded"] = embed_condition(
                        recognizer, aligned_root, unique_second, spec, filler, seed=seed, chunk=chunk,
                        landmarks_of=landmarks_of, use_cache=use_cache, progress=progress)
                    scores = cosine_scores(first_vectors, vectors[order])
                    metrics, row["protocol"] = verify_pairs(scores, labels, fold_ids)
                    row.update(metrics)
                except Exception as err:
                    row["error"], scores = _error_text(err), None
                row["seconds"] = round(time.time() - started, 2)
                record(row, scores)
    if output_dir is not None:
        results.paths = write_results(results, output_dir, stem,
                                      {**config, "seconds": round(time.time() - started_run, 1)})
    return results


# --- writing and reading results ----------------------------------------------------------------

def _plain(value):
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def rows_to_csv(rows: Sequence[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ROW_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if _plain(row.get(k)) is None else _plain(row.get(k))) for k in ROW_FIELDS})
    return buffer.getvalue()


def _atomic_npz(path: Path, **arrays) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _atomic_write_bytes(path, buffer.getvalue())


def write_results(results: OccludedResults, folder=None, stem: str = DEFAULT_STEM, config: dict | None = None) -> list[Path]:
    """Atomically write ``<stem>.csv`` (tidy, one row per condition), ``<stem>.json`` (provenance,
    rows, failures) and ``<stem>_scores.npz`` (``conditions``, ``scores`` (C, N), ``labels``,
    ``folds``, ``first``, ``second``; no pickle) under ``folder`` (default results/lfw_occluded)."""
    folder = Path(folder) if folder is not None else results_dir() / "lfw_occluded"
    csv_path = write_text(folder / f"{stem}.csv", rows_to_csv(results))
    failures = [{"condition": r["condition"], "error": r["error"]} for r in results.failures]
    json_path = write_json(folder / f"{stem}.json", {
        **provenance(config), "rows": [{k: _plain(r.get(k)) for k in ROW_FIELDS} for r in results],
        "failures": failures})
    keys = sorted(results.scores)
    n = len(results.labels)
    matrix = np.stack([results.scores[k] for k in keys]) if keys else np.zeros((0, n), np.float32)
    npz_path = folder / f"{stem}_scores.npz"
    _atomic_npz(npz_path, conditions=np.array(keys, dtype=str), scores=matrix, labels=results.labels,
                folds=results.folds, first=np.array(results.first, dtype=str),
                second=np.array(results.second, dtype=str))
    return [csv_path, json_path, npz_path]


def load_results(folder=None, stem: str = DEFAULT_STEM) -> OccludedResults:
    """Rows (from the JSON) and scores (from the npz) of a written run."""
    import json

    folder = Path(folder) if folder is not None else results_dir() / "lfw_occluded"
    payload = json.loads((folder / f"{stem}.json").read_text())
    numeric = _METRICS + ("acc_clean", "acc_occluded", "recovery_ratio") + REALISM_FIELDS
    rows = [{**{f: math.nan for f in REALISM_FIELDS},  # runs written before the realism columns existed
             **{k: (math.nan if v is None and k in numeric else v)
                for k, v in row.items()}} for row in payload["rows"]]
    with np.load(folder / f"{stem}_scores.npz", allow_pickle=False) as stored:
        scores = dict(zip(stored["conditions"].tolist(), stored["scores"]))
        return OccludedResults(rows, scores, stored["labels"], stored["folds"], stored["first"].tolist(),
                               stored["second"].tolist())


def combine_results(*parts: OccludedResults) -> OccludedResults:
    """One result set from runs over the same pairs (e.g. ``lfw_occluded_sface`` + ``lfw_occluded_dlib``);
    a condition present in several keeps the last. Runs over different pairs are an error."""
    if not parts:
        return OccludedResults()
    base = parts[0]
    rows: dict[str, dict] = {}
    scores: dict[str, np.ndarray] = {}
    for part in parts:
        if part.second != base.second or not np.array_equal(part.labels, base.labels):
            raise ValueError("cannot combine occluded-LFW results over different pairs")
        rows.update((row["condition"], row) for row in part)
        scores.update(part.scores)
    return OccludedResults(list(rows.values()), scores, base.labels, base.folds, base.first, base.second)


def rename_filler(results: OccludedResults, old: str, new: str) -> OccludedResults:
    """The same run with filler ``old`` called ``new`` (rows and score keys), so two runs of one
    filler name (e.g. ``ca_id`` of two checkpoint pairs) can be combined and compared."""
    if not any(row["filler"] == old for row in results):
        raise ValueError(f"no filler {old!r} in this run (it has {', '.join(sorted({r['filler'] for r in results}))})")
    rows, scores = [], {k: v for k, v in results.scores.items()}
    for row in results:
        if row["filler"] == old:
            key = condition_key(row["recogniser"], row["occlusion"], new)
            if row["condition"] in scores:
                scores[key] = scores.pop(row["condition"])
            row = {**row, "filler": new, "condition": key}
        rows.append(row)
    return OccludedResults(rows, scores, results.labels, results.folds, results.first, results.second)


def recogniser_results(results: OccludedResults, recogniser: str) -> OccludedResults:
    """The rows and scores of one recogniser (e.g. to draw its figures from a combined report)."""
    rows = [row for row in results if row["recogniser"] == recogniser]
    keys = {row["condition"] for row in rows}
    scores = {k: v for k, v in results.scores.items() if k in keys}
    return OccludedResults(rows, scores, results.labels, results.folds, results.first, results.second)

def method_summary(rows: Sequence[dict], fill: str = "black") -> list[dict]:
    """Per recogniser and method, the mean over regions of accuracy, recovery ratio and similarity
    gap, plus each on the hardest three regions — the README's headline table."""
    hardest = ("two_eyes", "upper_face", "center_block")
    out = []
    good = [r for r in rows if not r["error"] and r["occlusion"] != CLEAN and r["fill"] == fill]
    for recogniser in dict.fromkeys(r["recogniser"] for r in good):
        mine = [r for r in good if r["recogniser"] == recogniser]
        regions = _region_order(r["region"] for r in mine)
        for filler in _method_order(r["filler"] for r in mine):
            by_region = {r["region"]: r for r in mine if r["filler"] == filler}
            if set(by_region) != set(regions):
                continue  # a method scored on some regions only has no comparable mean
            entry = {"recogniser": recogniser, "method": "occluded" if filler == "none" else filler,
                     "regions": len(regions)}
            for key in ("accuracy", "recovery_ratio", "similarity_gap", *REALISM_FIELDS):
                values = [float(by_region[g].get(key, math.nan)) for g in regions]
                entry[f"mean_{key}"] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
            for region in hardest:
                if region in by_region:
                    entry[f"accuracy_{region}"] = float(by_region[region]["accuracy"])
                    entry[f"chroma_spread_{region}"] = float(by_region[region].get("chroma_spread", math.nan))
            out.append(entry)
    return out


def _method_order(fillers: Iterable[str]) -> list[str]:
    """none first, then the simple fills, the donor, then the method's ablation (CA, CA + ID), then the rest."""
    order = ("none", "telea", "ns", "mean_face", "donor", "ca", "ca_id")
    return sorted(dict.fromkeys(fillers), key=lambda f: order.index(f) if f in order else len(order))


# --- tables for figures --------------------------------------------------------------------------

def _region_order(regions: Iterable[str]) -> list[str]:
    regions = list(dict.fromkeys(regions))
    known = [r for r in REGION_NAMES if r in regions]
    return known + [r for r in regions if r not in known]


def accuracy_table(rows: Sequence[dict], recogniser: str, fill: str | None = None, value: str = "accuracy",
                   include_clean: bool = True) -> dict[str, dict[str, float]]:
    """{method: {region: value}} for one recogniser (and fill): methods are ``occluded`` (filler
    none), each other filler, and ``clean`` (the same value on every region) — the radar's input."""
    good = [r for r in rows if r["recogniser"] == recogniser and not r["error"]]
    table: dict[str, dict[str, float]] = {}
    occluded = [r for r in good if r["occlusion"] != CLEAN and (fill is None or r["fill"] == fill)]
    regions = _region_order(r["region"] for r in occluded)
    clean = [r for r in good if r["occlusion"] == CLEAN]
    if include_clean and clean:
        table["clean"] = {region: float(clean[0][value]) for region in regions}
    for row in occluded:
        method = "occluded" if row["filler"] == "none" else row["filler"]
        table.setdefault(method, {})[row["region"]] = float(row[value])
    return table


def roc_panels(results: OccludedResults, recogniser: str, fill: str | None = None):
    """(panels {region: {method: scores}}, labels, clean scores or None) for :func:`figures.plot_roc_per_region`."""
    panels: dict[str, dict[str, np.ndarray]] = {}
    clean = results.scores.get(condition_key(recogniser, CLEAN, "none"))
    rows = [r for r in results if r["recogniser"] == recogniser and r["occlusion"] != CLEAN and not r["error"]
            and (fill is None or r["fill"] == fill) and r["condition"] in results.scores]
    for region in _region_order(r["region"] for r in rows):
        panels[region] = {("occluded" if r["filler"] == "none" else r["filler"]): results.scores[r["condition"]]
                          for r in rows if r["region"] == region}
    return panels, results.labels, clean


def format_table(rows: Sequence[dict]) -> str:
    """A short fixed-width text table of the rows (for the CLI)."""
    lines = [f"{'recogniser':10s} {'occlusion':28s} {'filler':10s} {'acc %':>7s} {'±':>5s} {'AUC':>7s} "
             f"{'gap':>6s} {'recov':>6s}"]
    for r in rows:
        if r["error"]:
            lines.append(f"{r['recogniser']:10s} {r['occlusion']:28s} {r['filler']:10s} ERROR {r['error'][:60]}")
            continue
        recov = "" if math.isnan(float(r["recovery_ratio"])) else f"{r['recovery_ratio']:.2f}"
        lines.append(f"{r['recogniser']:10s} {r['occlusion']:28s} {r['filler']:10s} {100 * r['accuracy']:7.2f} "
                     f"{100 * r['accuracy_std']:5.2f} {r['auc']:7.4f} {r['similarity_gap']:6.3f} {recov:>6s}")
    return "\n".join(lines)


def markdown_table(rows: Sequence[dict], recogniser: str, value: str = "accuracy") -> str:
    """README table for one recogniser: a row per region, a column per method (occluded with each
    fill, then each filler), plus the mean over regions; accuracy in %."""
    good = [r for r in rows if r["recogniser"] == recogniser and not r["error"]]
    clean = next((r for r in good if r["occlusion"] == CLEAN), None)
    occluded = [r for r in good if r["occlusion"] != CLEAN]
    fills = list(dict.fromkeys(r["fill"] for r in occluded))
    methods = [(f"occluded ({fill})", fill, "none") for fill in fills]
    fillers = [f for f in _method_order(r["filler"] for r in occluded) if f != "none"]
    methods += [(filler, fills[0], filler) for filler in fillers] if fills else []
    cell = {(r["region"], r["fill"], r["filler"]): r for r in occluded}
    regions = _region_order(r["region"] for r in occluded)
    scale, digits = (100.0, 2) if value == "accuracy" else (1.0, 2) if value in ("hole_psnr", "chroma_error") else (1.0, 3)
    lines = ["| region | " + " | ".join(name for name, _, _ in methods) + " |",
             "|---" * (len(methods) + 1) + "|"]
    sums = {name: [] for name, _, _ in methods}
    for region in regions:
        cells = []
        for name, fill, filler in methods:
            row = cell.get((region, fill, filler))
            number = math.nan if row is None else float(row.get(value, math.nan))
            cells.append("–" if math.isnan(number) else f"{scale * number:.{digits}f}")
            if not math.isnan(number):
                sums[name].append(scale * number)
        lines.append(f"| {region} | " + " | ".join(cells) + " |")
    complete = {name: v for name, v in sums.items() if len(v) == len(regions)}
    lines.append("| **mean** | " + " | ".join(f"**{np.mean(complete[name]):.{digits}f}**" if name in complete else "–"
                                              for name, _, _ in methods) + " |")
    if clean is not None and not math.isnan(float(clean.get(value, math.nan))):
        lines.append(f"\nClean: {scale * clean[value]:.{digits}f}.")
    return "\n".join(lines)


def paired_comparisons(results: OccludedResults, recogniser: str, method: str = "ca_id",
                       baseline: str = "none", fill: str = "black", baseline_fill: str | None = None
                       ) -> dict[str, PairedComparison]:
    """{region: comparison, ..., "mean": comparison} of ``method`` against ``baseline`` (fillers) on
    the same pairs: per-fold accuracies, each with its own cross-validated thresholds, compared fold
    by fold with an exact sign-flip test. The method runs on ``fill``, the baseline on
    ``baseline_fill`` (default the same; e.g. ``baseline="none", baseline_fill="gray"`` is the
    gray-filled face). "mean" compares the per-fold accuracies averaged over the regions both have —
    the README headline's mean, with a p-value."""
    baseline_fill = baseline_fill or fill
    rows = {(r["region"], r["fill"], r["filler"]): r for r in results if r["recogniser"] == recogniser
            and r["occlusion"] != CLEAN and not r["error"] and r["condition"] in results.scores}
    per_fold: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for region in _region_order(region for region, _, _ in rows):
        keys = ((region, fill, method), (region, baseline_fill, baseline))
        if all(key in rows for key in keys):
            method_acc, baseline_acc = [kfold_accuracy(np.asarray(results.scores[rows[key]["condition"]], np.float64),
                                                       results.labels, results.folds)[0] for key in keys]
            per_fold[region] = (method_acc, baseline_acc)
    out = {region: compare_fold_accuracies(m, b) for region, (m, b) in per_fold.items()}
    if per_fold:
        out["mean"] = compare_fold_accuracies(np.mean([m for m, _ in per_fold.values()], axis=0),
                                              np.mean([b for _, b in per_fold.values()], axis=0))
    return out


def significance_table(results: OccludedResults, recogniser: str, method: str = "ca_id",
                       baselines: Sequence[str] = ("none", "telea"), fill: str = "black") -> str:
    """Markdown: per region (and the mean over regions), ``method`` minus each baseline in accuracy
    points with the number of better folds and the sign-flip p-value. A baseline is a filler on the
    same fill (``"telea"``) or ``"<fill>:<filler>"`` (``"gray:none"``: the gray-filled face)."""
    def parse(baseline: str) -> tuple[str, str]:  # "telea" or "<fill>:<filler>", e.g. "gray:none"
        base_fill, _, filler = baseline.rpartition(":")
        return filler, base_fill or fill

    def name(baseline: str) -> str:
        filler, base_fill = parse(baseline)
        return f"occluded ({base_fill})" if filler == "none" else filler

    tables = {}
    for b in baselines:
        filler, base_fill = parse(b)
        tables[b] = paired_comparisons(results, recogniser, method, filler, fill=fill, baseline_fill=base_fill)
    baselines = [b for b in baselines if tables[b]] or list(baselines)[:1]  # a baseline never scored: no column
    regions = list(dict.fromkeys(region for t in tables.values() for region in t))
    header = " | ".join(f"vs {name(b)}: Δ points | folds better | p" for b in baselines)
    lines = [f"| region | {header} |", "|---" * (1 + 3 * len(baselines)) + "|"]
    for region in regions:
        cells = []
        for b in baselines:
            c = tables[b].get(region)
            cells += ["–"] * 3 if c is None else [f"{100 * c.mean_difference:+.2f}",
                                                 f"{c.folds_better}/{len(c.fold_differences)}", f"{c.p_value:.3f}"]
        label = "**mean**" if region == "mean" else region
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def headline_table(rows: Sequence[dict], fill: str = "black") -> str:
    """Markdown of :func:`method_summary`: per recogniser and method, the 10-region means and the
    hardest three (accuracy in %)."""
    def number(value, fmt):
        return "–" if value is None or math.isnan(float(value)) else format(value, fmt)

    lines = ["| recogniser | method | mean accuracy | mean recovery ratio | mean similarity gap | two_eyes | upper_face "
             "| center_block | chroma spread (two_eyes / upper_face / center_block) | hole PSNR dB | SSIM |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in method_summary(rows, fill):
        hard = " | ".join(number(100 * e[k], ".2f") if k in e else "–"
                          for k in ("accuracy_two_eyes", "accuracy_upper_face", "accuracy_center_block"))
        spread = " / ".join(number(e.get(f"chroma_spread_{r}"), ".2f") for r in ("two_eyes", "upper_face", "center_block"))
        lines.append(f"| {e['recogniser']} | {e['method']} | {100 * e['mean_accuracy']:.2f} | "
                     f"{number(e['mean_recovery_ratio'], '.2f')} | {e['mean_similarity_gap']:.3f} | {hard} | {spread} | "
                     f"{number(e.get('mean_hole_psnr'), '.2f')} | {number(e.get('mean_ssim'), '.3f')} |")
    return "\n".join(lines)


def results_report(results: OccludedResults, method: str = "ca_id",
                   baselines: Sequence[str] = ("none", "gray:none", "telea", "donor")) -> str:
    """The README's occluded-LFW block from saved runs: per recogniser the accuracy and similarity-gap
    tables, then the headline, then ``method`` against each baseline with the paired fold test."""
    recognisers = list(dict.fromkeys(r["recogniser"] for r in results))
    parts = []
    for recogniser in recognisers:
        parts += [f"**{recogniser}: accuracy (%)**, 10-fold\n", markdown_table(results, recogniser), "",
                  f"**{recogniser}: similarity gap** (same − different mean cosine)\n",
                  markdown_table(results, recogniser, value="similarity_gap"), ""]
    measured = [r for r in results if r["occlusion"] != CLEAN and not r["error"]
                and np.isfinite(float(r.get("chroma_spread", math.nan)))]
    if measured:  # realism is the same for every recogniser: one table per measure
        first = measured[0]["recogniser"]
        for value, title in (("chroma_spread", "median chroma spread in the hole (fill / clean; real skin ≈ 1)"),
                             ("periodicity", "median periodicity of the fill's luminance detail (real face parts "
                                             "≈ 0.3; a repeated pattern > 0.5)"),
                             ("chroma_error", "mean chroma error |Δa*| + |Δb*| in the hole (lower is better)"),
                             ("hole_psnr", "hole PSNR, dB (fidelity; rewards blur)"),
                             ("ssim", "whole-crop SSIM (fidelity)")):
            parts += [f"**Is it a face? {title}**\n", markdown_table(results, first, value=value), ""]
    parts += ["**Headline** (black fill; mean over the regions where a method has all 10, and the hardest three; "
              "accuracy %, realism beside it)\n", headline_table(results), ""]
    for recogniser in recognisers:
        table = significance_table(results, recogniser, method, baselines)
        if len(table.splitlines()) > 2:
            parts += [f"**{recogniser}: {method} minus each baseline** (accuracy points, paired over the 10 folds, "
                      "exact sign-flip p)\n", table, ""]
    return "\n".join(parts).rstrip() + "\n"


__all__ = [
    "CLEAN", "CACHE_VERSION", "ROW_FIELDS", "OccludedResults", "accuracy_table", "build_filler",
    "canonical_spec", "condition_cache_file", "condition_key", "donor_filler", "realism_cache_file", "realism_condition", "crop_landmarks_of", "embed_condition",
    "evaluate_conditions", "combine_results", "headline_table", "method_summary", "results_report", "filler_fingerprint", "fit_mean_face", "format_table", "load_results", "markdown_table",
    "mean_face_files", "occlude_faces", "occlusion_seed", "pair_people", "paired_comparisons", "region_label",
    "rename_filler", "roc_panels",
    "significance_table",
    "rows_to_csv", "verify_pairs", "write_results",
]
