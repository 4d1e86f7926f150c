"""Where the occluded-LFW protocol spends its time, what the full table costs, and what the one-pass
path and a local Dask cluster save.

Three parts, all on one region, real LFW crops, an empty cache (a temporary ``IDINPAINT_CACHE``):

1. **Stages** of one condition per filler, each timed alone on the same crops: reading, occluding,
   filling (network and blend together), blending (the blend alone, re-run on the fills), realism
   (SSIM apart), C2ST (once, on the first filler given), embedding per recognizer (SFace with the
   default threads and with one; dlib's landmarks, chips and descriptor separately, the descriptor
   also computed by torch, ``dlib_torch``), scoring and
   figures; then the cost of the README's full table extrapolated by crop count (4,576 second
   images per condition, 7,701 pair images for the clean embeddings).
2. **Old against new**, interleaved in this process on the same crops (old, new, old, new, ...,
   each with a fresh empty cache): the loops of today's protocol (realism, then each recognizer's
   embeddings, each reading, occluding and filling the crops itself, torch's default threads)
   against one pass with one thread (:func:`idinpaint.evaluation.condition.condition_pass`), dlib's
   ResNet in ``--workers`` processes in both (the CLI's default; in the one pass they compute while
   SFace and realism run). The median ratio is reported, and the cached vectors of both are checked
   to be identical (``--ratio-new-recognizers sface dlib_torch``: the new path computes dlib's
   descriptor with torch; the largest difference of the vectors is reported instead).
3. **Local Dask cluster** of ``--workers`` single-threaded processes against the serial protocol as
   the CLI runs it (one pass, one thread, dlib in ``--workers`` processes), interleaved, fresh
   caches; the rows are checked to be identical.

    python benchmarks/bench_protocol.py --folds 1 --crops 128
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FULL_CROPS = 4576  # unique second images of the 6,000 View-2 pairs
FULL_PAIR_IMAGES = 7701  # first + unique second images (the clean embeddings, once per recognizer)
#: The README's table: 10 regions x (black: every filler; gray: the occluded baseline) x 2 recognizers.
FULL_FILLERS = ("none", "telea", "mean_face", "donor", "ca", "ca_id")
FULL_REGIONS = 10


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def chunks(items, size=256):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def stage_profile(args, root, pairs, relatives, all_pairs, cache: Path) -> dict:
    import cv2
    import torch

    from idinpaint.blending import DEFAULT_BLEND, blend
    from idinpaint.data.aligned import read_faces
    from idinpaint.evaluation.protocol import verify_pairs
    from idinpaint.evaluation.realism import c2st_fields, realism_metrics, ssim_batch
    from idinpaint.fillers import build_filler
    from idinpaint.occlusion import occlude_faces, parse_spec
    from idinpaint.recognizers import get_recognizer

    os.environ["IDINPAINT_CACHE"] = str(cache / "profile")
    spec = parse_spec(f"region:{args.region}@black")
    faces, t_read = timed(read_faces, root, relatives)
    (occluded, masks), t_occlude = timed(occlude_faces, spec, faces, relatives, seed=0)
    sface, dlib, dlib_torch = get_recognizer("sface"), get_recognizer("dlib"), get_recognizer("dlib_torch")
    landmarks, t_landmarks = timed(dlib.landmarks, faces)
    default_threads = torch.get_num_threads()
    per_filler = {}
    for name in args.fillers:
        filler, t_build = timed(build_filler, name, root, all_pairs, None)
        filled, t_fill = timed(filler.fill_for, occluded, masks, relatives)
        _, t_blend = timed(lambda: [blend(o, f, m, DEFAULT_BLEND) for o, f, m in zip(occluded, filled, masks)])
        _, t_realism = timed(realism_metrics, filled, faces, masks)
        _, t_ssim = timed(ssim_batch, filled, faces)
        sface_vectors, t_sface = timed(sface.embed, filled)
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        _, t_sface_1 = timed(sface.embed, filled)
        torch.set_num_threads(default_threads)
        chips, t_chips = timed(dlib.chips, filled, landmarks)
        vectors, t_desc = timed(dlib._descriptors, chips)
        _, t_torch = timed(dlib_torch._descriptors, chips)  # torch's default threads
        torch.set_num_threads(1)
        _, t_torch_1 = timed(dlib_torch._descriptors, chips)
        torch.set_num_threads(default_threads)
        entry = {"build_s": t_build, "fill_s": t_fill, "blend_alone_s": t_blend if name in ("ca", "ca_id") else 0.0,
                 "realism_s": t_realism, "realism_ssim_s": t_ssim, "embed_sface_s": t_sface,
                 "embed_sface_1thread_s": t_sface_1, "dlib_chips_s": t_chips, "dlib_descriptor_s": t_desc,
                 "dlib_torch_descriptor_s": t_torch, "dlib_torch_descriptor_1thread_s": t_torch_1}
        if name == args.fillers[min(1, len(args.fillers) - 1)] and args.c2st:
            _, entry["c2st_s"] = timed(c2st_fields, faces, filled, masks, relatives, seed=0)
        per_filler[name] = entry
        print(name, {k: round(v, 2) for k, v in entry.items()}, flush=True)
    # scoring: the last condition's pair scores (SFace) through the 10-fold protocol
    from idinpaint.evaluation.protocol import PairSet
    from idinpaint.evaluation.verification import cosine_scores

    scored = PairSet.of(pairs)
    index = {rel: i for i, rel in enumerate(relatives)}
    keep = [i for i, rel in enumerate(scored.second) if rel in index]
    first_vectors = sface.embed(read_faces(root, [scored.first[i] for i in keep]))
    second_vectors = sface_vectors[[index[scored.second[i]] for i in keep]]
    _, t_score = timed(lambda: verify_pairs(cosine_scores(first_vectors, second_vectors), scored.labels[keep],
                                            np.arange(len(keep)) % 10))
    return {"crops": len(relatives), "read_s": t_read, "occlude_s": t_occlude, "dlib_landmarks_s": t_landmarks,
            "torch_default_threads": default_threads, "fillers": per_filler,
            "score_s": t_score, "score_pairs": len(keep)}


def extrapolate(profile: dict, figures_s: float) -> dict:
    """Seconds of the README's full table from the per-crop stage costs (both paths)."""
    n = profile["crops"]
    per = lambda seconds: seconds / n  # noqa: E731 - per crop
    fillers = profile["fillers"]
    c2st = next((f["c2st_s"] for f in fillers.values() if "c2st_s" in f), 0.0)
    c2st_crops = min(1000, FULL_CROPS)
    c2st_full = c2st * c2st_crops / n  # the judge trains on at most 1,000 crops
    base = per(profile["read_s"] + profile["occlude_s"])
    table = {"old": 0.0, "new": 0.0, "new_torch": 0.0}
    stages = {}
    conditions = [(f, "black") for f in FULL_FILLERS if f in fillers] + [("none", "gray")]
    for filler, fill in conditions:
        f = fillers[filler]
        fill_cost = per(f["fill_s"])
        cached_fill = filler in ("ca", "ca_id")  # network fills are cached as PNGs: later passes read them
        reread = per(profile["read_s"]) if cached_fill else fill_cost
        measure = per(f["realism_s"])
        sface_old, sface_new = per(f["embed_sface_s"]), per(f["embed_sface_1thread_s"])
        dlib = per(f["dlib_chips_s"] + f["dlib_descriptor_s"])
        # old: realism pass + one pass per recognizer + the C2ST's own pass, each reading, occluding, filling
        old = (base + fill_cost) + 2 * (base + reread) + measure + sface_old + dlib
        new = (base + fill_cost) + measure + sface_new + dlib
        # the same pass with dlib's descriptor computed by torch on one thread (dlib_torch)
        new_torch = new - per(f["dlib_descriptor_s"]) + per(f.get("dlib_torch_descriptor_1thread_s", f["dlib_descriptor_s"]))
        c2st_pass = (base + reread) * c2st_crops / FULL_CROPS
        per_condition_old = old * FULL_CROPS + c2st_pass * FULL_CROPS + c2st_full
        per_condition_new = new * FULL_CROPS + c2st_pass * FULL_CROPS + c2st_full
        per_condition_torch = new_torch * FULL_CROPS + c2st_pass * FULL_CROPS + c2st_full
        stages[f"{filler}@{fill}"] = {"old_s": per_condition_old, "new_s": per_condition_new,
                                      "new_torch_s": per_condition_torch}
        table["old"] += FULL_REGIONS * per_condition_old
        table["new"] += FULL_REGIONS * per_condition_new
        table["new_torch"] += FULL_REGIONS * per_condition_torch
    clean = FULL_PAIR_IMAGES * (per(fillers["none"]["embed_sface_s"]) + per(profile["dlib_landmarks_s"])
                                + per(fillers["none"]["dlib_chips_s"] + fillers["none"]["dlib_descriptor_s"]))
    none = fillers["none"]
    clean_torch = clean + FULL_PAIR_IMAGES * per(none.get("dlib_torch_descriptor_1thread_s", none["dlib_descriptor_s"])
                                                 - none["dlib_descriptor_s"])
    table = {k: v + (clean_torch if k == "new_torch" else clean) + figures_s for k, v in table.items()}
    return {"per_condition_both_recognizers": stages, "clean_embeddings_s": clean, "figures_s": figures_s,
            "c2st_per_condition_s": c2st_full, "full_table_old_h": table["old"] / 3600,
            "full_table_new_h": table["new"] / 3600, "full_table_new_dlib_torch_h": table["new_torch"] / 3600,
            "conditions": FULL_REGIONS * len(conditions) * 2}


