"""The protocol's faster paths give the numbers of the plain one, on real LFW crops:

* one pass per condition (:mod:`idinpaint.evaluation.condition`) writes exactly the cache entries
  the separate realism and embedding loops write (SFace and dlib);
* conditions as tasks on a local Dask cluster of two workers (:mod:`idinpaint.evaluation.distributed`)
  give the rows and scores of a serial run, also when a worker is killed mid-run and the run resumes.
"""
from __future__ import annotations

import os
import signal
import threading
import time

import distributed  # a required dependency (dask[distributed] in pyproject.toml): missing is an error
import numpy as np
import pytest

from idinpaint.data.aligned import aligned_name
from idinpaint.data.lfw import load_pairs
from idinpaint.evaluation.cache import condition_cache_file, embed_condition, realism_condition
from idinpaint.evaluation.clean import clean_landmarks_lookup
from idinpaint.evaluation.condition import condition_pass
from idinpaint.evaluation.embeddings import load_embedding_cache
from idinpaint.evaluation.protocol import PairSet, evaluate_conditions
from idinpaint.fillers import get_filler
from idinpaint.recognizers import get_recognizer

SPEC = "region:two_eyes@black"
FILLERS = ["none", "telea"]
RUN_FIELDS = {"seconds", "embedded"}


@pytest.fixture(scope="module")
def small(lfw_root, tmp_path_factory):
    """20 View-2 pairs from folds 1 and 2 (5 same + 5 different each), aligned by the real pipeline."""
    from idinpaint.preprocess import preprocess_folder

    everything = load_pairs(lfw_root)
    pairs = []
    for fold in (0, 1):
        in_fold = [p for p in everything if p.fold == fold]
        pairs += [p for p in in_fold if p.same][:5] + [p for p in in_fold if not p.same][:5]
    files = sorted({f for p in pairs for f in (p.first, p.second)})
    folder = tmp_path_factory.mktemp("aligned")
    report = preprocess_folder(lfw_root / "raw", folder, files=files, progress=False)
    assert not report.failures, report.failures
    return folder, pairs


def _measured(results) -> list[dict]:
    return [{k: "nan" if isinstance(v, float) and v != v else v for k, v in row.items() if k not in RUN_FIELDS}
            for row in results]


def _same(results, reference) -> None:
    assert not results.failures and not reference.failures
    for got, want in zip(_measured(results), _measured(reference)):
        assert got == want, {k: (got[k], want[k]) for k in want if got.get(k) != want[k]}
    assert len(results) == len(reference)
    assert results.scores.keys() == reference.scores.keys()
    for key, scores in reference.scores.items():
        np.testing.assert_array_equal(results.scores[key], scores)


def _run(aligned, pairs, **kwargs):
    kwargs.setdefault("c2st", False)
    return evaluate_conditions(["sface"], [SPEC], FILLERS, aligned, pairs=pairs, progress=False, chunk=4, **kwargs)


@pytest.mark.slow
def test_one_pass_writes_the_entries_of_the_separate_loops(small, tmp_path, monkeypatch):
    aligned, pairs = small
    relatives = PairSet.of(pairs).unique_second[:12]
    telea = get_filler("telea")
    recognizers = [get_recognizer("sface"), get_recognizer("dlib")]

    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / "separate"))
    separate = {"realism": realism_condition(aligned, relatives, SPEC, telea, chunk=5, progress=False)}
    for rec in recognizers:
        separate[rec.name], _ = embed_condition(rec, aligned, relatives, SPEC, telea, chunk=5, progress=False,
                                                landmarks_of=clean_landmarks_lookup(rec, aligned))

    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / "one_pass"))
    lookups = {"dlib": clean_landmarks_lookup(recognizers[1], aligned)}
    assert condition_pass(aligned, relatives, SPEC, telea, recognizers, landmarks_of=lookups, chunk=5,
                          progress=False) == len(relatives)
    assert condition_pass(aligned, relatives, SPEC, telea, recognizers, landmarks_of=lookups, chunk=5,
                          progress=False) == 0, "a second pass finds every cache full"
    np.testing.assert_array_equal(realism_condition(aligned, relatives, SPEC, telea, progress=False),
                                  separate["realism"])
    for rec in recognizers:
        vectors, computed = embed_condition(rec, aligned, relatives, SPEC, telea, progress=False)
        assert computed == 0, f"{rec.name}: read back from the cache the pass wrote"
        np.testing.assert_array_equal(vectors, separate[rec.name])


