"""ID-Inpainter throughput: training images/s per stage, inpainting images/s at batch 1 and 64, latency, peak memory.

Run on an otherwise idle machine (timings lie when two heavy jobs share the cores):
    .venv/bin/python benchmarks/bench_method.py [--profile cpu] [--steps 40] [--device cpu|cuda]
        [--checkpoint checkpoints/idinpainter_cpu_halfA.pt] [--set KEY=VALUE ...]
        [--backend torch|onnx] [--skip-training] [--threads N] [--channels-last] [--inference-mode]
        [--compile] [--region two_eyes] [--output FILE]

Training: every stage of the profile runs ``--steps`` batches through ``run_training`` (the real
Lightning loop, data loading and mask sampling included) in a temporary folder; images/s is the
stage's own speed meter (warm-up batches excluded). ``--skip-training`` leaves it out.

Inpainting (with ``--checkpoint``), on 256 real LFW crops with training-style masks (or one
``--region``'s hole), for ``ca`` (the CA inside the file) and ``ca_id``, each after a warm-up:
network only at batch 1 and 64 (``--batch-sizes``), network + blend (the filler's default, alpha) at batch 64, and the
two columns of one evaluation run (``ca_id`` then ``ca`` on the same crops: the CA runs once). Then
the batch-1 latency of a 250x250 LFW photo (the median of 20 after 3 warm-up runs): align + fill +
paste with the model loaded (``inpaint_photo``), and the whole ``inpaint_file`` (read, load the
checkpoint, align, fill, paste, write). ``--backend onnx`` runs the networks on onnxruntime (the
graphs are exported on first use, outside the timings); the torch-side options ``--threads``,
``--channels-last``, ``--inference-mode`` and ``--compile`` apply to the torch backend.

Writes benchmarks/results/method_<profile>_<device>[_<backend>][_<options>][_inpaint].json (``_inpaint``:
with ``--skip-training``) and prints a markdown table.
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


def _timed(call, repeats: int = 1) -> float:
    """Seconds per call (CUDA synchronised)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        call()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / repeats


def _filler(checkpoint: str, kind: str, device: str, backend: str, tune: dict, **kwargs):
    from idinpaint.fillers.learned import CheckpointFiller

    filler = CheckpointFiller(checkpoint, kind=kind, ca_only=kind == "ca", device=device, backend=backend, **kwargs)
    if backend == "torch" and any(tune.values()):
        filler.inpainter.tune(**tune)
    return filler


def bench_inpainting(checkpoint: str, device: str, backend: str = "torch", tune: dict | None = None,
                     region: str | None = None, images: int = 256, batch_sizes=(1, 64)) -> list[dict]:
    from idinpaint.data.aligned import read_faces
    from idinpaint.data.lfw import default_aligned_root
    from idinpaint.data.registry import list_images
    from idinpaint.fillers import learned
    from idinpaint.occlusion import region_mask
    from idinpaint.training.masks import MaskSampler

    tune = tune or {}
    root = default_aligned_root()
    files = [str(p) for p in list_images(root, has_subdirs=True)[:images]]
    faces = read_faces(root, files)
    if region:
        masks = np.broadcast_to(region_mask(region), faces.shape[:3]).copy()
    else:
        sampler, rng = MaskSampler(), np.random.default_rng(0)
        masks = np.stack([sampler.sample(rng)[0] for _ in faces]).astype(bool)
    setting = f"{device}, {backend}" + "".join(f", {k}" for k, v in tune.items() if v)
    rows = []
    for kind in ("ca", "ca_id"):
        filler = _filler(checkpoint, kind, device, backend, tune, share_ca=False)
        filler.runner.predict(faces[:64], masks[:64], batch_size=64)  # warm-up: SFace, allocator, compile, ORT
        filler.runner.predict(faces[:4], masks[:4], batch_size=1)
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        for batch in batch_sizes:
            count = min(64, len(faces)) if batch == 1 else len(faces)
            seconds = _timed(lambda: filler.runner.predict(faces[:count], masks[:count], batch_size=batch))
            rows.append({"what": f"inpaint {kind} (network)", "setting": f"batch {batch}, {setting}",
                         "images_per_s": round(count / seconds, 2)})
        filler.batch_size = 64
        seconds = _timed(lambda: filler.fill(faces, masks))
        rows.append({"what": f"inpaint {kind} (network + {filler.blend} blend)", "setting": f"batch 64, {setting}",
                     "images_per_s": round(len(faces) / seconds, 2)})
    # the ca and ca_id columns of one evaluation run: the CA fill is shared (learned.CA_MEMO)
    pair = [_filler(checkpoint, kind, device, backend, tune, batch_size=64) for kind in ("ca_id", "ca")]
    for filler in pair:
        filler.fill(faces[:64], masks[:64])  # warm-up (a compiled model compiles again)
    learned.CA_MEMO.clear()
    seconds = _timed(lambda: [f.fill(faces, masks) for f in pair])
    rows.append({"what": "inpaint ca_id + ca columns (one CA pass, + blend)", "setting": f"batch 64, {setting}",
                 "images_per_s": round(len(faces) / seconds, 2), "note": "crops per second, both columns done"})
    learned.CA_MEMO.clear()
    rows.append({"what": "inpaint, peak memory (MiB)", "setting": "GPU allocated" if device.startswith("cuda") else "process RSS",
                 "value": round(peak_memory_mib(device), 1)})
    return rows


