"""The batch alignment job (the seed's ``preprocess112.py``): a folder of photos -> 112x112 crops.

* resumable: a crop counts as done when its PNG exists *and* its landmark row is in
  ``landmarks.csv``; crops are written atomically, so an interrupted run leaves no half file;
* robust: grayscale, RGBA, palette, 16-bit, EXIF-rotated images are converted; truncated, empty,
  non-image and no-face inputs are recorded in ``failures.csv`` (path, reason) — never a crash;
* parallel: ``workers`` processes, each with its own YuNet (OpenCV DNN objects are not shareable).
"""
from __future__ import annotations

import csv
import io
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from .align import CROP_SIZE, NoFaceError, YuNetDetector, align_face, apply_transform
from .data.registry import list_images
from .imageio import BadImageError, read_rgb, write_rgb
from .runinfo import provenance, write_json, write_text

LANDMARKS_FILE = "landmarks.csv"
FAILURES_FILE = "failures.csv"
MANIFEST_FILE = "preprocess.json"
LANDMARK_COLUMNS = ["path", "score", "box_x", "box_y", "box_w", "box_h"] + [
    f"{axis}{i}" for i in range(5) for axis in ("x", "y")]


def aligned_name(relative: str | Path) -> str:
    """Crops are PNG (lossless) whatever the source format."""
    return str(Path(relative).with_suffix(".png"))


@dataclass
class PreprocessReport:
    total: int = 0
    aligned: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"{self.total} images: {self.aligned} aligned, {self.skipped} already done, "
                f"{len(self.failures)} failed, {self.seconds:.1f} s")


_detector: YuNetDetector | None = None


def _init_worker():
    global _detector
    cv2.setNumThreads(1)  # parallelism comes from processes; threads inside would oversubscribe
    _detector = YuNetDetector()


def _align_one(task: tuple[str, str, str, int]):
    """Align one file. Returns ("ok", rel, row) or ("fail", rel, reason); never raises."""
    source, target, relative, size = task
    try:
        image = read_rgb(source)
        if min(image.shape[:2]) < 16:
            return "fail", relative, f"image too small ({image.shape[1]}x{image.shape[0]})"
        crop, detection, _ = align_face(image, _detector, size)
        write_rgb(target, crop)
        row = [relative, f"{detection.score:.4f}", *[f"{v:.2f}" for v in detection.box],
               *[f"{v:.2f}" for v in detection.landmarks.ravel()]]
        return "ok", relative, row
    except BadImageError as err:
        return "fail", relative, err.reason
    except NoFaceError as err:
        return "fail", relative, str(err)
    except Exception as err:  # a batch never dies on one file; the reason is recorded
        return "fail", relative, f"{type(err).__name__}: {err}"


def _ends_torn(handle) -> bool:
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    if size == 0:
        return False
    handle.seek(size - 1)
    last = handle.read(1)
    handle.seek(0, os.SEEK_END)
    return last != "\n"


def read_landmarks(output_dir) -> dict[str, np.ndarray]:
    """Source-image landmarks (5, 2) per relative source path; tolerates a torn last line."""
    path = Path(output_dir) / LANDMARKS_FILE
    found = {}
    if not path.is_file():
        return found
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            if len(row) != len(LANDMARK_COLUMNS) or row[0] == "path":
                continue
            try:
                found[row[0]] = np.array(row[6:], dtype=np.float64).reshape(5, 2)
            except ValueError:
                continue
    return found


def crop_landmarks(output_dir, relative: str) -> np.ndarray:
    """Where the 5 landmarks of a source image landed in its crop (should be near the template)."""
    from .align import ARCFACE_TEMPLATE, similarity_transform

    points = read_landmarks(output_dir)[relative]
    return apply_transform(similarity_transform(points, ARCFACE_TEMPLATE), points)


