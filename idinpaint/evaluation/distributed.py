"""The protocol's conditions as tasks on a Dask cluster: local by default, many machines when an
address is given.

The work of the occluded-LFW protocol is a set of independent conditions (occlusion spec, filler),
each a pass over the same crops (:func:`.condition.condition_pass`: realism and the recognizers'
embeddings) and its C2ST. :func:`fill_caches` sends, per condition, one task per recognizer (the
first also measures the realism and runs the C2ST; the others wait for it, so a network filler's
crops are filled once and read back from the filled-crop cache), plus one task per recognizer for
the clean embeddings and one for dlib's clean-crop landmarks, which every dlib condition reads,
to a Dask cluster. The tasks only **fill the caches** of :mod:`.cache`; the protocol then scores
every row from them in the calling process, exactly as a serial run would. So:

* a serial run and a distributed run give identical rows (the same functions on the same chunks
  write the same cache entries; the rows are computed from them the same way);
* an interrupted or partly failed run resumes: what a task finished is in the caches (saved after
  every chunk), a worker that dies has its task rescheduled by Dask on another worker, and a task
  that failed is redone, or its error recorded in its row, by the serial pass that follows;
* the caches must be one folder every worker sees (``IDINPAINT_CACHE`` on a shared path), with the
  aligned crops at the same path on every machine.

``cluster``: ``"local"`` (or True) starts a :class:`distributed.LocalCluster` on this machine (one
single-threaded worker process per core, or ``workers``; ``{"local": True, "workers": N}`` says both); an address (``tcp://host:8786``) joins a
running scheduler; a :class:`distributed.Client` is used as it is. ``DASK_SCHEDULER_ADDRESS``
stands in for ``"local"`` when set. Each worker process runs one task at a time with one torch and
OpenCV thread (:func:`.condition.limit_threads`): the parallelism comes from processes.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Sequence

from distributed import Client, LocalCluster, as_completed
from distributed.diagnostics.plugin import WorkerPlugin

from idinpaint.evaluation.cache import DEFAULT_CHUNK, c2st_condition
from idinpaint.evaluation.clean import clean_landmarks_lookup
from idinpaint.evaluation.condition import SteadyThreads, condition_pass, limit_threads, torch_threads
from idinpaint.evaluation.embeddings import embed_folder
from idinpaint.fillers import MEAN_FACE_COUNT, build_filler
from idinpaint.progress import ignore_interrupts, progress_bar
from idinpaint.recognizers import DLIB_RECOGNIZERS, get_recognizer

#: Environment variable naming a running scheduler (Dask's own name for it).
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"

#: Per worker process: recognizers, fillers and detectors built once, reused by its later tasks.
_BUILT: dict = {}


def _built(key, make):
    if key not in _BUILT:
        _BUILT[key] = make()
    return _BUILT[key]


def _recognizers(names: Sequence[str]) -> list:
    return [_built(("recognizer", name), lambda name=name: get_recognizer(name)) for name in names]


def clean_task(recognizer: str, aligned_root: str, first: list[str], second: list[str], threads: int | None = 1,
               reference_threads: int | None = None) -> int:
    """Clean embeddings of the first and the (unique) second images, in the order and chunks the
    protocol's clean row uses."""
    reference = reference_threads or torch_threads()
    with limit_threads(threads):
        (model,) = _recognizers([recognizer])
        model = SteadyThreads(model, threads, reference) if threads else model
        embed_folder(model, aligned_root, first, progress=False)
        embed_folder(model, aligned_root, second, progress=False)
    return len(first) + len(second)


def landmarks_task(recognizer: str, aligned_root: str, second: list[str], threads: int | None = 1) -> int:
    """The clean-crop landmarks of the second images (dlib), found once and cached before any
    condition reads them (workers finding them at once would each redo them)."""
    with limit_threads(threads):
        (model,) = _recognizers([recognizer])
        lookup = clean_landmarks_lookup(model, aligned_root)
        if lookup is not None:
            lookup(second)
    return len(second)


def condition_task(spec: str, filler: str, recognizers: list[str], aligned_root: str, relatives: list[str], *,
                   all_pairs, lfw_root=None, seed: int = 0, chunk: int = DEFAULT_CHUNK,
                   mean_face_count: int = MEAN_FACE_COUNT, masks: str = "oracle", realism: bool = True,
                   c2st: bool = True, c2st_max_crops: int | None = None, threads: int | None = 1,
                   reference_threads: int | None = None, after=None) -> int:
    """One condition's caches: its realism (``realism``) and the embeddings of ``recognizers`` in one
    pass, then its C2ST (``c2st``). ``after``: finished tasks this one waits for (the clean landmarks
    dlib reads; the first task of the condition, whose network fills are then read from the cache)."""
    root = Path(aligned_root)
    reference = reference_threads or torch_threads()
    with limit_threads(threads):
        models = _recognizers(recognizers)
        built = _built(("filler", filler, str(root), lfw_root, mean_face_count, len(all_pairs)),
                       lambda: build_filler(filler, root, all_pairs, lfw_root, mean_face_count=mean_face_count))
        detector = None
        if masks == "predicted":
            from idinpaint.detection import get_detector  # the O-Detector: loaded only for predicted masks

            detector = _built(("detector", len(all_pairs)), lambda: get_detector(pairs=all_pairs))
        lookups = {m.name: clean_landmarks_lookup(m, root) for m in models}
        done = condition_pass(root, relatives, spec, built, models, realism=realism, seed=seed, chunk=chunk,
                              progress=False,
                              detector=detector, threads=threads, reference_threads=reference, landmarks_of={k: f for k, f in lookups.items() if f is not None})
        if c2st:
            extra = {"max_crops": c2st_max_crops} if c2st_max_crops is not None else {}
            c2st_condition(root, relatives, spec, built, seed=seed, chunk=chunk, progress=False, detector=detector,
                           **extra)
    return done


