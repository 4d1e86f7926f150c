"""A wrong path, option or key is found before the heavy imports: each bad input below ends in one
``error:`` line without torch (nor OpenCV, dlib, scikit-learn, matplotlib, Lightning) ever being
imported, so the line comes in well under 2 s. Untimed: ``benchmarks/bench_errors.py`` measures the
time on the same first five inputs."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: What an error must not wait for (several seconds each on a loaded 2-core machine).
HEAVY = ("torch", "torchvision", "cv2", "dlib", "_dlib_pybind11", "sklearn", "scipy", "matplotlib",
         "pytorch_lightning", "lightning", "onnxruntime")
#: Calls main() with the argv given, then reports its exit status and the heavy modules it imported.
PROBE = """
import json, sys
from idinpaint.cli import main
try:
    code = main(json.loads(sys.argv[1]))
except SystemExit as exited:  # argparse's own usage errors
    code = exited.code
print(json.dumps({"code": code, "heavy": [name for name in json.loads(sys.argv[2]) if name in sys.modules]}))
"""


def _benchmark():
    spec = importlib.util.spec_from_file_location("bench_errors", REPO / "benchmarks" / "bench_errors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cases(folder: Path) -> list[tuple[str, list[str], tuple[str, ...]]]:
    """(name, argv, heavy modules it may import): the benchmark's five, then more of the same kind.
    Only a choice read from a registry (regions, fillers) or an unusual image suffix may load OpenCV."""
    registry = {"evaluate occluded: unknown region": ("cv2",)}
    cases = [(name, argv, registry.get(name, ())) for name, argv in _benchmark().bad_inputs(folder)]
    (folder / "empty").mkdir()
    photo = str(folder / "photo.png")
    return cases + [
        ("recover: reference not found", ["recover", photo, "--reference", str(folder / "nobody.jpg"), "--output",
                                          str(folder / "out")], ()),
        ("recover: empty photo", ["recover", str(_empty(folder / "empty.jpg")), "--output", str(folder / "out")], ()),
        ("inpaint: checkpoint not found", ["inpaint", "--checkpoint", str(folder / "none.pt"), "--image", photo,
                                           "--mask", photo, "--output-file", str(folder / "o.png")], ()),
        ("inpaint: output under a file", ["inpaint", "--checkpoint", photo, "--image", photo, "--mask", photo,
                                          "--output-file", str(folder / "photo.png" / "o.png")], ()),
        ("train: unknown --set key", ["train", "--set", "data.batchsize=4", "--output", str(folder / "run")], ()),
        ("train: unknown stage", ["train", "--stage", "nosuch", "--output", str(folder / "run")], ()),
        ("detector train: unknown recipe", ["detector", "train", "--recipe", "nosuch", "--output",
                                             str(folder / "run")], ()),
        ("export: checkpoint not found", ["export", "--checkpoint", str(folder / "none.pt"), "--output-file",
                                          str(folder / "o.pt")], ()),
        ("evaluate lfw: no aligned crops", ["evaluate", "lfw", "--aligned", str(folder / "empty")], ()),
        ("evaluate occluded: no aligned crops", ["evaluate", "occluded", "--aligned", str(folder / "empty")], ()),
        ("preprocess: raw folder is a file", ["preprocess", "--raw", photo, "--aligned", str(folder / "a")], ()),
    ]


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict:
    """{name: (allowed heavy modules, exit status, heavy modules imported, stderr)} of every case."""
    folder = tmp_path_factory.mktemp("fast_errors")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    found = {}
    for name, argv, allowed in _cases(folder):
        done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(HEAVY)], env=env,
                              capture_output=True, text=True, timeout=120, cwd=folder)
        assert done.stdout.strip(), f"{name}: the probe printed nothing:\n{done.stderr[-2000:]}"
        report = json.loads(done.stdout.strip().splitlines()[-1])
        found[name] = (allowed, report["code"], report["heavy"], done.stderr)
    return found


def test_the_benchmark_times_five_bad_inputs(tmp_path):
    assert len(_benchmark().bad_inputs(tmp_path)) == 5


def test_each_bad_input_is_one_error_line_before_any_heavy_import(outcomes):
    wrong = []
    for name, (allowed, code, heavy, err) in outcomes.items():
        lines = [line for line in err.splitlines() if line.strip()]
        if code != 2 or len(lines) != 1 or not lines[0].startswith("error: "):
            wrong.append(f"{name}: exit {code}, stderr {err[-500:]!r}")
        elif set(heavy) - set(allowed):
            wrong.append(f"{name}: imported {', '.join(sorted(set(heavy) - set(allowed)))} before its error line")
    assert not wrong, "\n".join(wrong)


def test_no_bad_input_waits_for_torch(outcomes):
    assert not [name for name, (_, _, heavy, _) in outcomes.items() if "torch" in heavy]


def test_the_image_suffixes_checked_without_opencv_are_ones_opencv_writes():
    import cv2

    from idinpaint.paths import COMMON_IMAGE_SUFFIXES, can_write_image

    assert [s for s in COMMON_IMAGE_SUFFIXES if not cv2.haveImageWriter(f"x{s}")] == []
    assert can_write_image("out.PNG") and not can_write_image("out.xyz") and not can_write_image("out")
