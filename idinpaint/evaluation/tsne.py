"""t-SNE of face embeddings — clean, occluded and filled — with numbers beside the picture.

A t-SNE map shows whether a filler puts a person's faces back together, but a picture alone can be
read any way one likes, so every condition also gets two numbers computed in the **embedding space**
(not on the 2-D map, which t-SNE distorts):

* the silhouette score with cosine distance (-1..1; high = identities form tight, separate clusters);
* nearest-centroid identity accuracy, leave-one-out: each face is assigned to the identity whose
  centroid (its own identity's centroid computed without it) is most cosine-similar.

Subjects: by default LFW people with at least 20 aligned crops (``max_people`` of them and
``images_per_person`` crops each, drawn with a seeded generator, so the set is fixed). FaceScrub
(aligned 112 crops, one folder per identity, see :mod:`idinpaint.data.registry`) can be used by
those who have it. Occluded copies use :func:`.occluded.embed_condition` (the same deterministic
pixels and cache as the LFW protocol).

For a class to explore the same faces by hand, :func:`write_projector` writes the conditions as one
TensorBoard projector log (every face's embedding, its thumbnail and its person / condition /
region / filler as labels): ``tensorboard --logdir <folder>``, then the PROJECTOR tab.
"""
from __future__ import annotations

import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from idinpaint.data.aligned import read_faces
from idinpaint.data.lfw import default_aligned_root
from idinpaint.data.registry import IMAGE_SUFFIXES, DatasetError, dataset_root
from idinpaint.evaluation.cache import embed_condition, fill_chunk, filled_cache_dir
from idinpaint.evaluation.embeddings import embed_folder
from idinpaint.evaluation.clean import clean_landmarks_lookup
from idinpaint.fillers import Filler, build_filler
from idinpaint.imageio import atomic_write_bytes
from idinpaint.occlusion import CLEAN, canonical_spec, crop_landmarks_of, occlude_faces, parse_spec, region_label
from idinpaint.paths import results_dir
from idinpaint.recognizers import get_recognizer
from idinpaint.runinfo import provenance, write_json

DEFAULT_MIN_IMAGES = 20
DEFAULT_PEOPLE = 12
DEFAULT_IMAGES = 20
DEFAULT_SPEC = "region:two_eyes@black"


@dataclass
class Subjects:
    """Which crops to map: ``root/relatives[i]`` shows identity ``names[labels[i]]``."""

    root: Path
    relatives: list[str]
    labels: np.ndarray
    names: list[str]
    dataset: str = "lfw"

    def __len__(self) -> int:
        return len(self.relatives)


def identity_subjects(root, min_images: int = DEFAULT_MIN_IMAGES, max_people: int = DEFAULT_PEOPLE,
                      images_per_person: int = DEFAULT_IMAGES, seed: int = 0, dataset: str = "lfw") -> Subjects:
    """From an identity-folder layout (``root/<person>/<image>``): ``max_people`` of the people with at
    least ``min_images`` images and ``images_per_person`` images of each, drawn with ``default_rng(seed)``
    from the sorted lists (the same arguments always give the same set)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: aligned folder not found")
    people = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f.name for f in folder.iterdir()
                       if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith("."))
        if len(files) >= min_images:
            people[folder.name] = files
    if len(people) < 2:
        raise ValueError(f"{root}: {len(people)} people with >= {min_images} images; t-SNE needs at least 2 "
                         "(lower min_images)")
    rng = np.random.default_rng(seed)
    names = sorted(people)
    if len(names) > max_people:
        names = [names[i] for i in sorted(rng.choice(len(names), size=max_people, replace=False).tolist())]
    relatives, labels = [], []
    for label, person in enumerate(names):
        files = people[person]
        if len(files) > images_per_person:
            files = [files[i] for i in sorted(rng.choice(len(files), size=images_per_person, replace=False).tolist())]
        relatives += [f"{person}/{name}" for name in files]
        labels += [label] * len(files)
    return Subjects(root, relatives, np.array(labels, dtype=int), names, dataset)


def lfw_subjects(aligned_root=None, **kwargs) -> Subjects:
    """LFW people with >= ``min_images`` (default 20) crops in the aligned folder (default data/lfw-112)."""
    return identity_subjects(aligned_root or default_aligned_root(), dataset="lfw", **kwargs)


def facescrub_subjects(root=None, **kwargs) -> Subjects:
    """FaceScrub subjects from its aligned crops (``dataset_root('facescrub')``: ``IDINPAINT_FACESCRUB_ROOT``
    or ``data/facescrub``, one folder per identity). A missing dataset raises :class:`DatasetError`
    saying where it was looked for and that LFW works without it."""
    try:
        folder = dataset_root("facescrub", root)
    except DatasetError as err:
        raise DatasetError(
            f"{err}. FaceScrub is optional: align it to 112x112 crops in one folder per identity "
            "(`idinpaint preprocess --has_subdirs`), or use the default LFW subjects (`--dataset lfw`)") from None
    return identity_subjects(folder, dataset="facescrub", **kwargs)


def load_subjects(dataset: str = "lfw", root=None, **kwargs) -> Subjects:
    if dataset == "lfw":
        return lfw_subjects(root, **kwargs)
    if dataset == "facescrub":
        return facescrub_subjects(root, **kwargs)
    raise ValueError(f"unknown t-SNE dataset {dataset!r}; choose lfw or facescrub")


# --- numbers -------------------------------------------------------------------------------------

def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def silhouette(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette with cosine distance (NaN when there are fewer than 2 identities)."""
    from sklearn.metrics import silhouette_score

    labels = np.asarray(labels)
    if not 2 <= len(np.unique(labels)) <= len(labels) - 1:
        return float("nan")
    return float(silhouette_score(_unit(embeddings), labels, metric="cosine"))


