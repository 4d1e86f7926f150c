"""O-Detector segmentation throughput: crops/s, batched, on CPU (the target: >= 200 crops/s on 2 cores).

Run on an otherwise idle machine (timings lie when two heavy jobs share the cores):
    .venv/bin/python benchmarks/bench_detector.py [--checkpoint checkpoints/odetector_cpu_halfA.pt]
        [--crops 512] [--batch-sizes 32 64 128 256] [--threads 2] [--repeats 3]
Without a checkpoint it times an untrained network of the cpu profile's architecture (same speed).
Writes benchmarks/results/detector_cpu.json and prints a markdown table: the network alone
(probabilities) and the full mask (threshold, speck removal, dilation) per batch size, best of
``--repeats``; composite generation (what training spends beside the network) is timed too.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from idinpaint.data.aligned import read_faces
from idinpaint.data.lfw import default_aligned_root
from idinpaint.data.registry import list_images
from idinpaint.config import load_training_config
from idinpaint.detection import Detector, load_detector
from idinpaint.models import count_parameters, get_model
from idinpaint.occlusion.composites import CompositeSampler
from idinpaint.runinfo import provenance, write_json

RESULTS = Path(__file__).resolve().parent / "results"


def _best(seconds_of, repeats: int) -> float:
    return min(seconds_of() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="an O-Detector file (default: an untrained cpu-profile net)")
    parser.add_argument("--crops", type=int, default=512)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--composites", type=int, default=256, help="composites to time (training-data cost)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    root = default_aligned_root()
    files = [str(p) for p in list_images(root, has_subdirs=True)[: args.crops]]
    crops = read_faces(root, files)
    if args.checkpoint:
        detector = load_detector(args.checkpoint)
        model_config = detector.meta["models"]["detector"]
    else:
        model_config = load_training_config(recipe="detector_cpu")["detector"]["network"]
        detector = Detector(get_model("detector", **model_config).eval(), {"mask": {}})
    parameters = count_parameters(get_model("detector", **model_config))
    rows = []
    for batch_size in args.batch_sizes:
        detector.batch_size = batch_size
        detector.probabilities(crops[:batch_size])  # warm-up (oneDNN picks its kernels)

        def timed(fn):
            def run():
                started = time.perf_counter()
                fn(crops)
                return time.perf_counter() - started
            return run

        network = _best(timed(detector.probabilities), args.repeats)
        full = _best(timed(detector.masks), args.repeats)
        rows.append({"batch_size": batch_size, "crops": len(crops),
                     "network_crops_per_s": round(len(crops) / network, 1),
                     "mask_crops_per_s": round(len(crops) / full, 1)})
    sampler = CompositeSampler()
    rng = np.random.default_rng(0)
    faces = crops[: min(len(crops), args.composites)]
    started = time.perf_counter()
    sampler.batch(faces, rng)
    composite_rate = len(faces) / (time.perf_counter() - started)
    payload = {**provenance({"checkpoint": args.checkpoint, "model": model_config, "threads": args.threads,
                             "crops": len(crops)}),
               "parameters": parameters, "rows": rows, "composites_per_s": round(composite_rate, 1)}
    path = write_json(RESULTS / "detector_cpu.json", payload)
    print(f"O-Detector {model_config} ({parameters:,} parameters), {args.threads} threads, {len(crops)} crops\n")
    print("| batch | network crops/s | mask (threshold + cleanup) crops/s |\n|---:|---:|---:|")
    for row in rows:
        print(f"| {row['batch_size']} | {row['network_crops_per_s']} | {row['mask_crops_per_s']} |")
    print(f"\ntraining composites: {composite_rate:.0f} /s (one process); written to {path}")


if __name__ == "__main__":
    main()
