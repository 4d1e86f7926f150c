"""Does dlib's ResNet computed by torch (``dlib_torch``) score the rows dlib-bin (``dlib``) scores?

Runs the occluded-LFW protocol with both on the same pairs (default: fold 1, the hardest three
regions, the occluded face and Telea, no C2ST: the judge does not depend on the recognizer) and
writes, per condition, the largest difference of the pair cosines, of every float column of the
row, and whether the row is the same at the digits the tables print (accuracy and AUC in %, two
decimals; the similarity gap, four). Results in ``benchmarks/results/dlib_torch_parity.json``.

    python benchmarks/parity_dlib_torch.py --folds 1
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
HARDEST = ("two_eyes", "upper_face", "center_block")
#: the row's columns as the tables print them: (column, scale, decimals)
PRINTED = (("accuracy", 100, 2), ("auc", 100, 2), ("tar_far_1e-3", 100, 2), ("similarity_gap", 1, 4),
           ("recovery_ratio", 1, 2))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", nargs="*", type=int, default=[1])
    parser.add_argument("--regions", nargs="*", default=list(HARDEST), help="none: the clean row only")
    parser.add_argument("--fillers", nargs="+", default=["none", "telea"])
    parser.add_argument("--workers", type=int, default=1, help="dlib worker processes (both backends)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "dlib_torch_parity.json"))
    args = parser.parse_args(argv)

    from idinpaint.evaluation.protocol import evaluate_conditions
    from idinpaint.evaluation.results import condition_key
    from idinpaint.recognizers import get_recognizer
    from idinpaint.runinfo import write_json

    models = [get_recognizer("dlib", workers=args.workers), get_recognizer("dlib_torch", workers=args.workers)]
    start = time.perf_counter()
    results = evaluate_conditions(models, [f"region:{r}@black" for r in args.regions], args.fillers,
                                  folds=args.folds, progress=False, c2st=False, threads=args.threads)
    seconds = time.perf_counter() - start
    for model in models:
        model.close()
    rows = {(r["occlusion"], r["filler"]): {} for r in results}
    for r in results:
        rows[(r["occlusion"], r["filler"])][r["recognizer"]] = r
    conditions = []
    for (occlusion, filler), pair in rows.items():
        want, got = pair["dlib"], pair["dlib_torch"]
        a = results.scores[condition_key("dlib", occlusion, filler)]
        b = results.scores[condition_key("dlib_torch", occlusion, filler)]
        floats = {k: abs(float(got[k]) - float(v)) for k, v in want.items()
                  if isinstance(v, float) and k not in ("seconds",) and v == v}
        printed = {c: (round(float(want[c]) * s, d), round(float(got[c]) * s, d)) for c, s, d in PRINTED
                   if want[c] == want[c]}
        conditions.append({"occlusion": occlusion, "filler": filler, "pairs": int(want["pairs"]),
                           "max_abs_cosine_difference": float(np.abs(a - b).max()),
                           "max_abs_row_difference": max(floats.values()) if floats else 0.0,
                           "largest_row_difference_in": max(floats, key=floats.get) if floats else "",
                           "same_as_printed": all(x == y for x, y in printed.values()), "printed": printed})
        print(f"{occlusion} + {filler}: cosines within {conditions[-1]['max_abs_cosine_difference']:.1e}, "
              f"same as printed: {conditions[-1]['same_as_printed']}", flush=True)
    out = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]},
           "settings": vars(args) | {"output": None}, "seconds": seconds, "conditions": conditions,
           "all_same_as_printed": all(c["same_as_printed"] for c in conditions),
           "max_abs_cosine_difference": max(c["max_abs_cosine_difference"] for c in conditions)}
    print(f"wrote {write_json(Path(args.output), out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