def latency_photo(folder: Path):
    """A 250x250 LFW photo (raw, not aligned) and a PNG mask over its eyes (from YuNet's landmarks)."""
    import cv2

    from idinpaint.align import YuNetDetector
    from idinpaint.data.registry import dataset_root
    from idinpaint.imageio import read_rgb

    photo = dataset_root("lfw") / "raw" / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg"
    image = read_rgb(photo)
    face = YuNetDetector().detect(image)[0]
    eyes = face.landmarks[:2]
    (x1, y1), (x2, y2) = eyes.min(0), eyes.max(0)
    half = 0.35 * (x2 - x1)
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[int(y1 - half):int(y2 + half), int(x1 - half):int(x2 + half)] = 255
    mask_path = folder / "eyes_mask.png"
    cv2.imwrite(str(mask_path), mask)
    return photo, mask_path, image, mask > 0


def bench_latency(checkpoint: str, device: str, backend: str = "torch", tune: dict | None = None,
                  runs: int = 20) -> list[dict]:
    from idinpaint.align import YuNetDetector
    from idinpaint.inpaint import inpaint_file, inpaint_photo

    tune = tune or {}
    setting = f"batch 1, 250x250 photo, {device}, {backend}" + "".join(f", {k}" for k, v in tune.items() if v)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_latency_") as work:
        photo, mask_path, image, mask = latency_photo(Path(work))
        filler, detector = _filler(checkpoint, None, device, backend, tune), YuNetDetector()

        def photo_call():
            inpaint_photo(filler, image, mask, detector)

        def file_call():
            inpaint_file(checkpoint, photo, mask_path, Path(work) / "out.png", device=device, backend=backend)

        for what, call in (("inpaint_photo: align + fill + paste (model loaded)", photo_call),
                           ("inpaint_file: read, load checkpoint, align, fill, paste, write", file_call)):
            for _ in range(3):
                call()
            times = [_timed(call) * 1000 for _ in range(runs)]
            rows.append({"what": f"latency {filler.name}, {what}", "setting": setting,
                         "ms_median": round(float(np.median(times)), 1),
                         "ms_p90": round(float(np.percentile(times, 90)), 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=40, help="training batches per stage")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--checkpoint", default=None, help="an exported inpainter (skip inpainting when absent)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="training config overrides")
    parser.add_argument("--skip-training", action="store_true", help="inpainting and latency only")
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                        help="what runs the networks when inpainting (onnx: onnxruntime, CPU only)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads, also onnxruntime's intra-op threads (default: torch's own)")
    parser.add_argument("--channels-last", action="store_true", help="torch backend: NHWC convolutions")
    parser.add_argument("--inference-mode", action="store_true", help="torch backend: torch.inference_mode")
    parser.add_argument("--compile", action="store_true", help="torch backend: torch.compile the networks")
    parser.add_argument("--region", default=None, help="one region's hole (e.g. two_eyes) instead of training masks")
    parser.add_argument("--images", type=int, default=256, help="crops for the throughput rows")
    parser.add_argument("--batch-sizes", default="1,64",
                        help="mini-batch sizes of the network-only rows, comma-separated (e.g. 1,8,16,32,64)")
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--output", default=None,
                        help="result JSON (default: benchmarks/results/method_<profile>_<device>"
                             "[_<backend>][_<options>][_inpaint].json)")
    args = parser.parse_args()

    if args.backend == "onnx" and args.device.startswith("cuda"):
        parser.error("--backend onnx runs on the CPU (this onnxruntime has no GPU provider); pass --device cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    tune = {"channels_last": args.channels_last, "inference_mode": args.inference_mode, "compile": args.compile}
    overrides = parse_overrides(args.set)
    rows = [] if args.skip_training else bench_training(args.profile, args.steps, args.device, overrides)
    if args.checkpoint:
        rows += bench_inpainting(args.checkpoint, args.device, args.backend, tune, args.region, args.images,
                                 [int(b) for b in args.batch_sizes.split(",")])
        try:
            rows += bench_latency(args.checkpoint, args.device, args.backend, tune, args.latency_runs)
        except OSError as err:  # no raw LFW photo on this machine (DatasetError, FileNotFoundError)
            print(f"latency skipped: {err}")
    payload = {**provenance({"profile": args.profile, "steps": args.steps, "device": args.device,
                             "overrides": overrides, "checkpoint": args.checkpoint, "backend": args.backend,
                             "skip_training": args.skip_training, "region": args.region, "images": args.images,
                             **tune}),
               "rows": rows, "torch_threads": torch.get_num_threads()}
    if args.device.startswith("cuda"):
        payload["gpu"] = torch.cuda.get_device_name()
    suffix = "" if args.backend == "torch" else f"_{args.backend}"
    suffix += "".join(f"_{k}" for k, v in tune.items() if v)
    suffix += f"_t{args.threads}" if args.threads else ""
    suffix += "_inpaint" if args.skip_training else ""  # the full file (training rows too) stays as it was
    default = RESULTS / f"method_{args.profile}_{args.device.split(':')[0]}{suffix}.json"
    path = write_json(Path(args.output) if args.output else default, payload)
    print("| what | setting | images/s, ms or value |\n|---|---|---|")
    for row in rows:
        value = row.get("images_per_s", row.get("value"))
        if "ms_median" in row:
            value = f"{row['ms_median']} ms (p90 {row['ms_p90']})"
        print(f"| {row['what']} | {row['setting']} | {value} |")
    print(f"\ntorch threads {torch.get_num_threads()}; written to {path}")


if __name__ == "__main__":
    main()
