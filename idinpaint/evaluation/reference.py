"""The "reference available" track: where another photo of the probe's person exists, fill the hole
from it (:mod:`idinpaint.fillers.reference`), and measure that apart from the blind protocol, with the
controls that keep it honest and the attack it invites.

This track **knows who the probe is**; the blind protocol does not. Every row, table and figure it
makes is labelled "reference available".

**Which photo is a reference** (:func:`reference_plan`). For an occluded second image of a View-2
pair, its references are the other photos of the *same* person that

* appear in no pair with it (never the photo it is compared with), and
* are a near-duplicate (:func:`near_duplicate`) neither of it nor of any photo it is paired with:
  LFW holds many shots of one event, and such a shot is a copy, not another photo.

A probe with no such photo is **not covered**; coverage is reported, and the uncovered probes are
reported apart (never filled black and counted). Near-duplicates: the normalised cross-correlation of
the two aligned grey crops is at least :data:`NEAR_DUPLICATE_NCC` (docs/experiments.md says how the
threshold was set, before any fill was scored).

**Controls** (fillers of the same pipeline, other pixels):

* ``self_paste`` — the probe's own clean crop as the reference: the same fit, colour match and
  Poisson blend of the true content. The realism judge should give it about 0.5; otherwise it is
  judging the pipeline, not the content;
* ``other_person`` — references of *another* person (people in no View-2 pair), chosen by the same
  ring fit: a real face of the wrong person;
* **the attack** (:func:`claimed_identity_references`) — on different-person pairs, the probe filled
  from a photo of the person it is *claimed* to be (the first image's person; never the first image
  itself, nor a near-duplicate of it): what a system that fills from the claimed identity invites.

**Validation faces** (:func:`validation_triplets`): half A's held-out validation people with at least
three photos; each photo a probe in turn, its gallery the first other photo that is not a
near-duplicate, its references the rest. The ship rule (docs/experiments.md) is read on them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from idinpaint.data.aligned import aligned_name, read_faces
from idinpaint.data.lfw import (Pair, default_aligned_root, identity_of, load_pairs, pair_arrays, pair_people,
                                validation_crops)
from idinpaint.evaluation.clean import clean_landmarks_lookup
from idinpaint.evaluation.embeddings import embed_folder
from idinpaint.evaluation.protocol import evaluate_conditions
from idinpaint.evaluation.realism import TooFewToJudge, c2st
from idinpaint.evaluation.retention import half_fillers
from idinpaint.evaluation.verification import best_threshold, cosine_scores
from idinpaint.fillers import Filler, get_filler
from idinpaint.fillers.learned import ReferenceFusorFiller, make_learned_filler
from idinpaint.fillers.reference import ReferenceFiller, ReferenceRefused, best_fit
from idinpaint.occlusion import occlude, region_mask
from idinpaint.recognizers import get_recognizer
from idinpaint.runinfo import write_json

#: Two aligned crops whose grey pixels correlate at least this much are near-duplicates (one sitting).
NEAR_DUPLICATE_NCC = 0.80
#: The label every number of this track carries.
TRACK_LABEL = "reference available"
#: The validation split of the long recipes (docs/experiments.md): 512 held-out crops of half A.
VALIDATION_IMAGES = 512
#: How many photos of other people the ``other_person`` control fits (the best ring fit is used).
OTHER_PERSON_CANDIDATES = 5


def grey_vectors(faces: np.ndarray) -> np.ndarray:
    """Each crop's grey pixels, centred and of unit length: the dot product of two is their NCC."""
    grey = np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in faces]).astype(np.float64)
    flat = grey.reshape(len(grey), -1)
    flat -= flat.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return flat / np.maximum(norms, 1e-9)


def crop_ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two aligned crops' grey pixels."""
    va, vb = grey_vectors(np.stack([a, b]))
    return float(va @ vb)


def near_duplicate(a: np.ndarray, b: np.ndarray, threshold: float = NEAR_DUPLICATE_NCC) -> bool:
    """Whether two aligned crops are shots of one sitting (see the module docstring)."""
    return crop_ncc(a, b) >= threshold


class _Grey:
    """Grey vectors of aligned crops, read once each."""

    def __init__(self, root: Path):
        self.root, self.table = root, {}

    def __call__(self, relatives: Sequence[str]) -> np.ndarray:
        missing = [r for r in dict.fromkeys(relatives) if r not in self.table]
        if missing:
            self.table.update(zip(missing, grey_vectors(read_faces(self.root, missing))))
        return np.stack([self.table[r] for r in relatives]) if relatives else np.zeros((0, 112 * 112))


