"""One condition (occlusion spec, filler) in one pass: read, occlude and fill each crop once, then
measure its realism and embed it with every recognizer.

:func:`~.cache.realism_condition` and :func:`~.cache.embed_condition` each run the whole loop
(read the crops, occlude, fill, measure) for their own cache, so a condition scored by two
recognizers decoded, occluded and filled every crop three times. :func:`condition_pass` runs the
loop once and writes the **same** cache files, chunk by chunk, with the same functions on the same
chunks, so the protocol afterwards only reads them back: identical numbers, resumable after an
interruption (a crop missing from any of the caches is redone for the caches that miss it).

Within a chunk, a recognizer that runs in its own processes (dlib's ResNet with ``workers`` > 1:
single-threaded, it holds the GIL, the slowest part of a condition) is started first; SFace and the
realism measures run here while its workers compute, and the pass waits for them last. The cores
no longer take turns: the old loops left one core idle while SFace ran and the other while dlib's
workers did. A descriptor does not depend on the chips it is sent with: identical vectors.

:func:`limit_threads` sets the intra-op threads of torch and OpenCV for a block. The protocol's
parallelism comes from processes (:mod:`.distributed`); inside each, one thread. On a 2-core machine
shared with other work, torch's two spinning threads made SFace several times slower than one
thread (``benchmarks/bench_protocol.py``). The numbers must not depend on it: SFace gives the same
vector at any thread count for a full batch (16 crops), but not for a shorter one, so
:class:`SteadyThreads` embeds the full batches with the limit and the last, short batch with the
``reference`` thread count (the calling process's, what a serial run uses): identical rows.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from idinpaint.evaluation.cache import (
    DEFAULT_CHUNK,
    condition_cache_file,
    filled_cache_dir,
    filled_chunks,
    mask_source,
    realism_cache_file,
)
from idinpaint.evaluation.embeddings import load_embedding_cache, save_embedding_cache
from idinpaint.evaluation.realism import as_vectors, realism_metrics
from idinpaint.fillers import Filler
from idinpaint.occlusion import OcclusionSpec, parse_spec
from idinpaint.progress import progress_bar


@contextlib.contextmanager
def limit_threads(threads: int | None):
    """Within the block, torch and OpenCV use ``threads`` intra-op threads (None: leave them)."""
    if not threads:
        yield
        return
    import cv2
    import torch  # torch's thread pool: set here, only when a limit is asked for

    before_torch, before_cv2 = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(int(threads))
    cv2.setNumThreads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before_torch)
        cv2.setNumThreads(before_cv2)


def torch_threads() -> int:
    """The intra-op thread count torch uses now (the reference a serial run embeds with)."""
    import torch  # torch's thread pool: read only where a limit is compared with it

    return int(torch.get_num_threads())


class SteadyThreads:
    """A recognizer whose embeddings do not depend on the thread limit around it: full batches are
    embedded with ``threads``, a last short batch with ``reference`` threads (see the module
    docstring). Everything else is the recognizer's own."""

    def __init__(self, recognizer, threads: int | None, reference: int):
        self.recognizer, self.threads, self.reference = recognizer, threads, int(reference)

    def __getattr__(self, name):
        return getattr(self.recognizer, name)

    def embed(self, images, batch_size: int | None = None, progress: bool = False, **kwargs) -> np.ndarray:
        size = int(batch_size or self.recognizer.default_batch_size)
        whole = len(images) // size * size
        parts = []
        for part, threads in ((slice(0, whole), self.threads), (slice(whole, len(images)), self.reference)):
            if part.stop > part.start:
                with limit_threads(threads):
                    parts.append(self.recognizer.embed(images[part], batch_size=size, progress=progress,
                                                       **{k: None if v is None else v[part] for k, v in kwargs.items()}))
        return np.concatenate(parts) if parts else self.recognizer.embed(images, batch_size=size, **kwargs)

    def embed_start(self, images, batch_size: int | None = None, **kwargs):
        """A recognizer running in its own processes starts there (their threads are not ours to
        limit); any other embeds now, as :meth:`embed`."""
        if getattr(self.recognizer, "parallel", False):
            return self.recognizer.embed_start(images, batch_size=batch_size, **kwargs)
        vectors = self.embed(images, batch_size=batch_size, **kwargs)
        return lambda: vectors