def old_condition(root, relatives, spec, filler, recognizers, lookups):
    """Today's loops: realism, then each recognizer, each reading, occluding and filling on its own."""
    from idinpaint.evaluation.cache import embed_condition, realism_condition

    realism_condition(root, relatives, spec, filler, progress=False)
    return [embed_condition(r, root, relatives, spec, filler, landmarks_of=lookups.get(r.name), progress=False)[0]
            for r in recognizers]


def new_condition(root, relatives, spec, filler, recognizers, lookups, threads=1):
    from idinpaint.evaluation.cache import embed_condition, realism_condition
    from idinpaint.evaluation.condition import condition_pass

    condition_pass(root, relatives, spec, filler, recognizers, landmarks_of=lookups, progress=False, threads=threads)
    realism_condition(root, relatives, spec, filler, progress=False)
    return [embed_condition(r, root, relatives, spec, filler, progress=False)[0] for r in recognizers]


def ratio(args, root, relatives, cache: Path) -> dict:
    import shutil

    from idinpaint.evaluation.clean import clean_landmarks_lookup
    from idinpaint.evaluation.embeddings import cache_file
    from idinpaint.fillers import get_filler
    from idinpaint.recognizers import DLIB_RECOGNIZERS, get_recognizer

    spec = f"region:{args.region}@black"
    filler = get_filler(args.ratio_filler)
    # both paths as the CLI builds them: dlib's ResNet in --workers processes (its default: one per core),
    # each path with its own pool, started and warmed before anything is timed
    names = {"old": args.recognizers, "new": args.ratio_new_recognizers or args.recognizers}
    built = {path: [get_recognizer(name, workers=args.workers) if name in DLIB_RECOGNIZERS else get_recognizer(name)
                    for name in names[path]] for path in ("old", "new")}
    warm = np.zeros((8, 112, 112, 3), np.uint8)
    for models in built.values():
        for model in models:
            model.embed(warm)
    recognizers = built["old"]
    # dlib's clean-crop landmarks: found once for the whole table, so computed here once and given to every run
    os.environ["IDINPAINT_CACHE"] = str(cache / "landmarks")
    for r in recognizers:
        lookup = clean_landmarks_lookup(r, root)
        if lookup is not None:
            lookup(relatives)
    landmarks_file = cache_file("dlib-landmarks", root)
    times = {"old": [], "new": []}
    outputs = {}
    for rep in range(args.repeats):
        for path in ("old", "new"):
            folder = cache / f"ratio_{path}_{rep}"
            os.environ["IDINPAINT_CACHE"] = str(folder)
            if landmarks_file.is_file():
                target = cache_file("dlib-landmarks", root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(landmarks_file, target)
            lookups = {r.name: clean_landmarks_lookup(r, root) for r in built[path]}
            lookups = {k: v for k, v in lookups.items() if v is not None}
            run = old_condition if path == "old" else functools.partial(new_condition, threads=args.ratio_threads)
            vectors, seconds = timed(run, root, relatives, spec, filler, built[path], lookups)
            times[path].append(seconds)
            outputs.setdefault(path, vectors)
            print(f"repeat {rep} {path}: {seconds:.1f} s", flush=True)
    identical = all(np.array_equal(a, b) for a, b in zip(outputs["old"], outputs["new"]))
    differences = {f"{o}->{n}": float(np.abs(a - b).max()) for o, n, a, b in
                   zip(names["old"], names["new"], outputs["old"], outputs["new"])}
    ratios = [n / o for o, n in zip(times["old"], times["new"])]
    for models in built.values():
        for model in models:
            getattr(model, "close", lambda: None)()
    return {"filler": args.ratio_filler, "recognizers": names["old"], "new_recognizers": names["new"],
            "crops": len(relatives), "max_abs_difference": differences,
            "dlib_workers": args.workers, "new_path_threads": args.ratio_threads,
            "repeats": args.repeats, "old_s": times["old"], "new_s": times["new"], "new_over_old": ratios,
            "median_new_over_old": statistics.median(ratios), "identical_vectors": identical}


def cluster_speedup(args, root, pairs, cache: Path) -> dict:
    from distributed import Client, LocalCluster

    from idinpaint.evaluation.protocol import evaluate_conditions
    from idinpaint.recognizers import DLIB_RECOGNIZERS, get_recognizer

    spec = f"region:{args.region}@black"
    fillers = args.cluster_fillers
    times = {"serial": [], "cluster": []}
    rows = {}
    for rep in range(args.repeats_cluster):
        for path in ("serial", "cluster"):
            os.environ["IDINPAINT_CACHE"] = str(cache / f"cluster_{path}_{rep}")
            start = time.perf_counter()
            if path == "serial":  # as the CLI runs it: dlib's ResNet in --workers processes beside this one
                models = [get_recognizer(name, workers=args.workers) if name in DLIB_RECOGNIZERS else get_recognizer(name)
                          for name in args.recognizers]
                results = evaluate_conditions(models, [spec], fillers, root, pairs=pairs, progress=False,
                                              c2st=False, threads=1)
                for model in models:
                    getattr(model, "close", lambda: None)()
            else:
                with LocalCluster(n_workers=args.workers, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as local, Client(local) as client:
                    results = evaluate_conditions(args.recognizers, [spec], fillers, root, pairs=pairs,
                                                  progress=False, c2st=False, cluster=client)
            times[path].append(time.perf_counter() - start)
            rows.setdefault(path, [{k: v for k, v in r.items() if k not in ("seconds", "embedded")}
                                   for r in results])
            print(f"repeat {rep} {path}: {times[path][-1]:.1f} s", flush=True)
    same = json.dumps(rows["serial"], default=str) == json.dumps(rows["cluster"], default=str)
    speedups = [s / c for s, c in zip(times["serial"], times["cluster"])]
    return {"workers": args.workers, "fillers": fillers, "recognizers": args.recognizers, "pairs": len(pairs),
            "serial_s": times["serial"], "cluster_s": times["cluster"], "speedup": speedups,
            "median_speedup": statistics.median(speedups), "identical_rows": same,
            "note": "cluster time includes starting the local cluster and loading the models in each worker"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--region", default="two_eyes")
    parser.add_argument("--folds", nargs="*", type=int, default=[1])
    parser.add_argument("--crops", type=int, default=128, help="unique second images profiled (0: all in the folds)")
    parser.add_argument("--fillers", nargs="+", default=list(FULL_FILLERS))
    parser.add_argument("--recognizers", nargs="+", default=["sface", "dlib"])
    parser.add_argument("--no-c2st", dest="c2st", action="store_false")
    parser.add_argument("--ratio-filler", default="telea")
    parser.add_argument("--ratio-crops", type=int, default=64)
    parser.add_argument("--ratio-threads", type=int, default=1, help="torch / OpenCV threads of the new path's pass")
    parser.add_argument("--ratio-new-recognizers", nargs="+", default=None,
                        help="the new path's recognizers, one for each of --recognizers (default: the same), "
                             "e.g. sface dlib_torch: dlib's ResNet computed by torch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cluster-pairs", type=int, default=60)
    parser.add_argument("--cluster-fillers", nargs="+", default=["none", "telea", "mean_face"])
    parser.add_argument("--repeats-cluster", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--parts", nargs="+", default=["stages", "ratio", "cluster"])
    parser.add_argument("--note", default="", help="what else ran on the machine")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "protocol_cpu.json"))
    args = parser.parse_args(argv)

    from idinpaint.data.lfw import default_aligned_root, load_pairs
    from idinpaint.evaluation.protocol import PairSet

    root = default_aligned_root()
    all_pairs = load_pairs()
    pairs = [p for p in all_pairs if p.fold + 1 in set(args.folds)]
    relatives = PairSet.of(pairs).unique_second
    relatives = relatives[:args.crops] if args.crops else relatives
    out = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                       "load_average_start": os.getloadavg()},
           "settings": {k: v for k, v in vars(args).items() if k != "output"}}
    with tempfile.TemporaryDirectory(prefix="bench_protocol_") as tmp:
        cache = Path(tmp)
        if "stages" in args.parts:
            out["stages"] = stage_profile(args, root, pairs, relatives, all_pairs, cache)
            from idinpaint.evaluation.protocol import evaluate_conditions

            os.environ["IDINPAINT_CACHE"] = str(cache / "figures_run")
            few = [p for p in pairs if p.same][:10] + [p for p in pairs if not p.same][:10]
            results = evaluate_conditions(["sface"], [f"region:{args.region}@black"], ["none"], root, pairs=few,
                                          progress=False, c2st=False)
            try:
                from idinpaint.figures import occluded_report_figures  # the figures' stack, timed on its own

                _, figures_s = timed(occluded_report_figures, results, "sface", "", cache / "figures")
            except Exception as err:  # a figure that fails must not lose the stages measured above
                figures_s, out["stages"]["figures_error"] = 0.0, f"{type(err).__name__}: {err}"
            out["stages"]["figures_s"] = figures_s
            out["full_table_estimate"] = extrapolate(out["stages"], figures_s)
            print(json.dumps(out["full_table_estimate"], indent=1), flush=True)
        if "ratio" in args.parts:
            out["old_vs_new"] = ratio(args, root, relatives[:args.ratio_crops], cache)
            print(json.dumps(out["old_vs_new"], indent=1), flush=True)
        if "cluster" in args.parts:
            in_folds = [p for p in pairs if p.same][:args.cluster_pairs // 2] + \
                       [p for p in pairs if not p.same][:args.cluster_pairs // 2]
            out["local_cluster"] = cluster_speedup(args, root, in_folds, cache)
            print(json.dumps(out["local_cluster"], indent=1), flush=True)
    out["machine"]["load_average_end"] = os.getloadavg()
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():  # parts measured by an earlier run stay; this run's parts replace theirs
        earlier = json.loads(path.read_text())
        out = {**earlier, **out, "machine": {**earlier.get("machine", {}), **{f"{k}_{'_'.join(args.parts)}": v
                                                                              for k, v in out["machine"].items()}},
               "settings": {**earlier.get("settings", {}), **{f"{'_'.join(args.parts)}": out["settings"]}}}
    tmp_path = path.with_suffix(".json.tmp")
    tmp_path.write_text(json.dumps(out, indent=1, default=float))
    tmp_path.replace(path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