def preprocess_folder(root, output_dir, has_subdirs: bool | None = None, workers: int = 1,
                      size: int = CROP_SIZE, limit: int | None = None, files: list[str] | None = None,
                      progress: bool = True) -> PreprocessReport:
    """Align every image under ``root`` into ``output_dir`` (same relative paths, .png)."""
    started = time.time()
    root, output_dir = Path(root), Path(output_dir)
    relatives = [str(p) for p in list_images(root, has_subdirs)] if files is None else list(files)
    if limit is not None:
        relatives = relatives[:limit]
    output_dir.mkdir(parents=True, exist_ok=True)
    done = {rel for rel in read_landmarks(output_dir) if (output_dir / aligned_name(rel)).is_file()}
    todo = [rel for rel in relatives if rel not in done]
    report = PreprocessReport(total=len(relatives), skipped=len(relatives) - len(todo))
    tasks = [(str(root / rel), str(output_dir / aligned_name(rel)), rel, size) for rel in todo]

    landmarks_path = output_dir / LANDMARKS_FILE
    new_file = not landmarks_path.is_file() or landmarks_path.stat().st_size == 0
    with open(landmarks_path, "a+", newline="") as handle:
        writer = csv.writer(handle)
        if new_file:
            writer.writerow(LANDMARK_COLUMNS)
        elif _ends_torn(handle):
            handle.write("\r\n")  # a killed run left half a row: close it so ours start clean
        if workers > 1 and len(tasks) > 1:
            pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker)
            results = pool.imap_unordered(_align_one, tasks, chunksize=16)
        else:
            pool = None
            _init_worker()
            results = map(_align_one, tasks)
        try:
            bar = tqdm(results, total=len(tasks), desc="align", unit="img", mininterval=_bar_interval(),
                       disable=not progress)
            for status, relative, payload in bar:
                if status == "ok":
                    # The crop is already on disk; the row marks it done (flushed at once, so a
                    # kill costs at most the crops whose rows were not yet written: redone on resume).
                    writer.writerow(payload)
                    handle.flush()
                    report.aligned += 1
                else:
                    report.failures.append((relative, payload))
        finally:
            if pool is not None:
                pool.terminate()
    report.failures.sort()
    buffer = io.StringIO()
    csv.writer(buffer).writerows([("path", "reason"), *report.failures])
    write_text(output_dir / FAILURES_FILE, buffer.getvalue())
    report.seconds = time.time() - started
    write_json(output_dir / MANIFEST_FILE, {
        **provenance({"root": str(root), "output_dir": str(output_dir), "has_subdirs": has_subdirs,
                      "workers": workers, "size": size, "limit": limit}),
        "report": {"total": report.total, "aligned": report.aligned, "skipped": report.skipped,
                   "failed": len(report.failures), "seconds": round(report.seconds, 2)}})
    return report


def _bar_interval() -> float:
    """Throttle progress bars under papermill/CI, where every redraw becomes a stored output line."""
    return 30.0 if os.environ.get("PAPERMILL_EXECUTION") or os.environ.get("CI") else 0.5


def read_failures(output_dir) -> list[tuple[str, str]]:
    path = Path(output_dir) / FAILURES_FILE
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [tuple(row) for row in csv.reader(handle)][1:]


def lfw_files_for_profile(profile: dict, lfw_root=None) -> list[str] | None:
    """Raw LFW files a profile needs aligned: all of LFW (None) unless the profile takes a subset of
    pairs (smoke), in which case: the subset's pair images, the t-SNE people's images and a few
    photos of people in no pair (the mean-face filler is fitted on those, never on test people)."""
    from .data.lfw import pair_images, parse_pairs, people_by_fold, people_with_images, subset_pairs
    from .data.registry import dataset_root

    if profile.get("pairs_per_fold") is None:
        return None
    root = dataset_root("lfw", lfw_root)
    pairs = parse_pairs(root / "pairs.txt")
    wanted = set(pair_images(subset_pairs(pairs, profile["pairs_per_fold"])))
    every = [str(p) for p in list_images(root / "raw", has_subdirs=True)]
    per_person = int(profile.get("tsne_images_per_person", 10))
    rich = people_with_images(every, per_person)
    for name in sorted(rich)[: int(profile.get("tsne_people", 6))]:
        wanted.update(rich[name][:per_person])
    in_pairs = set().union(*people_by_fold(pairs).values())
    unpaired = [p for p in every if p.split("/")[0] not in in_pairs]
    wanted.update(unpaired[: int(profile.get("mean_face_images", 64))])
    return sorted(wanted)
