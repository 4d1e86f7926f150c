"""Where a ``ca_id`` batch spends its time on the CPU: torch.profiler over the labelled parts.

Run on an otherwise idle machine (timings lie when two heavy jobs share the cores):
    .venv/bin/python benchmarks/profile_inpainter.py [--batch 64] [--kind ca_id|ca] [--threads N]
        [--checkpoint checkpoints/idinpainter_cpu_halfA.pt] [--region two_eyes] [--blend alpha]
        [--channels-last] [--inference-mode] [--repeats 3] [--output NAME] [--trace trace.json]

One batch of real LFW crops (``data/lfw-112``, the first ``--batch`` in sorted order) with the
region's hole goes through ``CheckpointFiller.fill`` (network + blend, the CA memo off) once to warm
up, then ``--repeats`` times under ``torch.profiler``. The parts are the ``record_function`` labels
of the code: ``predict.to_tensor``, ``ca.coarse``, ``ca.refine``, ``ca.contextual_attention``,
``sampler.sface``, ``fusor.attribute_encoder``, ``fusor.aif_generator``, ``predict.to_uint8`` and
``blend``; "other" is the rest of the call (Python, the memo's hashing, compositing). Each part's
time is its wall time on the calling thread (intra-op threads included), per batch. The same
batch is also timed without the profiler (images/s, the number to compare with
``bench_method.py``), and the top aten ops by self time say what each part is made of.

Writes benchmarks/results/<output>.json and .md (default ``profile_inpainter``) and prints the table.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from idinpaint.runinfo import provenance, write_json, write_text

RESULTS = Path(__file__).resolve().parent / "results"
PARTS = ["predict.to_tensor", "ca.coarse", "ca.refine", "ca.contextual_attention", "sampler.sface",
         "fusor.attribute_encoder", "fusor.aif_generator", "predict.to_uint8", "blend"]
TOTAL = "fill (total)"


def real_crops(count: int, root=None) -> np.ndarray:
    from idinpaint.data.aligned import read_faces
    from idinpaint.data.lfw import default_aligned_root
    from idinpaint.data.registry import list_images

    root = Path(root or default_aligned_root())
    files = [str(p) for p in list_images(root, has_subdirs=True)[:count]]
    if len(files) < count:
        raise SystemExit(f"{root}: {len(files)} aligned crops, {count} needed (run `make lfw-clean`)")
    return read_faces(root, files)


def profile(filler, images: np.ndarray, masks: np.ndarray, repeats: int, trace: str | None = None) -> dict:
    from torch.profiler import ProfilerActivity, record_function

    filler.fill(images, masks)  # warm-up: SFace conversion, allocator, oneDNN primitive caches
    started = time.perf_counter()
    for _ in range(repeats):
        filler.fill(images, masks)
    unprofiled = (time.perf_counter() - started) / repeats
    with torch.profiler.profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            with record_function(TOTAL):
                filler.fill(images, masks)
    if trace:
        prof.export_chrome_trace(trace)
    events = {e.key: e for e in prof.key_averages()}
    ms = {key: events[key].cpu_time_total / 1000 / repeats for key in [TOTAL, *PARTS] if key in events}
    total = ms.pop(TOTAL)
    parts = [{"part": key, "ms": round(ms[key], 2), "percent": round(100 * ms[key] / total, 1)}
             for key in PARTS if key in ms]
    other = total - sum(ms.values())
    parts.append({"part": "other", "ms": round(other, 2), "percent": round(100 * other / total, 1)})
    ops = sorted((e for e in prof.key_averages() if e.key.startswith("aten::")),
                 key=lambda e: e.self_cpu_time_total, reverse=True)[:15]
    top = [{"op": e.key, "self_ms": round(e.self_cpu_time_total / 1000 / repeats, 2), "calls": e.count // repeats,
            "percent": round(100 * e.self_cpu_time_total / 1000 / repeats / total, 1)} for e in ops]
    return {"total_ms_profiled": round(total, 2), "total_ms_unprofiled": round(unprofiled * 1000, 2),
            "images_per_s_unprofiled": round(len(images) / unprofiled, 2), "parts": parts, "top_ops": top}


def markdown(payload: dict) -> str:
    c, r = payload["config"], payload["result"]
    machine = payload["machine"]
    lines = [f"# Profile of one `{c['kind']}` batch ({c['batch']} crops, {c['region']} hole, blend {c['blend']})", "",
             f"Machine: {machine.get('platform')}, {machine.get('cpus')} CPUs; "
             f"torch {payload['versions'].get('torch')}, "
             f"{c['threads']} torch threads; channels_last {c['channels_last']}, inference_mode {c['inference_mode']}; "
             f"{c['repeats']} profiled repeats after one warm-up. Checkpoint `{c['checkpoint']}`.", "",
             f"Unprofiled: **{r['total_ms_unprofiled']:.0f} ms per batch = {r['images_per_s_unprofiled']} images/s** "
             f"(network + blend); under the profiler {r['total_ms_profiled']:.0f} ms.", "",
             "| part | ms per batch | % of the call |", "|---|---:|---:|"]
    lines += [f"| {p['part']} | {p['ms']:.1f} | {p['percent']:.1f} |" for p in r["parts"]]
    lines += ["", "Top aten ops by self time (all parts together):", "",
              "| op | self ms per batch | calls per batch | % |", "|---|---:|---:|---:|"]
    lines += [f"| {o['op']} | {o['self_ms']:.1f} | {o['calls']} | {o['percent']:.1f} |" for o in r["top_ops"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="checkpoints/idinpainter_cpu_halfA.pt")
    parser.add_argument("--kind", choices=("ca_id", "ca"), default="ca_id", help="ca: the CA inside the file only")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--region", default="two_eyes")
    parser.add_argument("--blend", default="alpha")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--inference-mode", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--aligned", default=None, help="aligned crops (default data/lfw-112)")
    parser.add_argument("--output", default="profile_inpainter", help="stem of the result files in benchmarks/results/")
    parser.add_argument("--trace", default=None, help="also write a Chrome trace (chrome://tracing, Perfetto)")
    args = parser.parse_args()

    from idinpaint.fillers.learned import CheckpointFiller
    from idinpaint.occlusion import region_mask

    if args.threads:
        torch.set_num_threads(args.threads)
    images = real_crops(args.batch, args.aligned)
    masks = np.broadcast_to(region_mask(args.region), images.shape[:3]).copy()
    filler = CheckpointFiller(args.checkpoint, kind=args.kind, ca_only=args.kind == "ca", device="cpu",
                              blend=args.blend, batch_size=args.batch, backend="torch", share_ca=False)
    filler.inpainter.tune(channels_last=args.channels_last, inference_mode=args.inference_mode)
    result = profile(filler, images, masks, args.repeats, args.trace)
    config = {"checkpoint": args.checkpoint, "kind": args.kind, "batch": args.batch, "region": args.region,
              "blend": args.blend, "threads": torch.get_num_threads(), "channels_last": args.channels_last,
              "inference_mode": args.inference_mode, "repeats": args.repeats}
    payload = {**provenance(config), "result": result}
    path = write_json(RESULTS / f"{args.output}.json", payload)
    text = markdown(payload)
    write_text(RESULTS / f"{args.output}.md", text)
    print(text)
    print(f"written to {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
