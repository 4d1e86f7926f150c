"""The ``reference`` filler's cost: milliseconds to fill one aligned crop from one or several
references of the same person (fit on the ring, colour match, exact Poisson blend), per region.

Run with as little else on the machine as possible (timings lie when two heavy jobs share the cores):
    .venv/bin/python benchmarks/bench_reference.py [--probes 64] [--repeats 3]
Writes benchmarks/results/reference_cpu.json (with the load average before and after) and prints a
markdown table. The probes and references are half A's validation faces (the track's rule).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from idinpaint.data.aligned import read_faces
from idinpaint.data.lfw import default_aligned_root
from idinpaint.evaluation.reference import HARDEST, validation_triplets
from idinpaint.fillers.reference import ReferenceFiller
from idinpaint.occlusion import occlude, region_mask
from idinpaint.runinfo import provenance, write_json

RESULTS = Path(__file__).resolve().parent / "results"
BUDGET_MS = 50.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    root = default_aligned_root()
    triplets = validation_triplets("A", aligned_root=root)
    probes = triplets.probes[: args.probes]
    faces = read_faces(root, probes)
    references = [read_faces(root, triplets.references[p]) for p in probes]
    load_before = os.getloadavg()
    rows = []
    for region in HARDEST:
        mask = region_mask(region)
        occluded = np.stack([occlude(face, mask, "black") for face in faces])
        for label, pick in (("one reference", lambda refs: refs[:1]), ("all references", lambda refs: refs)):
            filler = ReferenceFiller()
            filler.fill(occluded[0], mask, references=pick(references[0]))  # warm-up: the Poisson factorisation
            times = []
            for _ in range(args.repeats):
                for image, refs in zip(occluded, references):
                    started = time.perf_counter()
                    try:
                        filler.fill(image, mask, references=pick(refs))
                    except ValueError:  # refused: the fit ran, nothing was blended
                        pass
                    times.append(1000 * (time.perf_counter() - started))
            counts = [len(pick(refs)) for refs in references]
            rows.append({"region": region, "references": label, "mean_references": round(float(np.mean(counts)), 2),
                         "median_ms": round(float(np.median(times)), 2),
                         "p90_ms": round(float(np.percentile(times, 90)), 2), "fills": len(times)})
    payload = {**provenance({"probes": len(probes), "repeats": args.repeats, "budget_ms": BUDGET_MS}),
               "load_average_before": [round(v, 2) for v in load_before],
               "load_average_after": [round(v, 2) for v in os.getloadavg()], "rows": rows}
    path = write_json(RESULTS / "reference_cpu.json", payload)
    print("| region | references | mean count | median ms | p90 ms |\n|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['region']} | {row['references']} | {row['mean_references']} | {row['median_ms']} | {row['p90_ms']} |")
    print(f"\nload average {payload['load_average_before']} -> {payload['load_average_after']}; written to {path}")


if __name__ == "__main__":
    main()
