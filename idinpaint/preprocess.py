"""The batch alignment job (the original ID-Inpainter code's ``preprocess112.py``): a folder of photos -> 112x112 crops.

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
from dataclasses import dataclass
from pathlib import Path

import cv2

from idinpaint.align import CROP_SIZE, NoFaceError, YuNetDetector, locate
from idinpaint.config import load_profile
from idinpaint.data.aligned import LANDMARK_COLUMNS, LANDMARKS_FILE, aligned_name, read_landmarks
from idinpaint.data.lfw import lfw_files_for_profile
from idinpaint.data.registry import dataset_root, list_images
from idinpaint.imageio import BadImageError, read_rgb, write_rgb
from idinpaint.paths import NotReadyError
from idinpaint.progress import ignore_interrupts, progress_bar
from idinpaint.runinfo import JobReport, provenance, write_json, write_text

FAILURES_FILE = "failures.csv"
MANIFEST_FILE = "preprocess.json"


@dataclass
class PreprocessReport(JobReport):
    aligned: int = 0

    def summary(self) -> str:
        return (f"{self.total} images: {self.aligned} aligned, {self.skipped} already done, "
                f"{len(self.failures)} failed, {self.seconds:.1f} s")


_detector: YuNetDetector | None = None


def _init_worker():
    ignore_interrupts()  # Ctrl-C: the main process stops the pool, no traceback from each worker
    _load_detector()


def _load_detector():
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
        # every face found is kept (no tiny-face refusal): the aligned folder is the protocol's data
        located = locate(image, _detector, name=relative, size=size, min_eye_distance=None)
        crop, detection = located.crop, located.detection
        write_rgb(target, crop)
        row = [relative, f"{detection.score:.4f}", *[f"{v:.2f}" for v in detection.box],
               *[f"{v:.2f}" for v in detection.landmarks.ravel()]]
        return "ok", relative, row
    except BadImageError as err:
        return "fail", relative, err.reason
    except NoFaceError:
        return "fail", relative, "no face detected"
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
    _remove_partial_crops(output_dir)  # a crop a killed run was writing: redone below
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
            _load_detector()
            results = map(_align_one, tasks)
        try:
            bar = progress_bar(results, total=len(tasks), desc="align", unit="img", disable=not progress)
            for status, relative, payload in bar:
                if status == "ok":
                    # The crop is already on disk; the row marks it done (flushed at once, so a
                    # kill costs at most the crops whose rows were not yet written: redone on resume).
                    writer.writerow(payload)
                    handle.flush()
                    report.aligned += 1
                else:
                    report.failures.append((relative, payload))
        except BaseException:  # an interrupt: stop the workers, then remove what they were writing
            if pool is not None:
                pool.terminate()
                pool.join()
            _remove_partial_crops(output_dir)
            raise
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


def aligned_for_profile(profile, lfw_root=None, aligned_dir=None, workers: int | None = None,
                        progress: bool = True) -> Path:
    """The aligned LFW crops a run profile (a name of ``config/profiles.yaml`` or its settings) needs,
    for a notebook or command that may run first. A small subset (the smoke profile's) is aligned now
    when any of it is missing (seconds; what notebook 00 does, resumable); all of LFW (cpu, paper) is
    not: a missing or unfinished folder is a one-line :class:`NotReadyError` naming notebook 00 and the
    command."""
    settings = load_profile(profile) if isinstance(profile, str) else profile
    name = settings.get("name", "this")
    aligned = Path(aligned_dir or settings["aligned_dir"])
    files = lfw_files_for_profile(settings, lfw_root)
    if files is None:
        if not (aligned / MANIFEST_FILE).is_file():
            state = "unfinished (no preprocess.json)" if (aligned / LANDMARKS_FILE).is_file() else "no aligned crops"
            raise NotReadyError(
                f"{aligned}: {state}; run notebook 00_preprocess with profile {name} first, or `idinpaint preprocess "
                f"--raw {dataset_root('lfw', lfw_root) / 'raw'} --aligned {aligned} --has-subdirs --workers 2` "
                "(resumable)")
        return aligned
    done = set(read_landmarks(aligned)) | {path for path, _ in read_failures(aligned)}
    missing = [f for f in files if f not in done]
    if missing:
        print(f"{aligned}: aligning the {len(missing)} LFW photos the {name} profile needs that are not there yet "
              "(as notebook 00 does)", flush=True)
        report = preprocess_folder(dataset_root("lfw", lfw_root) / "raw", aligned, has_subdirs=True,
                                   workers=workers or settings.get("workers") or 1, files=files, progress=progress)
        print(report.summary(), flush=True)
    return aligned


def _remove_partial_crops(output_dir: Path) -> None:
    for stale in output_dir.rglob(".*.tmp"):
        stale.unlink(missing_ok=True)


def read_failures(output_dir) -> list[tuple[str, str]]:
    path = Path(output_dir) / FAILURES_FILE
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [tuple(row) for row in csv.reader(handle)][1:]