@pytest.fixture(scope="module")
def judged(lfw_root, tmp_path_factory):
    """32 View-2 pairs of folds 1 and 2 (8 same + 8 different each), aligned by the real pipeline: their 30
    distinct second images, split by person 18 / 12, give the C2ST judge the 10 real and 10 filled hole
    contents it needs at least (``small``'s are too few: its C2ST fields stay NaN)."""
    from idinpaint.preprocess import preprocess_folder

    everything = load_pairs(lfw_root)
    pairs = []
    for fold in (0, 1):
        in_fold = [p for p in everything if p.fold == fold]
        pairs += [p for p in in_fold if p.same][:8] + [p for p in in_fold if not p.same][:8]
    files = sorted({f for p in pairs for f in (p.first, p.second)})
    folder = tmp_path_factory.mktemp("judged")
    report = preprocess_folder(lfw_root / "raw", folder, files=files, progress=False)
    assert not report.failures, report.failures
    return folder, pairs


@pytest.mark.slow
def test_local_cluster_gives_the_rows_of_a_serial_run(judged, tmp_path, monkeypatch):
    """With the C2ST judge (c2st=True): the first task of each condition judges it in a worker process,
    and the rows, C2ST verdicts included, are those of a serial run."""
    from idinpaint.evaluation.realism import C2ST_FIELDS

    aligned, pairs = judged
    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / "serial"))
    reference = _run(aligned, pairs, c2st=True)
    judged_rows = [row for row in reference if row["occlusion"] != "clean"]
    assert len(judged_rows) == len(FILLERS)
    for row in judged_rows:  # a verdict on all 30 crops, not the NaN of too few
        assert row["c2st_n"] == 30 and row["c2st_low"] <= row["c2st_auc"] <= row["c2st_high"], row
        assert 0.5 <= row["c2st_auc"] <= 1.0, row

    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / "cluster"))  # before the workers start: they read it
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                                  processes=True) as cluster, distributed.Client(cluster) as client:
        results = _run(aligned, pairs, cluster=client, c2st=True)
        assert len(client.scheduler_info()["workers"]) == 2
    done = condition_cache_file("sface", aligned, SPEC, get_filler("telea"))
    assert done.is_file(), "the workers filled the cache"
    verdicts = list((tmp_path / "cluster" / "realism").glob("*_c2st-*.json"))
    assert len(verdicts) == len(FILLERS), "the workers judged each condition and cached its verdict"
    assert [row["embedded"] for row in results if row["occlusion"] != "clean"] == [0, 0], \
        "the calling process only read the caches the workers wrote"
    _same(results, reference)
    for got, want in zip(results[1:], reference[1:]):  # _same compares NaN as text: these are numbers
        assert [got[k] for k in C2ST_FIELDS] == [want[k] for k in C2ST_FIELDS], got["condition"]


@pytest.mark.slow
def test_a_worker_killed_mid_run_then_resume_gives_the_serial_rows(small, tmp_path, monkeypatch):
    from idinpaint.evaluation.distributed import fill_caches

    aligned, pairs = small
    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / "serial"))
    reference = _run(aligned, pairs)

    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / "killed"))
    scored = PairSet.of(pairs)
    telea_cache = condition_cache_file("sface", aligned, SPEC, get_filler("telea"))
    outcome: dict = {}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                                  processes=True) as cluster, distributed.Client(cluster) as client:
        def run():
            try:
                outcome["failures"] = fill_caches(
                    client, aligned_root=aligned, relatives=scored.unique_second, first=scored.first, specs=[SPEC],
                    fillers=FILLERS, recognizers=["sface"], all_pairs=pairs, chunk=4, c2st=False, progress=False)
            except Exception as err:  # a task that ran out of retries: the resume below redoes it
                outcome["error"] = err

        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.time() + 240
        while not load_embedding_cache(telea_cache) and time.time() < deadline and worker.is_alive():
            time.sleep(0.05)
        assert worker.is_alive() and len(load_embedding_cache(telea_cache)) < len(scored.unique_second), \
            "the kill lands mid-run"
        busy = [address for address, keys in client.processing().items() if keys]
        pids = client.run(os.getpid)
        os.kill(pids[busy[0] if busy else next(iter(pids))], signal.SIGKILL)
        worker.join(timeout=300)
        assert not worker.is_alive()
    # fill_caches raises for nothing: a task lost with the killed worker is either rescheduled on the other
    # worker (it finishes) or recorded in its failures, named by its condition, for the resume to redo
    assert "error" not in outcome, f"fill_caches raised {outcome.get('error')!r}"
    failures = outcome["failures"]
    assert all(f.startswith(f"{SPEC} + ") and "[sface]" in f for f in failures), failures
    missing = {name: len(scored.unique_second) - len(load_embedding_cache(
        condition_cache_file("sface", aligned, SPEC, get_filler(name)))) for name in FILLERS}
    for name, count in missing.items():  # a condition the cluster did not record as failed is complete
        assert count == 0 or any(f.startswith(f"{SPEC} + {name} ") for f in failures), (name, count, failures)
    results = _run(aligned, pairs)  # the resume: a serial run that reads what the cluster left, redoes the rest
    _same(results, reference)
    for name in FILLERS:  # every crop of every condition is in its cache after the resume
        cache = condition_cache_file("sface", aligned, SPEC, get_filler(name))
        assert len(load_embedding_cache(cache)) == len(scored.unique_second), (name, missing)


