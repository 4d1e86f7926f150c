"""Time to a one-line error: how long ``idinpaint`` takes to say a path, option or key is wrong.

Each bad input runs as a fresh ``python -m idinpaint ...`` process (what a user waits for at the
prompt, interpreter start-up included), ``--runs`` times; the median is the number, with the load
average of the machine beside it (the commands check their input before importing torch, OpenCV and
the rest, so the time is mostly Python's own start-up and should stay well under 2 s):
    .venv/bin/python benchmarks/bench_errors.py [--runs 5] [--repo DIR]
``--repo`` times another checkout of the package (e.g. an older commit, for a before / after on the
same machine and load). Writes benchmarks/results/errors_cpu.json (or ``--output``) and prints a
markdown table. tests/test_fast_errors.py runs the same bad inputs (untimed) and checks that none
imports torch.
"""
from __future__ import annotations

import argparse
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
CHECKPOINT = REPO / "checkpoints" / "idinpainter_cpu_halfA.pt"


def _tiny_png(path: Path) -> Path:
    """A valid 1x1 gray PNG, written with the standard library only."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
                     + chunk(b"IEND", b""))
    return path


def bad_inputs(folder: Path) -> list[tuple[str, list[str]]]:
    """(name, argv after ``idinpaint``) of the five bad inputs, with the files they need made in
    ``folder``; each ends in one ``error:`` line and exit status 2."""
    folder = Path(folder)
    photo = _tiny_png(folder / "photo.png")
    return [
        ("recover: photo not found", ["recover", str(folder / "missing.jpg"), "--output", str(folder / "recover")]),
        ("inpaint: mask not found", ["inpaint", "--checkpoint", str(CHECKPOINT), "--image", str(photo), "--mask",
                                     str(folder / "missing_mask.png"), "--output-file", str(folder / "out.png")]),
        ("evaluate occluded: unknown region", ["evaluate", "occluded", "--regions", "nosuch"]),
        ("train: unknown recipe", ["train", "--recipe", "nosuch", "--output", str(folder / "run")]),
        ("preprocess: raw folder not found", ["preprocess", "--raw", str(folder / "nonexistent"), "--aligned",
                                              str(folder / "aligned")]),
    ]


def time_command(argv: list[str], repo: Path) -> tuple[float, int, str]:
    """(wall seconds, exit status, stderr) of one ``python -m idinpaint argv`` in a fresh process, run
    in ``repo`` (``-m`` imports the package of the working folder first)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "idinpaint", *argv], env=env, capture_output=True, text=True,
                          timeout=120, cwd=repo)
    return time.perf_counter() - started, done.returncode, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per bad input; the median is reported")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose package is timed")
    parser.add_argument("--label", default=None, help="what is timed, for the record (default: the repo's name)")
    parser.add_argument("--output", type=Path, default=RESULTS / "errors_cpu.json")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_errors_") as folder:
        startup = []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            startup.append(time.perf_counter() - started)
        for name, argv in bad_inputs(Path(folder)):
            load_before = os.getloadavg()
            runs, lines = [], set()
            for _ in range(args.runs):
                seconds, code, err = time_command(argv, args.repo)
                lines.add(err.strip().splitlines()[-1] if err.strip() else f"(no stderr, exit {code})")
                if code != 2 or len(err.strip().splitlines()) != 1:
                    raise SystemExit(f"{name}: expected one error line and exit 2, got exit {code}:\n{err}")
                runs.append(round(seconds, 3))
            load_after = os.getloadavg()
            rows.append({"input": name, "argv": ["idinpaint", *[Path(a).name if os.path.isabs(a) else a
                                                               for a in argv]],
                         "median_s": round(statistics.median(runs), 3), "min_s": min(runs), "max_s": max(runs),
                         "runs_s": runs, "error": sorted(lines)[0].replace(folder, "<tmp>"),
                         "load_1min_before": round(load_before[0], 2), "load_1min_after": round(load_after[0], 2)})
    startup_median = round(statistics.median(startup), 3)

    print(f"| bad input | median s ({args.runs} runs) | min–max s | load (1 min) |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['input']} | {row['median_s']:.2f} | {row['min_s']:.2f}–{row['max_s']:.2f} | "
              f"{row['load_1min_before']:.2f} → {row['load_1min_after']:.2f} |")
    print(f"(python start-up alone: {startup_median:.2f} s median)")

    from idinpaint.runinfo import provenance, write_json  # after the timings: provenance imports torch

    config = {"runs": args.runs, "timed": args.label or args.repo.name, "cpus": os.cpu_count(),
              "python_startup_median_s": startup_median}
    write_json(args.output, {**provenance(config), "rows": rows})
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
