"""Fill throughput per filler: images/s to fill the hole of real LFW crops (two_eyes, black).

Run on an otherwise idle machine (timings lie when two heavy jobs share the cores):
    .venv/bin/python benchmarks/bench_fillers.py [--images 512] [--region two_eyes]
Writes benchmarks/results/fillers_cpu.json and prints a markdown table. ``ca`` / ``ca_id`` use the
shipped LFW-half checkpoints (network + Poisson blend, batch 32).
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
from idinpaint.fillers import fit_mean_face, get_filler
from idinpaint.occlusion import occlude, region_mask
from idinpaint.runinfo import provenance, write_json

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--region", default="two_eyes")
    args = parser.parse_args()

    root = default_aligned_root()
    files = [str(p) for p in list_images(root, has_subdirs=True)[: args.images]]
    faces = read_faces(root, files)
    mask = region_mask(args.region, faces.shape[1])
    masks = np.repeat(mask[None], len(faces), axis=0)
    occluded = np.stack([occlude(face, mask, "black") for face in faces])
    fillers = {"none": get_filler("none"), "telea": get_filler("telea"), "ns": get_filler("ns"),
               "mean_face": fit_mean_face(root)}
    for kind in ("ca", "ca_id"):
        fillers[kind] = get_filler(kind, default_half="A")
    rows = []
    for name, filler in fillers.items():
        filler.fill(occluded[:4], masks[:4])  # warm-up (model loading, SFace conversion)
        started = time.perf_counter()
        filler.fill(occluded, masks)
        seconds = time.perf_counter() - started
        rows.append({"filler": name, "images": len(faces), "seconds": round(seconds, 3),
                     "images_per_s": round(len(faces) / seconds, 1)})
    payload = {**provenance({"images": len(faces), "region": args.region}), "rows": rows,
               "torch_threads": torch.get_num_threads()}
    path = write_json(RESULTS / "fillers_cpu.json", payload)
    print(f"| filler | images/s ({args.region}, black, {len(faces)} crops) |\n|---|---|")
    for row in rows:
        print(f"| {row['filler']} | {row['images_per_s']} |")
    print(f"\ntorch threads {torch.get_num_threads()}; written to {path}")


if __name__ == "__main__":
    main()
