"""The occluded-LFW protocol ("the measuring stick"): how much verification a face part costs, and
how much of it a filler wins back.

A *condition* is (occlusion spec, filler, recognizer), e.g. (``region:two_eyes@black``, ``telea``,
``sface``). For every View-2 pair only the **second** image is occluded and filled; the first stays
clean, so a pair compares a clean face with a repaired one, as in ID-Inpainter.

Everything happens in memory: the unique second-image crops are read in chunks from the aligned
folder, occluded with a generator seeded from (canonical spec, crop path, seed) — so a re-run, a
resumed run, every filler and every recognizer see bit-identical occluded pixels — filled, and
embedded, each condition through the resumable caches of :mod:`.cache`. First-image and clean
second-image embeddings come from :func:`.embeddings.embed_folder` on the clean folder.
The ``mean_face`` and ``donor`` fillers are built from LFW people in **no** View-2 pair
(:func:`idinpaint.fillers.build_filler`), never from test identities.

Rows (:class:`~.results.Row`, one per condition, plus one clean row per recognizer) hold the verification
numbers of :func:`.verification.verify`, ``acc_clean``, ``acc_occluded`` (same occlusion, filler
``none``) and ``recovery_ratio`` = (acc_filled - acc_occluded) / (acc_clean - acc_occluded), and the
realism of the fill against the clean crop (:mod:`.realism`: chroma spread, chroma error, hole L1
and PSNR, SSIM; the same for every recognizer, computed once per condition and cached), and the
learned realism judge (``c2st_*``: a classifier two-sample test of the fill against real hole
content on at most :data:`~.realism.C2ST_MAX_CROPS` of the condition's crops, split by person;
once per condition, cached; NaN where the run has too few crops, and for the clean row). A
condition that raises is recorded in its row's ``error`` and the run goes on.

**Oracle or predicted masks.** By default every filler gets the oracle mask, the exact hole the
occlusion made. ``masks="predicted"`` gives each filler the mask the O-Detector
(:mod:`idinpaint.detection`) finds on the occluded crop instead — what a real photo offers — each
crop segmented by the LFW-half detector that never saw its person; the occlusion itself is the
same, the caches are keyed by the detector too, and realism is still measured in the oracle hole.

With one fold selected (e.g. ``folds=[10]``) the 10-fold protocol has no other folds to pick a
threshold on; the selected pairs are then split into 10 balanced sub-folds (``protocol`` column
says ``subfolds``), so the accuracy is still cross-validated, never tuned on the test pairs.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from idinpaint.data.aligned import aligned_name
from idinpaint.data.lfw import Pair, default_aligned_root, load_pairs, pair_arrays
from idinpaint.detection import get_detector
from idinpaint.evaluation.cache import (
    CACHE_VERSION,
    DEFAULT_CHUNK,
    c2st_condition,
    condition_cached,
    embed_condition,
    realism_condition,
)
from idinpaint.evaluation.embeddings import cache_file, cached_names, embed_folder
from idinpaint.evaluation.clean import clean_landmarks_lookup
from idinpaint.evaluation.condition import condition_pass
from idinpaint.evaluation.realism import C2ST_MAX_CROPS, C2ST_VERSION, NO_C2ST, summarize
from idinpaint.evaluation.results import DEFAULT_STEM, OccludedResults, Row, write_results
from idinpaint.evaluation.verification import cosine_scores, recovery_ratio, verify
from idinpaint.fillers import FILLERS, MEAN_FACE_COUNT, Filler, build_filler, is_filler_name
from idinpaint.occlusion import CLEAN, REGION_NAMES, canonical_spec
from idinpaint.paths import cache_dir
from idinpaint.progress import overall_progress
from idinpaint.recognizers import get_recognizer

#: Where a filler's mask comes from: the occlusion's own hole, or the O-Detector's prediction.
MASK_SOURCES = ("oracle", "predicted")


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


def _error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}".replace("\n", " ")[:500]


def _add_recovery(rows: list[Row]) -> None:
    clean = {r.recognizer: r.accuracy for r in rows if r.occlusion == CLEAN and not r.error}
    occluded = {(r.recognizer, r.occlusion): r.accuracy for r in rows
                if r.filler == "none" and r.occlusion != CLEAN and not r.error}
    for row in rows:
        row.acc_clean = clean.get(row.recognizer, math.nan)
        if row.occlusion == CLEAN:
            continue
        row.acc_occluded = occluded.get((row.recognizer, row.occlusion), math.nan)
        values = (row.accuracy, row.acc_occluded, row.acc_clean)
        if row.error or any(math.isnan(float(v)) for v in values):
            row.recovery_ratio = math.nan
        else:
            row.recovery_ratio = recovery_ratio(*values)


def protocol_specs(regions="all", fills=("black",)) -> tuple[list[str], list[str]]:
    """(specs, baseline_only) for regions x fills. Fillers never read the hole, so they run on the
    first fill only; the other fills are occluded baselines (see ``evaluate_conditions``)."""
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
                        baseline_only: Sequence[str] = (), masks: str = "oracle", detector=None,
                        c2st: bool = True, c2st_max_crops: int = C2ST_MAX_CROPS, threads: int | None = None,
                        cluster=None) -> OccludedResults:
    """Score every (recognizer, occlusion, filler) condition on LFW View-2 with occluded second images.

    ``recognizers``: names (``sface``, ``dlib``) or :class:`~idinpaint.recognizers.Recognizer`
    instances; ``occlusions``: spec strings; ``fillers``: names or :class:`~idinpaint.fillers.Filler`
    instances (``none`` is always added: it is the occluded baseline of ``recovery_ratio``);
    ``folds``: 1..10 (default all); ``pairs``: use these pairs instead of LFW's ``pairs.txt`` (their
    people are then the ones the mean face avoids; otherwise all View-2 people are avoided).
    ``baseline_only``: specs scored with filler ``none`` only. Fillers see only the pixels outside
    the hole, so a filled face does not depend on how the hole was painted: running every filler on
    black *and* gray holes would score identical images twice.
    ``output_dir``: when given, CSV + JSON + scores npz are (re)written there after every condition
    (see :func:`write_results`). ``masks``: ``oracle`` (the occlusion's own hole) or ``predicted``
    (the O-Detector's mask on the occluded crop; ``detector`` defaults to the shipped LFW-half pair,
    see :func:`idinpaint.detection.get_detector`). ``c2st``: judge each condition's realism with the
    classifier two-sample test (about a minute per condition on 2 cores; False leaves its fields NaN)
    on at most ``c2st_max_crops`` crops. ``threads``: torch / OpenCV threads while a condition's crops
    are filled, measured and embedded (one pass per condition, :mod:`.condition`; the same numbers at
    any count). ``cluster``: ``"local"``, a scheduler address or a :class:`distributed.Client`: the
    conditions' caches are filled as tasks on that Dask cluster first (:mod:`.distributed`), then
    every row is scored from them here, as a serial run would. Returns :class:`OccludedResults`
    (list of row dicts + scores).
    """
    started_run = time.time()
    aligned_root = Path(aligned_root or default_aligned_root())
    all_pairs = load_pairs(lfw_root) if pairs is None else list(pairs)
    scored = PairSet.of([p for p in all_pairs if not folds or p.fold + 1 in {int(f) for f in folds}], folds)
    specs = [canonical_spec(s) for s in dict.fromkeys(occlusions)]  # bad specs fail here, before any work
    baseline_specs = {canonical_spec(s) for s in baseline_only}
    filler_items = _filler_items(fillers)
    if masks not in MASK_SOURCES:
        raise ValueError(f"masks must be one of {', '.join(MASK_SOURCES)}, got {masks!r}")
    if masks == "predicted" and detector is None:
        detector = get_detector(pairs=all_pairs)  # missing files fail here, before any work
    mask_detector = detector if masks == "predicted" else None
    results = OccludedResults(labels=scored.labels, folds=scored.folds, first=scored.first, second=scored.second)
    config = {"recognizers": [getattr(r, "name", r) for r in recognizers], "occlusions": specs,
              "fillers": [_name(f) for f in filler_items], "aligned_root": str(aligned_root),
              "folds": list(folds) if folds else None, "seed": seed, "pairs": len(scored.labels),
              "unique_second_images": len(scored.unique_second), "mean_face_count": mean_face_count,
              "cache_version": CACHE_VERSION, "masks": masks,
              "c2st": {"version": C2ST_VERSION, "max_crops": c2st_max_crops} if c2st else None,
              **({"detector": repr(mask_detector)} if mask_detector is not None else {})}
    options = {"seed": seed, "chunk": chunk, "use_cache": use_cache, "progress": progress, "detector": mask_detector}
    built = _Built(lambda item: build_filler(item, aligned_root, all_pairs, lfw_root, mean_face_count=mean_face_count))
    realism: dict[tuple[str, str], dict[str, float]] = {}  # (spec, filler) -> summary, shared by recognizers

    def record(row: Row, scores: np.ndarray | None) -> None:
        results.append(row)
        if row.occlusion != CLEAN or include_clean:
            overall.update(1)
        if scores is not None:
            results.scores[row.condition] = np.asarray(scores, dtype=np.float32)
        _add_recovery(results)
        if progress:
            status = f"ERROR {row.error}" if row.error else f"accuracy {100 * row.accuracy:.2f} %"
            tqdm.write(f"[{row.recognizer}] {row.occlusion} + {row.filler}: {status}")
        if output_dir is not None:
            write_results(results, output_dir, stem, {**config, "seconds": round(time.time() - started_run, 1)})

    conditions = [(getattr(r, "name", r), spec, item) for r in recognizers for spec in specs for item in filler_items
                  if spec not in baseline_specs or _name(item) == "none"]
    total = len(conditions) + (len(recognizers) if include_clean else 0)
    if use_cache and progress:
        line = _reused_line(conditions, [getattr(r, "name", r) for r in recognizers] if include_clean else [],
                            aligned_root, scored, built, total, seed=seed, detector=mask_detector, c2st=c2st,
                            c2st_max_crops=c2st_max_crops)
        if line:
            tqdm.write(line)
    with overall_progress(total, "conditions") as overall:  # a Ctrl-C says how many conditions were done
        if cluster is not None and use_cache:  # the caches filled by many processes, then read back below
            from idinpaint.evaluation.distributed import fill_caches  # dask: imported only when a cluster is asked for

            fill_caches(cluster, aligned_root=aligned_root, relatives=scored.unique_second, first=scored.first,
                        specs=specs, baseline_specs=baseline_specs,
                        fillers=[f for f in filler_items if isinstance(f, str)],
                        recognizers=[r for r in recognizers if isinstance(r, str)], all_pairs=all_pairs,
                        lfw_root=lfw_root, seed=seed, chunk=chunk, mean_face_count=mean_face_count, masks=masks,
                        c2st=c2st, c2st_max_crops=c2st_max_crops, progress=progress)
        instances = {id(item): _recognizer(item) for item in recognizers}
        passed: set[tuple[str, str]] = set()  # conditions whose caches one pass has filled for every recognizer
        for rec_item in recognizers:
            rec_name = getattr(rec_item, "name", rec_item)
            recognizer, unavailable, first_vectors = instances[id(rec_item)], "", None
            if isinstance(recognizer, BaseException):
                recognizer, unavailable = None, f"recognizer {rec_name!r} unavailable: {_error_text(recognizer)}"
            else:
                row, scores, first_vectors = _score_clean(recognizer, rec_name, aligned_root, scored, use_cache,
                                                          progress)
                unavailable = f"first-image embeddings failed: {row.error}" if row.error else ""
                if include_clean or row.error:
                    record(row, scores)
            landmarks_of = clean_landmarks_lookup(recognizer, aligned_root) if recognizer is not None else None
            for spec in specs:
                for item in filler_items:
                    if spec in baseline_specs and _name(item) != "none":
                        continue
                    row, started, scores = Row.empty(rec_name, spec, _name(item)), time.time(), None
                    try:
                        if unavailable:
                            raise RuntimeError(unavailable)
                        filler = built(item)
                        if use_cache and (spec, row.filler) not in passed:
                            passed.add((spec, row.filler))
                            _one_pass(aligned_root, scored.unique_second, spec, filler, instances.values(),
                                      realism=(spec, row.filler) not in realism, threads=threads, **options)
                        if (spec, row.filler) not in realism:
                            realism[(spec, row.filler)] = {
                                **summarize(realism_condition(aligned_root, scored.unique_second, spec, filler,
                                                              **options)),
                                **(c2st_condition(aligned_root, scored.unique_second, spec, filler,
                                                  max_crops=c2st_max_crops, **options) if c2st else NO_C2ST)}
                        row.update(realism[(spec, row.filler)])
                        vectors, row.embedded = embed_condition(recognizer, aligned_root, scored.unique_second, spec,
                                                                filler, landmarks_of=landmarks_of, **options)
                        scores = _score(row, first_vectors, vectors[scored.order], scored)
                    except Exception as err:
                        row.error, scores = _error_text(err), None
                    row.seconds = round(time.time() - started, 2)
                    record(row, scores)
    if output_dir is not None:
        results.paths = write_results(results, output_dir, stem,
                                      {**config, "seconds": round(time.time() - started_run, 1)})
    return results


def _reused_line(conditions, clean: Sequence[str], aligned_root: Path, scored: "PairSet", built, total: int, *,
                 seed: int, detector, c2st: bool, c2st_max_crops: int) -> str | None:
    """``reusing 12 of 30 conditions from the cache in <folder>, and 1 more in part; 18 to compute``
    (None when the caches hold nothing of this run): what a re-run will not compute again."""
    whole = part = 0
    needed = set(scored.first) | set(scored.unique_second)
    for name in clean:  # the clean row of each recognizer: every first and second image embedded
        held = cached_names(cache_file(name, aligned_root)) & needed
        whole, part = whole + (held == needed), part + (0 < len(held) < len(needed))
    for name, spec, item in conditions:
        try:
            held, done = condition_cached(name, aligned_root, scored.unique_second, spec, built(item), seed=seed,
                                          detector=detector, c2st=c2st, c2st_max_crops=c2st_max_crops)
        except Exception:  # a filler that cannot be built: its rows say why, nothing to reuse
            continue
        whole, part = whole + done, part + (not done and held > 0)
    if not whole and not part:
        return None
    return (f"reusing {whole} of {total} conditions from the cache in {cache_dir()}"
            + (f", and {part} more in part" if part else "") + f"; {total - whole} to compute")


@dataclass
class PairSet:
    """The pairs a run scores: first images stay clean, each distinct second image is occluded and
    filled once (``unique_second``; ``order`` maps every pair to its second image there)."""

    first: list[str]
    second: list[str]
    labels: np.ndarray
    folds: np.ndarray
    unique_second: list[str]
    order: np.ndarray

    @classmethod
    def of(cls, pairs: Sequence[Pair], folds=None) -> "PairSet":
        if not pairs:
            raise ValueError(f"no pairs in folds {sorted(folds or [])}")
        first, second, labels, fold_ids = pair_arrays(list(pairs))
        first, second = [aligned_name(p) for p in first], [aligned_name(p) for p in second]
        unique = list(dict.fromkeys(second))
        position = {rel: i for i, rel in enumerate(unique)}
        return cls(first, second, labels, fold_ids, unique, np.array([position[rel] for rel in second]))


def _name(item) -> str:
    return item.name if isinstance(item, Filler) else item


def _filler_items(fillers: Sequence) -> list:
    """The fillers to score, ``none`` first when it was not asked for (the occluded baseline)."""
    items = list(dict.fromkeys(fillers, None))
    if not any(_name(f) == "none" for f in items):
        items.insert(0, "none")
    for f in items:
        if not isinstance(f, Filler) and not is_filler_name(f):
            raise ValueError(f"unknown filler {f!r}; valid fillers: {', '.join(FILLERS)}")
    return items


class _Built:
    """Each filler built once; a build that failed fails every row that needs it."""

    def __init__(self, build):
        self.build, self.done = build, {}

    def __call__(self, item) -> Filler:
        name = _name(item)
        if name not in self.done:
            try:
                self.done[name] = self.build(item)
            except Exception as err:  # recorded on every row that needs it
                self.done[name] = err
        if isinstance(self.done[name], BaseException):
            raise self.done[name]
        return self.done[name]


def _recognizer(item):
    """A recognizer instance, or the exception that says why it is unavailable."""
    try:
        return get_recognizer(item) if isinstance(item, str) else item
    except Exception as err:
        return err


def _one_pass(aligned_root: Path, relatives, spec: str, filler: Filler, instances, *, realism: bool,
              threads, seed: int, chunk: int, use_cache: bool, progress: bool, detector) -> None:
    """Read, occlude and fill the condition's crops once for its realism and every available
    recognizer (:func:`.condition.condition_pass`); the loop of the protocol then reads the caches."""
    ready = [r for r in instances if not isinstance(r, BaseException)]
    lookups = {r.name: clean_landmarks_lookup(r, aligned_root) for r in ready}
    condition_pass(aligned_root, relatives, spec, filler, ready, realism=realism, seed=seed, chunk=chunk,
                   progress=progress, detector=detector, threads=threads,
                   landmarks_of={name: f for name, f in lookups.items() if f is not None})


def _score(row: Row, first_vectors: np.ndarray, second_vectors: np.ndarray, scored: PairSet) -> np.ndarray:
    """Pair cosine scores, and their verification numbers into ``row``."""
    scores = cosine_scores(first_vectors, second_vectors)
    metrics, row.protocol = verify_pairs(scores, scored.labels, scored.folds)
    row.update(metrics)
    return scores


def _score_clean(recognizer, name: str, aligned_root: Path, scored: PairSet, use_cache: bool, progress: bool):
    """(clean row, its scores or None, first-image embeddings or None)."""
    started, row = time.time(), Row.empty(name, CLEAN, "none")
    scores = first = None
    try:
        first = embed_folder(recognizer, aligned_root, scored.first, progress=progress, use_cache=use_cache)
        second = embed_folder(recognizer, aligned_root, scored.unique_second, progress=progress, use_cache=use_cache)
        scores = _score(row, first, second[scored.order], scored)
    except Exception as err:
        row.error, scores, first = _error_text(err), None, None
    row.seconds = round(time.time() - started, 2)
    return row, scores, first