def nearest_centroid_accuracy(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out nearest-centroid identity accuracy with cosine similarity.

    Each face is compared with every identity's centroid of unit embeddings; its own identity's
    centroid is recomputed without it (a face alone in its identity cannot be recognised)."""
    x = _unit(embeddings)
    labels = np.asarray(labels)
    classes, index = np.unique(labels, return_inverse=True)
    sums = np.zeros((len(classes), x.shape[1]))
    np.add.at(sums, index, x)
    counts = np.bincount(index, minlength=len(classes))
    similarity = x @ _unit(sums).T  # (N, C) against full centroids
    own = sums[index] - x  # own centroid without the face itself (scaled; cosine ignores scale)
    own_norm = np.linalg.norm(own, axis=1)
    own_similarity = np.where(own_norm > 1e-12, np.sum(x * own, axis=1) / np.maximum(own_norm, 1e-12), -np.inf)
    own_similarity = np.where(counts[index] > 1, own_similarity, -np.inf)
    similarity[np.arange(len(x)), index] = own_similarity
    return float(np.mean(np.argmax(similarity, axis=1) == index))


#: Up to this many points t-SNE uses the exact gradient: for the few hundred faces of a t-SNE figure
#: it is both exact and (on a small CPU) several times faster than Barnes-Hut.
EXACT_TSNE_MAX = 1000


def tsne_map(embeddings: np.ndarray, seed: int = 0, perplexity: float | None = None) -> np.ndarray:
    """2-D t-SNE of unit embeddings (sklearn, ``init='pca'``, fixed ``random_state``; perplexity
    defaults to min(30, (N - 1) / 3))."""
    from sklearn.manifold import TSNE

    x = _unit(embeddings)
    if perplexity is None:
        perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
    perplexity = min(perplexity, len(x) - 1.0)
    method = "exact" if len(x) <= EXACT_TSNE_MAX else "barnes_hut"
    return TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity,
                method=method).fit_transform(x)


@dataclass
class TsneCondition:
    name: str            # "clean", "occluded" or the filler's name
    spec: str            # occlusion spec ("" for clean)
    filler: str
    embeddings: np.ndarray
    labels: np.ndarray
    silhouette: float
    nc_accuracy: float
    points: np.ndarray | None = None   # (N, 2) t-SNE map
    extra: dict = field(default_factory=dict)  # "thumbnails": (N, t, t, 3) uint8 faces (run_tsne(thumbnails=t))

    def summary(self) -> dict:
        return {"name": self.name, "spec": self.spec, "filler": self.filler, "n": int(len(self.labels)),
                "identities": int(len(np.unique(self.labels))), "silhouette": self.silhouette,
                "nc_accuracy": self.nc_accuracy}


def run_tsne(recognizer="sface", subjects: Subjects | None = None, spec: str = DEFAULT_SPEC,
             fillers: Sequence = ("telea",), seed: int = 0, perplexity: float | None = None,
             progress: bool = True, use_cache: bool = True, mean_face_root=None,
             thumbnails: int = 0) -> list[TsneCondition]:
    """Embed the subjects clean, occluded (``spec``, filler ``none``) and filled with each of
    ``fillers``; compute silhouette, nearest-centroid accuracy and a t-SNE map per condition.
    ``thumbnails`` > 0: each condition also keeps the faces it embedded, downscaled to that size, in
    ``extra["thumbnails"]`` (for :func:`write_projector`).

    ``recognizer``: a name or a Recognizer; ``subjects`` default to :func:`lfw_subjects`. The
    ``mean_face`` filler is fitted on LFW non-pair people (``mean_face_root``, default the aligned
    LFW folder), excluding the mapped people as well.
    """
    if isinstance(recognizer, str):
        recognizer = get_recognizer(recognizer)
    subjects = subjects or lfw_subjects()
    spec = canonical_spec(spec)
    root = Path(subjects.root)
    landmarks_of = clean_landmarks_lookup(recognizer, root)
    conditions = []

    def add(name, spec_text, filler_name, vectors, faces=None):
        conditions.append(TsneCondition(name, spec_text, filler_name, np.asarray(vectors), subjects.labels,
                                        silhouette(vectors, subjects.labels),
                                        nearest_centroid_accuracy(vectors, subjects.labels)))
        if thumbnails:
            conditions[-1].extra["thumbnails"] = faces

    add("clean", "", "none", embed_folder(recognizer, root, subjects.relatives, progress=progress,
                                          use_cache=use_cache),
        condition_thumbnails(root, subjects.relatives, size=thumbnails) if thumbnails else None)
    items = ["none"] + [f for f in fillers if (f.name if isinstance(f, Filler) else f) != "none"]
    for item in items:
        if isinstance(item, Filler):
            filler = item
        elif item == "mean_face":
            filler = build_filler("mean_face", mean_face_root or default_aligned_root(),
                                  exclude_people=subjects.names if subjects.dataset == "lfw" else ())
        else:
            filler = build_filler(item)
        vectors, _ = embed_condition(recognizer, root, subjects.relatives, spec, filler, seed=seed,
                                     landmarks_of=landmarks_of, use_cache=use_cache, progress=progress)
        faces = condition_thumbnails(root, subjects.relatives, spec, filler, seed=seed, size=thumbnails,
                                     use_cache=use_cache) if thumbnails else None
        add("occluded" if filler.name == "none" else filler.name, spec, filler.name, vectors, faces)
    for condition in conditions:
        condition.points = tsne_map(condition.embeddings, seed=seed, perplexity=perplexity)
    return conditions


def write_tsne(conditions: Sequence[TsneCondition], subjects: Subjects, folder=None, stem: str = "tsne",
               config: dict | None = None) -> list[Path]:
    """``<stem>.json`` (provenance + per-condition numbers) and ``<stem>.npz`` (points, labels,
    names, paths; no pickle) under ``folder`` (default results/tsne)."""
    folder = Path(folder) if folder is not None else results_dir() / "tsne"
    json_path = write_json(folder / f"{stem}.json", {
        **provenance(config), "dataset": subjects.dataset, "root": str(subjects.root),
        "people": subjects.names, "images": len(subjects), "conditions": [c.summary() for c in conditions]})
    arrays = {"labels": subjects.labels, "names": np.array(subjects.names, dtype=str),
              "paths": np.array(subjects.relatives, dtype=str),
              "conditions": np.array([c.name for c in conditions], dtype=str)}
    for c in conditions:
        arrays[f"points_{c.name}"] = c.points if c.points is not None else np.zeros((0, 2))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    npz_path = folder / f"{stem}.npz"
    atomic_write_bytes(npz_path, buffer.getvalue())
    return [json_path, npz_path]


# --- TensorBoard's embedding projector ------------------------------------------------------------

#: Thumbnail side (pixels) of the projector's sprite: 32 keeps a few thousand faces in a small PNG.
PROJECTOR_THUMBNAIL = 32
PROJECTOR_HEADER = ["person", "condition", "region", "fill", "filler", "image"]


def condition_thumbnails(root, relatives: Sequence[str], spec: str | None = None, filler: Filler | None = None, *,
                         seed: int = 0, size: int = PROJECTOR_THUMBNAIL, use_cache: bool = True,
                         chunk: int = 256) -> np.ndarray:
    """(N, size, size, 3) uint8: the faces a condition embeds, downscaled — clean crops (``spec``
    None), or occluded with ``spec`` and filled by ``filler`` with the same seeded pixels as
    :func:`.cache.embed_condition` (network fillers' filled crops come from its filled-crop cache)."""
    import cv2

    root = Path(root)
    parsed = parse_spec(spec) if spec else None
    if parsed is not None and filler is None:
        raise ValueError("condition_thumbnails: an occlusion spec needs a filler (get_filler('none') for the hole)")
    points_of = crop_landmarks_of(root) if parsed is not None and parsed.kind == "maskthface" else None
    fill_dir = (filled_cache_dir(root, parsed, filler, seed)
                if parsed is not None and use_cache and getattr(filler, "cache_fills", False) else None)
    out = np.zeros((len(relatives), size, size, 3), np.uint8)
    for start in range(0, len(relatives), chunk):
        batch = list(relatives[start:start + chunk])
        faces = read_faces(root, batch)
        if parsed is not None:
            points = points_of(batch) if points_of is not None else None
            occluded, masks = occlude_faces(parsed, faces, batch, landmarks=points, seed=seed)
            faces = fill_chunk(filler, occluded, masks, batch, fill_dir)
        out[start:start + len(batch)] = [cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
                                         for face in faces]
    return out


def projector_rows(conditions: Sequence[TsneCondition], subjects: Subjects) -> list[list[str]]:
    """One metadata row per face per condition (columns :data:`PROJECTOR_HEADER`), in the order of
    :func:`write_projector`'s matrix."""
    rows = []
    for c in conditions:
        region = region_label(c.spec) if c.spec else CLEAN
        fill = parse_spec(c.spec).fill if c.spec else ""
        rows += [[subjects.names[label], c.name, region, fill, c.filler, rel]
                 for label, rel in zip(subjects.labels, subjects.relatives)]
    return rows


def write_projector(conditions: Sequence[TsneCondition], subjects: Subjects, folder, tag: str = "tsne") -> Path:
    """A TensorBoard projector log of every condition's faces in ``folder/<tag>/`` (rewritten whole):
    unit embeddings (one row per face per condition), ``metadata.tsv`` with :data:`PROJECTOR_HEADER`
    and, when the conditions carry ``extra["thumbnails"]`` (``run_tsne(thumbnails=32)``), a sprite
    of the faces. Open with ``tensorboard --logdir <folder>`` -> PROJECTOR; colour by ``condition``
    to see clean, occluded and filled faces of one person gather or scatter. Returns the log folder."""
    import torch
    from torch.utils.tensorboard import SummaryWriter

    if not conditions:
        raise ValueError("write_projector: no conditions")
    log_dir = Path(folder) / tag
    if log_dir.exists():
        shutil.rmtree(log_dir)  # a projector log is rewritten whole, never mixed with an older run's
    matrix = np.concatenate([_unit(c.embeddings) for c in conditions]).astype(np.float32)
    thumbs = [c.extra.get("thumbnails") for c in conditions]
    label_img = None
    if all(t is not None for t in thumbs):
        label_img = torch.from_numpy(np.concatenate(thumbs)).permute(0, 3, 1, 2).float() / 255.0
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        writer.add_embedding(matrix, metadata=projector_rows(conditions, subjects), label_img=label_img,
                             tag=tag, metadata_header=PROJECTOR_HEADER)
    finally:
        writer.close()
    return log_dir


__all__ = ["DEFAULT_SPEC", "PROJECTOR_HEADER", "PROJECTOR_THUMBNAIL", "Subjects", "TsneCondition",
           "condition_thumbnails", "facescrub_subjects", "identity_subjects", "lfw_subjects", "load_subjects",
           "nearest_centroid_accuracy", "projector_rows", "run_tsne", "silhouette", "tsne_map", "write_projector",
           "write_tsne"]
