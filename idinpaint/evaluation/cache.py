"""The protocol's caches: one condition (occlusion spec, filler) done once, kept, resumed.

Embeddings are cached per (recognizer, occlusion, filler) in an ``.npz`` under
``cache_dir()/embeddings`` (the format of :mod:`.embeddings`, loaded without pickle) and per-crop
realism under ``cache_dir()/realism``; both are rewritten after every chunk, so an interrupted run
resumes where it stopped. The learned realism judge (:func:`.realism.c2st`) of a condition is kept
beside the per-crop realism as a small JSON per (condition, set of judged crops), written once the
judge is done. Network fillers (``cache_fills``) also keep their filled crops under
``cache_dir()/filled``, shared by every recognizer. The key of a condition hashes the aligned
folder, the canonical spec, the seed, the filler's fingerprint and :data:`CACHE_VERSION`.

**One key convention** for every cache of the package (these, and the learning curves' scores in a
run folder, :mod:`.curves`): what a cached result was made under is hashed into its file name
(:func:`key_digest`, :func:`keyed_file`), so a result made under another key is another file, never
read by mistake, and a cache is looked up by its name alone.

**Mask source.** By default a filler gets the oracle mask the occlusion made. Given a ``detector``
(an O-Detector, :mod:`idinpaint.detection`), the filler gets the mask the detector predicts on the
occluded crop instead (``--masks predicted``); the key then also holds the detector's fingerprint
(weights and mask settings) and the stems end in ``_predicted``. Oracle keys are unchanged. Realism
is always measured inside the oracle hole (what was hidden), and the ``none`` filler, which leaves
the occluded crop as it is whatever the mask, shares the oracle entry.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from idinpaint.data.aligned import read_faces
from idinpaint.evaluation.embeddings import cached_names, load_embedding_cache, save_embedding_cache
from idinpaint.evaluation.realism import (
    C2ST_FIELDS,
    C2ST_MAX_CROPS,
    C2ST_VERSION,
    NO_C2ST,
    REALISM_FIELDS,
    as_vectors,
    c2st_draw,
    c2st_fields,
    realism_metrics,
)
from idinpaint.fillers import Filler, MeanFaceFiller, NoneFiller
from idinpaint.imageio import read_rgb, write_rgb
from idinpaint.occlusion import OcclusionSpec, canonical_spec, crop_landmarks_of, occlude_faces, parse_spec
from idinpaint.paths import cache_dir
from idinpaint.progress import progress_bar
from idinpaint.runinfo import write_json

#: Bump when the occlusion / filling pipeline changes in a way that alters pixels: old caches are ignored.
CACHE_VERSION = "occluded-v1"
DEFAULT_CHUNK = 256


def filler_fingerprint(filler: Filler) -> str:
    """What makes a filler's output what it is (part of the cache key): a fitted mean face's hash,
    a ``cache_tag`` attribute if the filler has one, else its repr."""
    tag = getattr(filler, "cache_tag", None)
    if tag:
        return str(tag)
    if isinstance(filler, MeanFaceFiller) and filler.mean is not None:
        return "mean_face:" + hashlib.sha1(np.ascontiguousarray(filler.mean).tobytes()).hexdigest()[:16]
    return repr(filler)


def key_digest(key) -> str:
    """The 12 hex digits a cache file's name ends in: the SHA-1 of the key (a string as it is, anything
    else as its JSON with sorted keys)."""
    text = key if isinstance(key, str) else json.dumps(key, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def keyed_file(folder, stem: str, key, suffix: str = ".json") -> Path:
    """``<folder>/<stem>_<key digest><suffix>``: a cache file named by what it was made under."""
    return Path(folder) / f"{stem}_{key_digest(key)}{suffix}"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


def mask_source(filler: Filler, detector=None):
    """The detector whose masks ``filler`` gets, or None for the oracle mask (always for ``none``:
    it returns the occluded crop whatever the mask)."""
    return None if detector is None or isinstance(filler, NoneFiller) else detector


def _condition_stem(root, spec: str | OcclusionSpec, filler: Filler, seed: int = 0, detector=None) -> str:
    """``<folder>_<spec>_<filler>[_predicted]_<key>``; the key hashes the folder, spec, seed, filler
    fingerprint and :data:`CACHE_VERSION` (and the detector's fingerprint for predicted masks)."""
    spec = canonical_spec(spec)
    text = f"{Path(root).resolve()}|{spec}|{int(seed)}|{filler_fingerprint(filler)}|{CACHE_VERSION}"
    detector = mask_source(filler, detector)
    if detector is not None:
        text += f"|masks=predicted:{detector.fingerprint}"
    key = key_digest(text)
    source = "_predicted" if detector is not None else ""
    return f"{Path(root).name}_{_slug(spec)}_{_slug(filler.name)}{source}_{key}"


def condition_cache_file(recognizer_name: str, root, spec: str | OcclusionSpec, filler: Filler, seed: int = 0,
                         detector=None) -> Path:
    """``cache_dir()/embeddings/<rec>_<folder>_<spec>_<filler>_<key>.npz`` (see :func:`_condition_stem`)."""
    return cache_dir() / "embeddings" / f"{recognizer_name}_{_condition_stem(root, spec, filler, seed, detector)}.npz"


def filled_cache_dir(root, spec: str | OcclusionSpec, filler: Filler, seed: int = 0, detector=None) -> Path:
    """``cache_dir()/filled/<folder>_<spec>_<filler>_<key>/``: filled crops (PNG, same relative paths)
    of fillers with ``cache_fills`` (networks), shared by every recognizer that scores the condition."""
    return cache_dir() / "filled" / _condition_stem(root, spec, filler, seed, detector)


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


def filled_chunks(root: Path, relatives: Sequence[str], parsed: OcclusionSpec, filler: Filler, *, seed: int,
                  chunk: int, detector=None, fill_dir: Path | None = None):
    """The crops read, occluded (seeded) and filled chunk by chunk: yields (chunk's relatives, clean
    faces, filled, oracle masks). ``detector``: the filler gets its predicted masks; ``fill_dir``: the
    filled-crop cache of a network filler (:func:`fill_chunk`)."""
    occluder_points = crop_landmarks_of(root) if parsed.kind == "maskthface" else None
    for start in range(0, len(relatives), chunk):
        batch = list(relatives[start:start + chunk])
        faces = read_faces(root, batch)
        points = occluder_points(batch) if occluder_points is not None else None
        occluded, masks = occlude_faces(parsed, faces, batch, landmarks=points, seed=seed)
        fill_masks = masks if detector is None else detector.predict_for(occluded, batch)
        yield batch, faces, fill_chunk(filler, occluded, fill_masks, batch, fill_dir), masks


def _cached_per_crop(root: Path, relatives: Sequence[str], parsed: OcclusionSpec, filler: Filler, *, path: Path | None,
                     seed: int, chunk: int, use_cache: bool, progress: bool, desc: str, measure,
                     detector=None) -> tuple[dict, int]:
    """The shared loop of :func:`embed_condition` and :func:`realism_condition`: crops missing from
    the cache at ``path`` are read, occluded (seeded), filled (through the filled-crop cache of
    network fillers) and given to ``measure(faces, filled, masks, relatives) -> (n, D)``, chunk by
    chunk; the cache is saved after every chunk, so an interrupted run resumes (``path`` None: no
    per-crop cache, every crop is done and the table holds whatever ``measure`` returns). Returns (table,
    how many were computed now). ``detector``: the filler gets its predicted masks (see the module
    docstring); ``measure`` always gets the oracle ones."""
    detector = mask_source(filler, detector)
    keep = use_cache and path is not None
    table = load_embedding_cache(path) if keep else {}
    missing = [rel for rel in dict.fromkeys(relatives) if rel not in table]
    fill_dir = (filled_cache_dir(root, parsed, filler, seed, detector)
                if use_cache and getattr(filler, "cache_fills", False) else None)
    with progress_bar(total=len(missing), desc=desc, unit="img", disable=not progress or not missing) as bar:
        for batch, faces, filled, masks in filled_chunks(root, missing, parsed, filler, seed=seed, chunk=chunk,
                                                         detector=detector, fill_dir=fill_dir):
            table.update(zip(batch, measure(faces, filled, masks, batch)))
            if keep:
                save_embedding_cache(path, table)  # after every chunk: an interrupted run resumes here
            bar.update(len(batch))
    return table, len(missing)


def embed_condition(recognizer, root, relatives: Sequence[str], spec: str | OcclusionSpec, filler: Filler, *,
                    seed: int = 0, chunk: int = DEFAULT_CHUNK, landmarks_of=None, use_cache: bool = True,
                    progress: bool = True, detector=None) -> tuple[np.ndarray, int]:
    """Embeddings (N, D) of the occluded + filled copies of ``root/relative``; returns (embeddings,
    how many were computed now). Missing crops are done in chunks and the cache is saved after each.

    ``landmarks_of``: callable(relatives) -> (n, 5, 2) clean-crop landmarks for recognizers that cut
    their own chip (dlib; see :func:`.lfw.clean_landmarks_lookup`). ``detector``: fill with its
    predicted masks instead of the oracle ones.
    """
    root = Path(root)
    parsed = spec if isinstance(spec, OcclusionSpec) else parse_spec(spec)

    def embed(faces, filled, masks, batch):
        kwargs = {"landmarks": landmarks_of(batch)} if landmarks_of is not None else {}
        return recognizer.embed(filled, **kwargs)

    table, computed = _cached_per_crop(
        root, relatives, parsed, filler,
        path=condition_cache_file(recognizer.name, root, parsed, filler, seed, detector),
        seed=seed, chunk=chunk, use_cache=use_cache, progress=progress,
        desc=f"embed[{recognizer.name}] {parsed} + {filler.name}{_source_tag(filler, detector)}", measure=embed,
        detector=detector)
    if not relatives:
        return np.zeros((0, getattr(recognizer, "dim", 0)), np.float32), computed
    return np.stack([table[rel] for rel in relatives]), computed


def _source_tag(filler: Filler, detector) -> str:
    return " (predicted masks)" if mask_source(filler, detector) is not None else ""


def realism_cache_file(root, spec: str | OcclusionSpec, filler: Filler, seed: int = 0, detector=None) -> Path:
    """``cache_dir()/realism/<folder>_<spec>_<filler>_<key>.npz``: per-crop realism vectors."""
    return cache_dir() / "realism" / f"{_condition_stem(root, spec, filler, seed, detector)}.npz"


def realism_condition(root, relatives: Sequence[str], spec: str | OcclusionSpec, filler: Filler, *,
                      seed: int = 0, chunk: int = DEFAULT_CHUNK, use_cache: bool = True,
                      progress: bool = True, detector=None) -> np.ndarray:
    """Per-crop realism (N, len(REALISM_FIELDS)) of the occluded + filled copies of ``root/relative``
    against the clean crops (see :mod:`.realism`). Shares the occlusion, the filled-crop cache and
    the chunking of :func:`embed_condition`; cached per condition, saved after every chunk."""
    root = Path(root)
    parsed = spec if isinstance(spec, OcclusionSpec) else parse_spec(spec)
    table, _ = _cached_per_crop(
        root, relatives, parsed, filler, path=realism_cache_file(root, parsed, filler, seed, detector), seed=seed,
        chunk=chunk, use_cache=use_cache, progress=progress,
        desc=f"realism {parsed} + {filler.name}{_source_tag(filler, detector)}",
        measure=lambda faces, filled, masks, batch: as_vectors(realism_metrics(filled, faces, masks)),
        detector=detector)
    if not relatives:
        return np.zeros((0, len(REALISM_FIELDS)), np.float32)
    return np.stack([table[rel] for rel in relatives])


def c2st_cache_file(root, spec: str | OcclusionSpec, filler: Filler, seed: int = 0, detector=None,
                    relatives: Sequence[str] = ()) -> Path:
    """``cache_dir()/realism/<folder>_<spec>_<filler>_<key>_c2st-<crops>.json``: the C2ST of a
    condition on one set of crops; ``<crops>`` hashes the condition's stem, the (sorted) crops,
    :data:`~.realism.C2ST_VERSION` and the seed, so runs over other folds keep their own."""
    stem = _condition_stem(root, spec, filler, seed, detector)
    text = f"{stem}|{C2ST_VERSION}|{int(seed)}|" + "\n".join(sorted(set(relatives)))
    return cache_dir() / "realism" / f"{stem}_c2st-{hashlib.sha1(text.encode()).hexdigest()[:12]}.json"


def _stored_c2st(path: Path) -> dict[str, float] | None:
    """The fields of a stored C2ST, or None when the file is missing or unreadable (then it is redone)."""
    try:
        stored = json.loads(path.read_text())["fields"]
        return {field: math.nan if stored[field] is None else float(stored[field]) for field in C2ST_FIELDS}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def c2st_condition(root, relatives: Sequence[str], spec: str | OcclusionSpec, filler: Filler, *, seed: int = 0,
                   chunk: int = DEFAULT_CHUNK, use_cache: bool = True, progress: bool = True, detector=None,
                   max_crops: int = C2ST_MAX_CROPS) -> dict[str, float]:
    """The C2ST fields (:data:`~.realism.C2ST_FIELDS`) of one condition: can a fresh classifier tell
    its fills from real hole content (:func:`.realism.c2st`, split by person)? Judged on at most
    ``max_crops`` of ``relatives`` (a seeded, stable draw, :func:`.realism.c2st_draw`), occluded and
    filled by the loop of :func:`embed_condition` (network fills come from the filled-crop cache);
    NaN fields when there are too few crops to judge. Kept as JSON (:func:`c2st_cache_file`): a
    re-run or a second recognizer reads it back."""
    root = Path(root)
    parsed = spec if isinstance(spec, OcclusionSpec) else parse_spec(spec)
    drawn = c2st_draw(relatives, max_crops, seed)
    path = c2st_cache_file(root, parsed, filler, seed, detector, drawn)
    stored = _stored_c2st(path) if use_cache else None
    if stored is not None:
        return stored
    fields = dict(NO_C2ST)
    if drawn:
        table, _ = _cached_per_crop(
            root, drawn, parsed, filler, path=None, seed=seed, chunk=chunk, use_cache=use_cache, progress=progress,
            desc=f"c2st {parsed} + {filler.name}{_source_tag(filler, detector)}",
            measure=lambda faces, filled, masks, batch: list(zip(faces, filled, masks)), detector=detector)
        clean, filled, masks = (np.stack([table[rel][k] for rel in drawn]) for k in range(3))
        fields = {k: float(v) for k, v in c2st_fields(clean, filled, masks, drawn, seed=seed).items()}
    if use_cache:
        write_json(path, {"version": C2ST_VERSION, "seed": int(seed), "spec": str(parsed), "filler": filler.name,
                          "crops": len(drawn), "fields": {k: None if math.isnan(v) else v for k, v in fields.items()}})
    return fields


def condition_cached(recognizer_name: str, root, relatives: Sequence[str], spec: str | OcclusionSpec,
                     filler: Filler, *, seed: int = 0, detector=None, c2st: bool = True,
                     c2st_max_crops: int = C2ST_MAX_CROPS) -> tuple[int, bool]:
    """(crops of one condition the caches already hold, whether nothing is left to compute): a crop
    counts when both its embedding by ``recognizer_name`` and its realism are cached; the condition
    is whole when every crop is and, with ``c2st``, its C2ST is stored too. Reads only the caches'
    lists of crops, so a re-run can say what it reuses before it starts."""
    root = Path(root)
    parsed = spec if isinstance(spec, OcclusionSpec) else parse_spec(spec)
    wanted = set(relatives)
    held = (cached_names(condition_cache_file(recognizer_name, root, parsed, filler, seed, detector))
            & cached_names(realism_cache_file(root, parsed, filler, seed, detector)) & wanted)
    judged = not c2st or _stored_c2st(c2st_cache_file(root, parsed, filler, seed, detector,
                                                       c2st_draw(relatives, c2st_max_crops, seed))) is not None
    return len(held), len(held) == len(wanted) and judged