class _QuietWorker(WorkerPlugin):
    """Worker plugin: a (re)started worker ignores Ctrl-C (the driver stops the cluster)."""

    name = "idinpaint-quiet-worker"

    def setup(self, worker) -> None:
        with contextlib.suppress(ValueError):  # not the main thread of the worker process
            ignore_interrupts()


@contextlib.contextmanager
def connect(cluster="local", workers: int | None = None):
    """A :class:`distributed.Client`: ``cluster`` as in the module docstring."""
    if isinstance(cluster, Client):
        yield cluster
        return
    if isinstance(cluster, dict):  # {"local": True, "workers": N}: a local cluster of N processes
        cluster, workers = "local", cluster.get("workers") or workers
    if cluster in (None, True, "local", "") and os.environ.get(SCHEDULER_ENV):
        cluster = os.environ[SCHEDULER_ENV]
    if cluster in (None, True, "local", ""):
        count = max(1, int(workers or os.cpu_count() or 1))
        with LocalCluster(n_workers=count, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as local, Client(local) as client:
            client.register_plugin(_QuietWorker())
            yield client
        return
    with Client(str(cluster)) as client:
        yield client


def fill_caches(cluster, *, aligned_root, relatives: Sequence[str], first: Sequence[str], specs: Sequence[str],
                baseline_specs=(), fillers: Sequence[str], recognizers: Sequence[str], all_pairs, lfw_root=None,
                seed: int = 0, chunk: int = DEFAULT_CHUNK, mean_face_count: int = MEAN_FACE_COUNT,
                masks: str = "oracle", c2st: bool = True, c2st_max_crops: int | None = None, progress: bool = True,
                workers: int | None = None, threads: int | None = 1) -> list[str]:
    """Fill the protocol's caches for every condition on a Dask cluster (see the module docstring);
    returns one line per task that failed (the serial pass that follows redoes those conditions and
    records their errors in the rows)."""
    names = [r for r in recognizers if isinstance(r, str)]
    fillers = [f for f in fillers if isinstance(f, str)]
    if not names or not fillers:
        return []
    root, relatives, first = str(Path(aligned_root).resolve()), list(relatives), list(first)
    reference = torch_threads()  # a short batch is embedded with the threads a serial run here uses
    failures: list[str] = []
    with connect(cluster, workers) as client:
        pairs = client.scatter(list(all_pairs), broadcast=True)
        # every dlib condition reads them; one task for dlib and dlib_torch (the same landmarks, one cache file)
        family = [name for name in names if name in DLIB_RECOGNIZERS]
        found = client.submit(landmarks_task, family[0], root, relatives, threads, pure=False) if family else None
        landmarks = {name: found for name in family}
        tasks = {"landmarks[dlib]": found} if family else {}
        tasks.update({f"clean[{name}]": client.submit(clean_task, name, root, first, relatives, threads, reference,
                                                      pure=False) for name in names})
        common = dict(all_pairs=pairs, lfw_root=lfw_root, seed=seed, chunk=chunk, mean_face_count=mean_face_count,
                      masks=masks, c2st_max_crops=c2st_max_crops, threads=threads, reference_threads=reference)
        for spec in specs:
            for filler in fillers:
                if spec in baseline_specs and filler != "none":
                    continue
                # one task per recognizer, so that the work spreads over many workers; the first also
                # does the realism and the C2ST, the others wait for it (its network fills are cached)
                first_task = client.submit(condition_task, spec, filler, names[:1], root, relatives, realism=True,
                                           c2st=c2st, after=[landmarks[n] for n in names[:1] if n in landmarks],
                                           pure=False, **common)
                tasks[f"{spec} + {filler} [{names[0]}]"] = first_task
                for name in names[1:]:
                    tasks[f"{spec} + {filler} [{name}]"] = client.submit(
                        condition_task, spec, filler, [name], root, relatives, realism=False, c2st=False,
                        after=[first_task] + ([landmarks[name]] if name in landmarks else []), pure=False, **common)
        label = {future.key: name for name, future in tasks.items()}
        try:
            with progress_bar(total=len(tasks), desc=f"conditions on {len(client.scheduler_info()['workers'])} "
                                                     "workers", unit="task", disable=not progress) as bar:
                for future in as_completed(list(tasks.values())):
                    if future.status != "finished":
                        error = future.exception()
                        failures.append(f"{label[future.key]}: {type(error).__name__}: {error}"[:500])
                    bar.update(1)
        except BaseException:
            client.cancel(list(tasks.values()))
            raise
    return failures