class _Target:
    """One cache the pass fills: its file, its table, and how a chunk is measured for it
    (``measure`` returns a function that gives the values: work sent to other processes is
    waited for only after every target of the chunk has started)."""

    def __init__(self, path: Path, measure: Callable):
        self.path, self.measure = path, measure
        self.table = load_embedding_cache(path)


def condition_pass(root, relatives: Sequence[str], spec: str | OcclusionSpec, filler: Filler,
                   recognizers: Sequence = (), *, landmarks_of: dict | None = None, realism: bool = True,
                   seed: int = 0, chunk: int = DEFAULT_CHUNK, progress: bool = True, detector=None,
                   threads: int | None = None, reference_threads: int | None = None) -> int:
    """Fill the realism cache (``realism``) and each recognizer's embedding cache of one condition
    in one pass over the crops; returns how many crops were read and filled now (0 when every cache
    already holds every crop). ``landmarks_of``: {recognizer name: callable(relatives) -> (n, 5, 2)}
    for recognizers that cut their own chip (dlib). ``detector``: the filler gets its predicted
    masks (see :mod:`.cache`). The caches are the ones :func:`~.cache.realism_condition` and
    :func:`~.cache.embed_condition` read and write, saved after every chunk. ``threads``: torch and
    OpenCV threads for the pass; ``reference_threads`` (default: the current count) embeds the short
    batches (:class:`SteadyThreads`)."""
    root = Path(root)
    if threads:
        reference = reference_threads or torch_threads()
        recognizers = [SteadyThreads(r, threads, reference) for r in recognizers]
    parsed = spec if isinstance(spec, OcclusionSpec) else parse_spec(spec)
    landmarks_of = landmarks_of or {}
    targets = []
    # recognizers in other processes (dlib's workers) first: they compute while this one does the rest
    for recognizer in sorted(recognizers, key=lambda r: not getattr(r, "parallel", False)):
        lookup = landmarks_of.get(recognizer.name)

        def embed(faces, filled, masks, batch, recognizer=recognizer, lookup=lookup):
            kwargs = {"landmarks": lookup(batch)} if lookup is not None else {}
            return recognizer.embed_start(filled, **kwargs)

        targets.append(_Target(condition_cache_file(recognizer.name, root, parsed, filler, seed, detector), embed))
    if realism:
        def measure_realism(faces, filled, masks, batch):
            values = as_vectors(realism_metrics(filled, faces, masks))
            return lambda: values

        targets.append(_Target(realism_cache_file(root, parsed, filler, seed, detector), measure_realism))
    wanted = list(dict.fromkeys(relatives))
    missing = [rel for rel in wanted if any(rel not in t.table for t in targets)]
    if not missing:
        return 0
    source = mask_source(filler, detector)
    fill_dir = filled_cache_dir(root, parsed, filler, seed, source) if getattr(filler, "cache_fills", False) else None
    with limit_threads(threads), progress_bar(total=len(missing), desc=f"condition {parsed} + {filler.name}",
                                              unit="img", disable=not progress) as bar:
        for batch, faces, filled, masks in filled_chunks(root, missing, parsed, filler, seed=seed, chunk=chunk,
                                                         detector=source, fill_dir=fill_dir):
            started = []
            for target in targets:
                todo = [i for i, rel in enumerate(batch) if rel not in target.table]
                if not todo:
                    continue
                if len(todo) == len(batch):
                    started.append((target, batch, target.measure(faces, filled, masks, batch)))
                else:
                    names = [batch[i] for i in todo]
                    started.append((target, names, target.measure(faces[todo], filled[todo], masks[todo], names)))
            for target, names, values in started:
                target.table.update(zip(names, np.asarray(values())))
                save_embedding_cache(target.path, target.table)  # after every chunk: an interrupted pass resumes
            bar.update(len(batch))
    return len(missing)
