"""ID-Inpainter throughput: training images/s per stage, inpainting images/s at batch 1 and 64, peak memory.

Run on an otherwise idle machine (timings lie when two heavy jobs share the cores):
    .venv/bin/python benchmarks/bench_method.py [--profile cpu] [--steps 40] [--device cpu|cuda]
        [--checkpoint checkpoints/idinpainter_cpu_halfA.pt] [--set KEY=VALUE ...]

Training: every stage of the profile runs ``--steps`` batches through ``run_training`` (the real
Lightning loop, data loading and mask sampling included) in a temporary folder; images/s is the
stage's own speed meter (warm-up batches excluded). Inpainting: the checkpoint's networks on real
LFW crops with training-style masks, network only and with Poisson blending.
Writes benchmarks/results/method_<profile>_<device>.json and prints a markdown table.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from idinpaint.config import parse_overrides
from idinpaint.runinfo import provenance, write_json
from idinpaint.training.stages import DEFAULT_CONFIG, deep_merge, load_training_config, run_training

RESULTS = Path(__file__).resolve().parent / "results"


def peak_memory_mib(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the process's peak RSS


def bench_training(profile: str, steps: int, device: str, overrides: dict) -> list[dict]:
    config = load_training_config(DEFAULT_CONFIG, profile, overrides)
    accelerator = "gpu" if device.startswith("cuda") else "cpu"
    short = deep_merge(overrides, {"trainer": {"accelerator": accelerator, "val_every_n_steps": None,
                                           "limit_val_batches": 1, "checkpoint_every": 10 ** 6,
                                           "speed_warmup": min(5, steps // 4)}})
    short["stages"] = [{k: v for k, v in s.items() if k not in ("steps", "epochs")} | {"steps": steps}
                       for s in config["stages"]]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_train_") as work:
        summary = run_training(DEFAULT_CONFIG, profile, output=work, overrides=short, log=lambda *_: None)
        for stage in summary["stages"]:
            rows.append({"what": f"train {stage['stage']} ({stage['model']}, {profile} profile)",
                         "setting": f"batch {stage['batch_size']}, {accelerator}",
                         "images_per_s": stage["images_per_second"]})
        if device.startswith("cuda"):
            rows.append({"what": "train, peak GPU memory (MiB)", "setting": profile,
                         "value": round(peak_memory_mib(device), 1)})
    return rows


def bench_inpainting(checkpoint: str, device: str, images: int = 256) -> list[dict]:
    from idinpaint.evaluation.embeddings import read_faces
    from idinpaint.evaluation.lfw import default_aligned_root
    from idinpaint.data.registry import list_images
    from idinpaint.inpaint import CheckpointFiller
    from idinpaint.training.masks import MaskSampler

    root = default_aligned_root()
    files = [str(p) for p in list_images(root, has_subdirs=True)[:images]]
    faces = read_faces(root, files)
    sampler, rng = MaskSampler(), np.random.default_rng(0)
    masks = np.stack([sampler.sample(rng)[0] for _ in faces]).astype(bool)
    rows = []
    filler = CheckpointFiller(checkpoint, kind=None, device=device)
    filler.inpainter.predict(faces[:4], masks[:4], batch_size=4)  # warm-up (SFace conversion, allocator)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for batch in (1, 64):
        count = 64 if batch == 1 else len(faces)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        filler.inpainter.predict(faces[:count], masks[:count], batch_size=batch)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        rows.append({"what": f"inpaint {filler.name} (network)", "setting": f"batch {batch}, {device}",
                     "images_per_s": round(count / (time.perf_counter() - started), 2)})
    filler.batch_size = 64
    started = time.perf_counter()
    filler.fill(faces, masks)
    rows.append({"what": f"inpaint {filler.name} (network + Poisson blend)", "setting": f"batch 64, {device}",
                 "images_per_s": round(len(faces) / (time.perf_counter() - started), 2)})
    rows.append({"what": "inpaint, peak memory (MiB)", "setting": "GPU allocated" if device.startswith("cuda") else "process RSS",
                 "value": round(peak_memory_mib(device), 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=40, help="training batches per stage")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--checkpoint", default=None, help="an exported inpainter (skip inpainting when absent)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="training config overrides")
    parser.add_argument("--output", default=None, help="result JSON (default benchmarks/results/method_<profile>_<device>.json)")
    args = parser.parse_args()

    overrides = parse_overrides(args.set)
    rows = bench_training(args.profile, args.steps, args.device, overrides)
    if args.checkpoint:
        rows += bench_inpainting(args.checkpoint, args.device)
    payload = {**provenance({"profile": args.profile, "steps": args.steps, "device": args.device,
                             "overrides": overrides, "checkpoint": args.checkpoint}),
               "rows": rows, "torch_threads": torch.get_num_threads()}
    if args.device.startswith("cuda"):
        payload["gpu"] = torch.cuda.get_device_name()
    path = write_json(Path(args.output) if args.output else RESULTS / f"method_{args.profile}_{args.device.split(':')[0]}.json",
                      payload)
    print("| what | setting | images/s or value |\n|---|---|---|")
    for row in rows:
        print(f"| {row['what']} | {row['setting']} | {row.get('images_per_s', row.get('value'))} |")
    print(f"\ntorch threads {torch.get_num_threads()}; written to {path}")


if __name__ == "__main__":
    main()