@pytest.mark.slow
def test_dlib_in_worker_processes_overlaps_and_gives_the_same_vectors(small, tmp_path, monkeypatch):
    """The one pass with dlib's descriptor in two worker processes (started first, waited for last)
    writes the vectors of dlib in this process, and the realism and SFace entries are unchanged."""
    aligned, pairs = small
    relatives = PairSet.of(pairs).unique_second[:12]
    telea = get_filler("telea")
    serial = [get_recognizer("sface"), get_recognizer("dlib")]
    parallel = [get_recognizer("sface"), get_recognizer("dlib", workers=2)]
    assert parallel[1].parallel and not serial[1].parallel
    got = {}
    for name, recognizers in (("serial", serial), ("parallel", parallel)):
        monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / name))
        lookups = {"dlib": clean_landmarks_lookup(recognizers[1], aligned)}
        assert condition_pass(aligned, relatives, SPEC, telea, recognizers, landmarks_of=lookups, chunk=5,
                              progress=False, threads=1) == len(relatives)
        got[name] = [realism_condition(aligned, relatives, SPEC, telea, progress=False)] + \
                    [embed_condition(r, aligned, relatives, SPEC, telea, progress=False)[0] for r in recognizers]
    parallel[1].close()
    for want, have in zip(got["serial"], got["parallel"]):
        np.testing.assert_array_equal(have, want)
    assert not np.isnan(got["parallel"][2]).any() and len(got["parallel"][2]) == len(relatives)


def _agree(got: dict, want: dict, skip=("recognizer",)) -> None:
    """Rows of two computations of one recognizer: floats to rounding, everything else the same."""
    assert got.keys() == want.keys()
    for key, value in want.items():
        if key in skip:
            continue
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, abs=1e-5), key  # cosines agree to float rounding
        else:
            assert got[key] == value, key  # accuracies, counts, names: the same


@pytest.mark.slow
def test_dlib_computed_by_torch_gives_the_rows_of_dlib(small, tmp_path, monkeypatch):
    """``dlib_torch`` (dlib's chips and weights, the descriptor by torch, in two worker processes)
    scores the rows ``dlib`` scores, serially and on a local cluster of two workers; both read one
    cache of clean-crop landmarks."""
    aligned, pairs = small
    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / "serial"))
    models = [get_recognizer("dlib"), get_recognizer("dlib_torch", workers=2)]
    serial = evaluate_conditions(models, [SPEC], FILLERS, aligned, pairs=pairs, progress=False, c2st=False)
    models[1].close()
    landmark_files = [p.name for p in (tmp_path / "serial").rglob("*landmarks*")]
    assert len(landmark_files) == 1 and landmark_files[0].startswith("dlib-landmarks"), landmark_files
    rows = {name: [r for r in _measured(serial) if r["recognizer"] == name] for name in ("dlib", "dlib_torch")}
    assert len(rows["dlib"]) == len(rows["dlib_torch"]) == 1 + len(FILLERS)  # clean, then each filler
    for want, got in zip(rows["dlib"], rows["dlib_torch"]):
        _agree(got, want, skip=("recognizer", "condition"))
    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / "cluster"))
    clustered = evaluate_conditions(["dlib", "dlib_torch"], [SPEC], ["none"], aligned, pairs=pairs, progress=False,
                                    c2st=False, cluster={"local": True, "workers": 2})
    assert not clustered.failures
    want = [r for r in _measured(serial) if r["filler"] != "telea"]
    assert len(_measured(clustered)) == len(want)
    for got, row in zip(_measured(clustered), want):
        _agree(got, row, skip=())
