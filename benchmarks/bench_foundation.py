"""Foundation throughput: alignment images/s and embedding images/s per recogniser.

Run on an otherwise idle machine (timings lie when two heavy jobs share the cores):
    .venv/bin/python benchmarks/bench_foundation.py [--images 400] [--device cpu|cuda]
Writes benchmarks/results/foundation_<device>.json and prints a markdown table.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from idinpaint.data.aligned import aligned_name, read_faces
from idinpaint.data.registry import dataset_root, list_images
from idinpaint.preprocess import preprocess_folder
from idinpaint.recognizers import get_recognizer
from idinpaint.runinfo import provenance, write_json

RESULTS = Path(__file__).resolve().parent / "results"


def timed(function, repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    raw = dataset_root("lfw") / "raw"
    files = [str(p) for p in list_images(raw, has_subdirs=True)[: args.images]]
    rows = []
    work = Path(tempfile.mkdtemp(prefix="bench_align_"))
    try:
        for workers in (1, 2):
            target = work / f"w{workers}"
            seconds = timed(lambda: preprocess_folder(raw, target, files=files, workers=workers, progress=False))
            rows.append({"stage": "align (YuNet + warp)", "setting": f"{workers} worker(s)",
                         "images_per_s": len(files) / seconds})
        faces = read_faces(work / "w1", [aligned_name(f) for f in files])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    sface = get_recognizer("sface", device=args.device)
    sface.embed(faces[:8])  # warm-up (conversion cache, allocator)
    faces = faces[:512]
    for batch in (1, 16, 64):
        count = 64 if batch == 1 else len(faces)
        seconds = timed(lambda: sface.embed(faces[:count], batch_size=batch), repeats=2)
        rows.append({"stage": f"embed sface ({args.device})", "setting": f"batch {batch}", "images_per_s": count / seconds})
    dlib = get_recognizer("dlib")
    count = 128
    seconds = timed(lambda: dlib.embed(faces[:count], batch_size=64))
    rows.append({"stage": "embed dlib (cpu, landmarks + chip + ResNet)", "setting": "batch 64",
                 "images_per_s": count / seconds})
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    payload = {**provenance({"images": len(files), "device": args.device}), "rows": rows,
               "peak_rss_mib": round(peak_mib, 1)}
    path = write_json(RESULTS / f"foundation_{args.device}.json", payload)
    print("| stage | setting | images/s |\n|---|---|---|")
    for row in rows:
        print(f"| {row['stage']} | {row['setting']} | {row['images_per_s']:.1f} |")
    print(f"\npeak RSS {peak_mib:.0f} MiB, torch threads {torch.get_num_threads()}; written to {path}")


if __name__ == "__main__":
    np.random.seed(0)
    main()