def person_photos(aligned_root) -> dict[str, list[str]]:
    """Every aligned crop of every person: ``{name: [Name/Name_NNNN.png, ...]}`` sorted."""
    root = Path(aligned_root)
    return {d.name: sorted(f"{d.name}/{p.name}" for p in d.glob("*.png"))
            for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")}


@dataclass
class ReferencePlan:
    """A probe's references under the rule of the module docstring, and what the rule removed."""

    probe: str
    references: list[str] = field(default_factory=list)
    paired: list[str] = field(default_factory=list)            # photos in a pair with the probe: never references
    near_duplicates: list[str] = field(default_factory=list)   # the person's photos removed as near-duplicates
    others: int = 0                                            # the person's other photos before the rule
    unchecked: list[str] = field(default_factory=list)         # partners not in the aligned folder (a subset)

    @property
    def covered(self) -> bool:
        return bool(self.references)


def _partners(pairs: Iterable[Pair]) -> dict[str, set[str]]:
    partners: dict[str, set[str]] = {}
    for pair in pairs:
        first, second = aligned_name(pair.first), aligned_name(pair.second)
        partners.setdefault(first, set()).add(second)
        partners.setdefault(second, set()).add(first)
    return partners


def reference_plan(pairs: Sequence[Pair], probes: Sequence[str], aligned_root=None,
                   threshold: float = NEAR_DUPLICATE_NCC, all_pairs: Sequence[Pair] | None = None) -> dict[str, ReferencePlan]:
    """``{probe: ReferencePlan}`` for aligned probe paths (``Name/Name_NNNN.png``): the probe's
    references under the rule of the module docstring. ``all_pairs`` (default ``pairs``): the pairs
    whose partners are excluded (every View-2 pair a photo is in, not only the scored ones). A partner
    missing from ``aligned_root`` (a subset of LFW, such as the smoke crops) is never a reference but
    cannot be compared for near-duplicates: it is listed in ``unchecked``."""
    root = Path(aligned_root or default_aligned_root())
    photos = person_photos(root)
    partners = _partners(all_pairs if all_pairs is not None else pairs)
    grey = _Grey(root)
    plans = {}
    for probe in dict.fromkeys(probes):
        person = identity_of(probe)
        paired = sorted(partners.get(probe, set()))
        candidates = [p for p in photos.get(person, []) if p != probe and p not in paired]
        present = [p for p in paired if p in photos.get(identity_of(p), ())]
        plan = ReferencePlan(probe, paired=paired, others=len(candidates),
                             unchecked=[p for p in paired if p not in present])
        if candidates:
            guard = grey([probe, *present])
            similarity = grey(candidates) @ guard.T
            duplicate = (similarity >= threshold).any(axis=1)
            plan.references = [c for c, d in zip(candidates, duplicate) if not d]
            plan.near_duplicates = [c for c, d in zip(candidates, duplicate) if d]
        plans[probe] = plan
    return plans


def claimed_identity_references(pair: Pair, aligned_root=None, threshold: float = NEAR_DUPLICATE_NCC,
                                photos: dict[str, list[str]] | None = None, grey=None) -> list[str]:
    """The attack's references for a different-person pair: photos of the **claimed** person (the
    first image's), never the first image itself nor a near-duplicate of it."""
    root = Path(aligned_root or default_aligned_root())
    photos = photos if photos is not None else person_photos(root)
    grey = grey or _Grey(root)
    first = aligned_name(pair.first)
    candidates = [p for p in photos.get(identity_of(first), []) if p != first]
    if not candidates:
        return []
    similarity = grey(candidates) @ grey([first])[0]
    return [c for c, s in zip(candidates, similarity) if s < threshold]


def coverage_table(plans: dict[str, ReferencePlan]) -> dict:
    """What the rule leaves: probes, covered probes, how many had only paired photos or only
    near-duplicates left, and how many pair partners were not there to compare (a subset's crops)."""
    probes = list(plans.values())
    return {"probes": len(probes), "covered": sum(p.covered for p in probes),
            "no_other_photo": sum(p.others == 0 for p in probes),
            "only_near_duplicates": sum(p.others > 0 and not p.covered for p in probes),
            "near_duplicates_removed": sum(len(p.near_duplicates) for p in probes),
            "partners_unchecked": sum(len(p.unchecked) for p in probes)}


def gallery_notes(plans: dict[str, ReferencePlan], relatives: Sequence[str], regions: Sequence[str], aligned_root,
                  fill: str = "black") -> list[str]:
    """One line per row of a gallery (each of ``relatives``, then each of ``regions``, as
    :func:`idinpaint.figures.filler_comparison` orders them) for its reference column: ``""`` where a
    reference fits (the column shows its fill), else why it shows none: no reference photo under the
    rule, or the ring fit's refusal. The fit is the filler's own (:func:`best_fit`)."""
    root = Path(aligned_root)
    notes = []
    for relative in relatives:
        plan = plans.get(relative)
        references = read_faces(root, plan.references) if plan is not None and plan.covered else None
        face = read_faces(root, [relative])[0]
        for region in regions:
            if references is None:
                notes.append("no reference photo\n(none under the rule)")
                continue
            mask = region_mask(region, face.shape[0])
            fit = best_fit(occlude(face, mask, fill), mask, references)
            notes.append("" if fit.ok else "no fill: " + fit.reason.replace(": ", ":\n", 1))
    return notes


class CropReferences:
    """``references_for`` of a :class:`ReferenceFiller`: a probe's reference crops read from the
    aligned folder by a plan (``{probe: [reference paths]}``), cached."""

    def __init__(self, aligned_root, plan: dict[str, list[str]]):
        self.root, self.plan, self.cache = Path(aligned_root), plan, {}

    def __call__(self, relative: str) -> np.ndarray:
        refs = self.plan.get(relative, [])
        key = tuple(refs)
        if key not in self.cache:
            self.cache[key] = read_faces(self.root, list(refs))
        return self.cache[key]

    def digest(self) -> str:
        text = "|".join(f"{k}:{','.join(v)}" for k, v in sorted(self.plan.items()))
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def plan_filler(name: str, aligned_root, plan: dict[str, list[str]], fallback: Filler | None = None) -> ReferenceFiller:
    """A :class:`ReferenceFiller` named ``name`` whose references come from ``plan`` (probe -> paths)."""
    source = CropReferences(aligned_root, plan)
    filler = ReferenceFiller(references_for=source, fallback=fallback, key=f"{name}:{source.digest()}")
    filler.name = name
    return filler


def other_person_plan(probes: Sequence[str], donors: Sequence[str], count: int = OTHER_PERSON_CANDIDATES,
                      seed: int = 0) -> dict[str, list[str]]:
    """For each probe, ``count`` photos of people other than the probe's (from ``donors``, e.g. crops
    of people in no View-2 pair), a stable hashed draw per probe."""
    plan = {}
    for probe in probes:
        person = identity_of(probe)
        pool = [d for d in donors if identity_of(d) != person]
        start = int.from_bytes(hashlib.sha256(f"{probe}|{seed}".encode()).digest()[:8], "little")
        plan[probe] = [pool[(start + k * 7919) % len(pool)] for k in range(min(count, len(pool)))]
    return plan


@dataclass
class Triplets:
    """Validation faces: probes with their gallery photo and references, all of held-out people."""

    probes: list[str]
    galleries: list[str]
    references: dict[str, list[str]]
    uncovered: list[str]
    people: int


def validation_triplets(half: str = "A", val_images: int = VALIDATION_IMAGES, seed: int = 0, aligned_root=None,
                        lfw_root=None, threshold: float = NEAR_DUPLICATE_NCC) -> Triplets:
    """Half ``half``'s held-out validation crops (:func:`~idinpaint.data.lfw.validation_crops`) of
    people with at least three photos there: each photo a probe, its gallery the first other photo
    that is no near-duplicate of it, its references the rest that are near-duplicates of neither.
    Probes left with no reference are listed in ``uncovered``."""
    root = Path(aligned_root or default_aligned_root())
    crops = validation_crops(half, val_images, seed, aligned_root=root, lfw_root=lfw_root)
    by_person: dict[str, list[str]] = {}
    for crop in crops:
        by_person.setdefault(identity_of(crop), []).append(crop)
    by_person = {k: sorted(v) for k, v in by_person.items() if len(v) >= 3}
    grey = _Grey(root)
    probes, galleries, references, uncovered = [], [], {}, []
    for person, photos in sorted(by_person.items()):
        vectors = grey(photos)
        similar = vectors @ vectors.T >= threshold
        for i, probe in enumerate(photos):
            gallery = next((j for j in range(len(photos)) if j != i and not similar[i, j]), None)
            if gallery is None:
                continue
            refs = [photos[k] for k in range(len(photos)) if k not in (i, gallery)
                    and not similar[i, k] and not similar[gallery, k]]
            if not refs:
                uncovered.append(probe)
                continue
            probes.append(probe)
            galleries.append(photos[gallery])
            references[probe] = refs
    return Triplets(probes, galleries, references, uncovered, len(by_person))


def unpaired_people_crops(aligned_root, pairs: Sequence[Pair], exclude: Iterable[str] = ()) -> list[str]:
    """One crop (the first) of every person in no View-2 pair: the ``other_person`` control's donors."""
    excluded = pair_people(pairs) | set(exclude)
    return [photos[0] for person, photos in person_photos(aligned_root).items() if person not in excluded and photos]


# --- validation faces: both axes for every fill, and the ship rule -----------------------------------

#: The hardest three regions, where the ship rule is read.
HARDEST = ("two_eyes", "upper_face", "center_block")
#: The ship rule (docs/experiments.md), on each of the hardest three regions.
RULE = {"c2st_max": 0.8, "self_paste_c2st_max": 0.6, "recovery_min": 0.5}


def _margins(recognizer, filled: np.ndarray, landmarks, gallery_vectors: np.ndarray, people: np.ndarray) -> np.ndarray:
    """Per probe: cosine to its own gallery photo minus the mean cosine to the other people's."""
    kwargs = {"landmarks": landmarks} if landmarks is not None else {}
    vectors = recognizer.embed(filled, **kwargs)
    similarity = (vectors @ gallery_vectors.T).astype(np.float64)
    others = people[:, None] != people[None, :]
    genuine = np.diagonal(similarity)
    return genuine - (similarity * others).sum(axis=1) / others.sum(axis=1)


def score_validation(triplets: Triplets, fillers: dict[str, Filler], recognizers: Sequence, aligned_root=None,
                     regions: Sequence[str] = HARDEST, seed: int = 0, progress=None) -> list[dict]:
    """Both axes of every filler on the validation triplets, per region: rows ``{region, filler,
    c2st_auc, c2st_low, c2st_high, <recognizer>_margin, <recognizer>_margin_se, <recognizer>_recovery,
    refused}``; the ``clean`` row is the probe as it is, ``none`` the black hole. Reference fillers get
    each probe's path (``fill_for``); ``refused`` counts probes their fit refused (filled by the
    fallback)."""
    root = Path(aligned_root or default_aligned_root())
    probes = read_faces(root, triplets.probes)
    galleries = read_faces(root, triplets.galleries)
    people = np.array([identity_of(p) for p in triplets.probes])
    gallery_vectors, landmarks = {}, {}
    for recognizer in recognizers:
        marks = recognizer.landmarks(galleries) if hasattr(recognizer, "landmarks") else None
        gallery_vectors[recognizer.name] = recognizer.embed(galleries, **({"landmarks": marks} if marks is not None else {}))
        landmarks[recognizer.name] = recognizer.landmarks(probes) if hasattr(recognizer, "landmarks") else None
    clean_margin = {r.name: _margins(r, probes, landmarks[r.name], gallery_vectors[r.name], people) for r in recognizers}
    rows = []
    for region in regions:
        mask = region_mask(region)
        masks = np.repeat(mask[None], len(probes), axis=0)
        occluded = np.stack([occlude(image, mask, "black") for image in probes])
        margins = {}
        for label, filler in {"none": None, **fillers}.items():
            if progress:
                progress(f"{region}: {label}")
            filled = occluded if filler is None else filler.fill_for(occluded, masks, list(triplets.probes))
            fitted = getattr(filler, "reference", filler)  # a reference-guided Fusor: its reference filler's fits
            refused = sum(not f.ok for f in getattr(fitted, "fits", []))
            row = {"region": region, "filler": label, "probes": len(probes), "refused": refused}
            try:
                judged = c2st(probes, filled, masks, triplets.probes, seed=seed)
                row.update(c2st_auc=judged.auc, c2st_low=judged.low, c2st_high=judged.high)
            except TooFewToJudge:
                row.update(c2st_auc=float("nan"), c2st_low=float("nan"), c2st_high=float("nan"))
            for recognizer in recognizers:
                m = _margins(recognizer, filled, landmarks[recognizer.name], gallery_vectors[recognizer.name], people)
                margins[(recognizer.name, label)] = m
                row[f"{recognizer.name}_margin"] = float(m.mean())
                row[f"{recognizer.name}_margin_se"] = float(m.std(ddof=1) / np.sqrt(len(m)))
            rows.append(row)
        for row in rows[-(len(fillers) + 1):]:
            for recognizer in recognizers:
                clean, black = float(clean_margin[recognizer.name].mean()), row_value(rows, region, "none", f"{recognizer.name}_margin")
                row[f"{recognizer.name}_recovery"] = (row[f"{recognizer.name}_margin"] - black) / (clean - black)
    clean_row = {"region": "clean", "filler": "clean", "probes": len(probes), "refused": 0}
    for recognizer in recognizers:
        m = clean_margin[recognizer.name]
        clean_row[f"{recognizer.name}_margin"] = float(m.mean())
        clean_row[f"{recognizer.name}_margin_se"] = float(m.std(ddof=1) / np.sqrt(len(m)))
    return rows + [clean_row]


def row_value(rows: Sequence[dict], region: str, filler: str, key: str) -> float:
    """One value of the validation table."""
    for row in rows:
        if row["region"] == region and row["filler"] == filler:
            return float(row[key])
    raise KeyError(f"no row for {region} / {filler}")


def ship_rule(rows: Sequence[dict], filler: str = "reference", control: str = "self_paste",
              recognizer: str = "dlib", regions: Sequence[str] = HARDEST) -> dict:
    """The ship rule read on the validation table: each gate per region, with its number and pass."""
    gates = {}
    for region in regions:
        auc = row_value(rows, region, filler, "c2st_auc")
        self_auc = row_value(rows, region, control, "c2st_auc")
        recovery = row_value(rows, region, filler, f"{recognizer}_recovery")
        gates[region] = {"c2st": (auc, auc <= RULE["c2st_max"]),
                         "self_paste_c2st": (self_auc, self_auc <= RULE["self_paste_c2st_max"]),
                         "recovery": (recovery, recovery >= RULE["recovery_min"])}
    passed = all(ok for gate in gates.values() for _, ok in gate.values())
    return {"filler": filler, "gates": gates, "passed": passed}


# --- the track on the LFW pairs -----------------------------------------------------------------------

#: The track's fillers, in the order of its tables: the blind baselines on the same pairs, the fill
#: from another photo of the probe's person, and the controls. The reference-guided Fusor variants
#: (``reference_fusor``, ``ca_id_ref``) lost on both axes on the validation faces (docs/experiments.md):
#: available with ``fillers=``, not scored by default.
TRACK_FILLERS = ("none", "telea", "ca_id", "reference", "self_paste", "other_person")


def track_fillers(names: Sequence[str], plans: dict[str, ReferencePlan], aligned_root, pairs: Sequence[Pair],
                  probes: Sequence[str]) -> list:
    """The protocol's filler items for the track: names the protocol builds itself (``none``,
    ``telea``, ``ca_id``) and :class:`ReferenceFiller` instances for the rest, each probe's references
    from ``plans`` (``self_paste``: the probe itself; ``other_person``: photos of people in no pair).
    A probe whose references are all refused by the fit is filled by Telea (counted apart:
    :func:`fit_counts`)."""
    telea = get_filler("telea")
    plan = {probe: p.references for probe, p in plans.items()}
    items = []
    for name in names:
        if name == "reference":
            items.append(plan_filler("reference", aligned_root, plan, fallback=telea))
        elif name in ("reference_fusor", "ca_id_ref"):
            start = "reference" if name == "reference_fusor" else "ca"
            items.append(ReferenceFusorFiller(make_learned_filler("ca_id"),
                                              plan_filler("reference", aligned_root, plan, fallback=telea), start))
        elif name == "self_paste":
            items.append(plan_filler("self_paste", aligned_root, {p: [p] for p in probes}, fallback=telea))
        elif name == "other_person":
            donors = unpaired_people_crops(aligned_root, pairs)
            items.append(plan_filler("other_person", aligned_root, other_person_plan(probes, donors), fallback=telea))
        else:
            items.append(name)
    return items


def fit_counts(plans: dict[str, ReferencePlan], aligned_root, regions: Sequence[str] = HARDEST) -> dict:
    """Per region: how many covered probes have a reference the ring fit accepts (``fitted``) and how
    many are refused (``refused``, filled by Telea in the track), with the refusals' reasons counted."""
    root = Path(aligned_root)
    covered = [p for p in plans.values() if p.covered]
    out = {}
    for region in regions:
        mask = region_mask(region)
        counts = {"fitted": 0, "refused": 0, "reasons": {}}
        for plan in covered:
            probe = occlude(read_faces(root, [plan.probe])[0], mask, "black")
            fit = best_fit(probe, mask, read_faces(root, plan.references))
            if fit.ok:
                counts["fitted"] += 1
            else:
                counts["refused"] += 1
                reason = fit.reason.split(":")[0].split(" (")[0]
                counts["reasons"][reason] = counts["reasons"].get(reason, 0) + 1
        out[region] = counts
    return out


def fold_thresholds(clean_scores: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> dict[int, float]:
    """Each fold's threshold as a deployed verifier would have it: the best clean-pair threshold of the
    **other** folds (:func:`~.verification.best_threshold`)."""
    out = {}
    for fold in np.unique(folds):
        train = folds != fold
        out[int(fold)] = best_threshold(clean_scores[train], labels[train])[0]
    return out


def attack_table(recognizer, pairs: Sequence[Pair], plans: dict[str, ReferencePlan], aligned_root,
                 regions: Sequence[str] = HARDEST, landmarks_of=None) -> list[dict]:
    """The claimed-identity attack on different-person pairs, beside the honest fill: per region, the
    false-accept rate (%) at each fold's threshold (:func:`fold_thresholds`, from the clean scores of
    all ``pairs``), averaged over the folds, of the clean probe, the probe left occluded (black), filled
    from a photo of its **own** person (``reference``, the track's rule) and filled from a photo of the
    **claimed** person (``attack``: the first image's person, never the first image itself nor a
    near-duplicate of it). All four on the same pairs: the different-person pairs where both fills have
    a reference the ring fit accepts."""
    root = Path(aligned_root)
    first, second, labels, folds = pair_arrays(list(pairs))
    first, second = [aligned_name(p) for p in first], [aligned_name(p) for p in second]
    firsts = embed_folder(recognizer, root, first, progress=False)
    clean = cosine_scores(firsts, embed_folder(recognizer, root, second, progress=False))
    thresholds = fold_thresholds(clean, labels, folds)
    photos, grey = person_photos(root), _Grey(root)
    candidates = [i for i in range(len(pairs)) if not labels[i] and plans.get(second[i]) and plans[second[i]].covered]
    claimed = {i: claimed_identity_references(pairs[i], root, photos=photos, grey=grey) for i in candidates}
    rows = []
    for region in regions:
        mask = region_mask(region)
        kept, fills = [], {"occluded": [], "reference": [], "attack": []}
        for i in candidates:
            if not claimed[i]:
                continue
            probe = occlude(read_faces(root, [second[i]])[0], mask, "black")
            try:  # either fill refused by its ring fit: the pair is left out of the comparison
                attack = ReferenceFiller().fill(probe, mask, references=read_faces(root, claimed[i]))
                own = ReferenceFiller().fill(probe, mask, references=read_faces(root, plans[second[i]].references))
            except ReferenceRefused:
                continue
            kept.append(i)
            fills["occluded"].append(probe)
            fills["reference"].append(own)
            fills["attack"].append(attack)
        if not kept:
            continue
        index = np.array(kept)
        kwargs = {"landmarks": landmarks_of([second[i] for i in kept])} if landmarks_of is not None else {}
        scores = {"clean": clean[index]}
        for label, images in fills.items():
            scores[label] = np.sum(firsts[index] * recognizer.embed(np.stack(images), **kwargs), axis=1)
        row = {"recognizer": recognizer.name, "region": region, "pairs": len(kept)}
        for label, values in scores.items():
            rates = [np.mean(values[folds[index] == f] >= t) for f, t in thresholds.items() if (folds[index] == f).any()]
            row[f"far_{label}"] = 100 * float(np.mean(rates))
        rows.append(row)
    return rows


def run_reference_track(recognizers: Sequence = ("sface", "dlib"), regions: Sequence[str] = HARDEST,
                        fillers: Sequence[str] = TRACK_FILLERS, folds: Sequence[int] | None = None, aligned_root=None,
                        lfw_root=None, output_dir=None, c2st: bool = True, progress: bool = True, attack: bool = True,
                        pairs: Sequence[Pair] | None = None, say=print) -> dict:
    """The "reference available" track of the occluded-LFW protocol (module docstring): the rule's
    coverage, the ring fit's refusals, every (recognizer, region, filler) condition on the **covered**
    pairs with the protocol's own machinery (:func:`~.protocol.evaluate_conditions`: the clean ceiling,
    accuracy, C2ST, scores for the paired fold tests; rows labelled with :data:`TRACK_LABEL`) and the
    claimed-identity attack (:func:`attack_table`). Writes ``lfw_reference.{csv,json}`` + scores and
    ``reference_track.json`` into ``output_dir``. ``pairs``: score these pairs (e.g. the smoke profile's
    subset) instead of the View-2 pairs of ``folds``; references still avoid every View-2 partner.
    Returns the summary dict."""
    root = Path(aligned_root or default_aligned_root())
    all_pairs = load_pairs(lfw_root)
    scored = list(pairs) if pairs is not None else all_pairs
    scored = [p for p in scored if not folds or p.fold + 1 in {int(f) for f in folds}]
    probes = list(dict.fromkeys(aligned_name(p.second) for p in scored))
    plans = reference_plan(scored, probes, root, all_pairs=all_pairs)
    coverage = coverage_table(plans)
    covered_pairs = [p for p in scored if plans[aligned_name(p.second)].covered]
    coverage["pairs"], coverage["covered_pairs"] = len(scored), len(covered_pairs)
    coverage["covered_same"] = sum(p.same for p in covered_pairs)
    say(f"{TRACK_LABEL}: {coverage['covered']} of {coverage['probes']} probes have a reference "
        f"({coverage['covered_pairs']} of {coverage['pairs']} pairs); {coverage['near_duplicates_removed']} "
        f"near-duplicate photos removed")
    fits = fit_counts(plans, root, regions)
    covered_probes = [p for p in probes if plans[p].covered]
    items = track_fillers(fillers, plans, root, all_pairs, covered_probes)
    if len({p.same for p in covered_pairs}) < 2:  # verification needs same- and different-person pairs
        coverage["too_few_to_score"] = True
        say(f"{TRACK_LABEL}: the {len(covered_pairs)} covered pairs are not both same- and different-person "
            "pairs: coverage only, nothing to verify")
        results = []
    else:
        results = evaluate_conditions(list(recognizers), [f"region:{r}@black" for r in regions], items, root,
                                      pairs=covered_pairs, lfw_root=lfw_root, c2st=c2st, progress=progress,
                                      output_dir=output_dir, stem="lfw_reference")
    attacks = []
    if attack:
        for name in recognizers:
            recognizer = get_recognizer(name) if isinstance(name, str) else name
            attacks += attack_table(recognizer, scored, plans, root, regions, clean_landmarks_lookup(recognizer, root))
    summary = {"label": TRACK_LABEL, "coverage": coverage, "fits": fits, "attack": attacks,
               "rows": [dict(r.__dict__) if hasattr(r, "__dict__") else dict(r) for r in results],
               "near_duplicate_ncc": NEAR_DUPLICATE_NCC}
    if output_dir is not None:
        write_json(Path(output_dir) / "reference_track.json", summary)
    return summary


#: The fills compared on the validation faces (the decision of which reference-guided fill to show).
VALIDATION_FILLERS = ("telea", "ca_id", "reference", "ca_id_ref", "reference_fusor", "self_paste", "other_person")


def validation_fillers(triplets: Triplets, names: Sequence[str] = VALIDATION_FILLERS, aligned_root=None,
                       half: str = "A") -> dict[str, Filler]:
    """The validation fillers by name: ``ca_id`` is half ``half``'s shipped model (as the learning curves
    use it), the reference fills take each probe's references from ``triplets``, the controls as in the
    track; refused fits fall back to Telea (counted in the table's ``refused``)."""
    root = Path(aligned_root or default_aligned_root())
    telea = get_filler("telea")
    plan = dict(triplets.references)
    out: dict[str, Filler] = {}
    model = None
    for name in names:
        if name == "telea":
            out[name] = telea
        elif name in ("ca_id", "ca_id_ref", "reference_fusor"):
            model = model or half_fillers(["ca_id"], half, aligned_root=root)[0]["ca_id"]
            out[name] = model if name == "ca_id" else ReferenceFusorFiller(
                model, plan_filler("reference", root, plan, fallback=telea), "ca" if name == "ca_id_ref" else "reference")
        elif name == "reference":
            out[name] = plan_filler("reference", root, plan, fallback=telea)
        elif name == "self_paste":
            out[name] = plan_filler("self_paste", root, {p: [p] for p in triplets.probes}, fallback=telea)
        elif name == "other_person":
            donors = unpaired_people_crops(root, load_pairs(), exclude={identity_of(p) for p in triplets.probes})
            out[name] = plan_filler("other_person", root, other_person_plan(triplets.probes, donors), fallback=telea)
        else:
            out[name] = get_filler(name)
    return out


def run_validation(recognizers: Sequence = ("dlib", "sface"), names: Sequence[str] = VALIDATION_FILLERS,
                   regions: Sequence[str] = HARDEST, aligned_root=None, output_dir=None, say=print) -> dict:
    """Both axes of every validation filler on half A's validation faces (:func:`score_validation`) and
    the ship rule read on them (:func:`ship_rule`); written to ``validation.json`` in ``output_dir``."""
    root = Path(aligned_root or default_aligned_root())
    triplets = validation_triplets("A", aligned_root=root)
    say(f"{TRACK_LABEL}, validation: {len(triplets.probes)} probes of {triplets.people} held-out people "
        f"({len(triplets.uncovered)} more have no reference)")
    models = [get_recognizer(r) if isinstance(r, str) else r for r in recognizers]
    rows = score_validation(triplets, validation_fillers(triplets, names, root), models, root, regions,
                            progress=lambda text: say(f"  {text}"))
    summary = {"label": TRACK_LABEL, "probes": len(triplets.probes), "people": triplets.people,
               "uncovered": len(triplets.uncovered), "rows": rows,
               "rule": ship_rule(rows) if "reference" in names and "self_paste" in names else None}
    if output_dir is not None:
        write_json(Path(output_dir) / "validation.json", summary)
    return summary


# --- tables for a person ------------------------------------------------------------------------------

def _cell(value, digits: int = 3) -> str:
    return "—" if value is None or value != value else f"{value:.{digits}f}"


def format_validation(summary: dict) -> str:
    """The validation table (markdown) and the ship rule's reading, one line per gate and region."""
    rows = summary["rows"]
    names = [k[:-7] for k in rows[0] if k.endswith("_margin")]
    lines = [f"**{summary['label']}** — half A's held-out validation faces: {summary['probes']} probes of "
             f"{summary['people']} people ({summary['uncovered']} more without a reference)", "",
             "| region | fill | C2ST AUC [95 %] | " + " | ".join(f"{n} margin ± SE | {n} recovery" for n in names)
             + " | refused |", "|---|---|---|" + "---|---|" * len(names) + "---|"]
    for row in rows:
        if row["filler"] == "clean":
            continue
        c2 = f"{_cell(row.get('c2st_auc'))} [{_cell(row.get('c2st_low'))}, {_cell(row.get('c2st_high'))}]"
        cells = " | ".join(f"{_cell(row[f'{n}_margin'], 4)} ± {_cell(row[f'{n}_margin_se'], 4)} | "
                           f"{_cell(row.get(f'{n}_recovery'), 2)}" for n in names)
        lines.append(f"| {row['region']} | {row['filler']} | {c2} | {cells} | {row['refused']} |")
    clean = next(r for r in rows if r["filler"] == "clean")
    lines.append("\nclean probes: " + ", ".join(f"{n} margin {_cell(clean[f'{n}_margin'], 4)}" for n in names))
    rule = summary.get("rule")
    if rule:
        lines.append(f"\nship rule ({rule['filler']}): " + ("passed" if rule["passed"] else "not passed"))
        for region, gates in rule["gates"].items():
            lines.append(f"- {region}: " + "; ".join(f"{gate} {_cell(value)} {'pass' if ok else 'FAIL'}"
                                                    for gate, (value, ok) in gates.items()))
    return "\n".join(lines)


def format_track(summary: dict) -> str:
    """Coverage, the fit's refusals, the rows (accuracy, recovery ratio, C2ST) and the attack (markdown)."""
    cov = summary["coverage"]
    lines = [f"**{summary['label']}**: {cov['covered']} of {cov['probes']} probes have a reference "
             f"({cov['covered_pairs']} of {cov['pairs']} pairs, {cov['covered_same']} of them same-person); "
             f"{cov['no_other_photo']} probes' people have no other photo, {cov['only_near_duplicates']} only "
             f"near-duplicates or pair partners; {cov['near_duplicates_removed']} near-duplicates removed.", ""]
    for region, fits in summary["fits"].items():
        reasons = ", ".join(f"{k} {v}" for k, v in fits["reasons"].items()) or "none"
        lines.append(f"- {region}: the ring fit accepts {fits['fitted']} covered probes and refuses "
                     f"{fits['refused']} (filled by Telea; {reasons})")
    if cov.get("too_few_to_score"):
        lines += ["", "The covered pairs are not both same- and different-person pairs: nothing to verify here."]
    else:
        lines += ["", "| recognizer | occlusion | filler | accuracy % | recovery ratio | C2ST AUC |", "|---|---|---|---|---|---|"]
    for row in summary["rows"]:
        if row.get("error"):
            lines.append(f"| {row['recognizer']} | {row['occlusion']} | {row['filler']} | error: {row['error']} | | |")
            continue
        lines.append(f"| {row['recognizer']} | {row['occlusion']} | {row['filler']} | {100 * row['accuracy']:.2f} | "
                     f"{_cell(row.get('recovery_ratio'), 2)} | {_cell(row.get('c2st_auc'))} |")
    if summary["attack"]:
        lines += ["", "The claimed-identity attack (different-person pairs; false-accept rate % at each fold's "
                  "clean threshold, mean over folds):", "",
                  "| recognizer | region | pairs | clean | occluded | own reference | claimed identity |",
                  "|---|---|---|---|---|---|---|"]
        for row in summary["attack"]:
            lines.append(f"| {row['recognizer']} | {row['region']} | {row['pairs']} | {row['far_clean']:.2f} | "
                         f"{row['far_occluded']:.2f} | {row['far_reference']:.2f} | {row['far_attack']:.2f} |")
    return "\n".join(lines)
