"""aligned folder -> occluded (optionally inpainted) copies on disk, with their masks.

Layout of ``output_dir`` (``rel`` = an input image's relative path, written as ``.png``)::

    <output_dir>/<rel>           the occluded image, or the filled one when a filler other than none is used
    <output_dir>/masks/<rel>     its mask: single-channel PNG, 255 = hole (the occlusion, not what the filler did)
    <output_dir>/failures.csv    inputs that could not be used (path, reason)
    <output_dir>/prepare.json    provenance, arguments and counts

Images keep the input's relative paths, so the folder can stand in for the clean one wherever a
"second_root" of occluded copies is expected (e.g. :func:`idinpaint.evaluation.clean.score_pairs`).
An input identity folder literally named ``masks`` would collide with the mask folder and is refused.

The occlusion of each image is seeded from (spec, relative output path, ``seed``) exactly as the
in-memory LFW protocol does (:func:`idinpaint.occlusion.occlusion_seed`), so with the
default seed 0 the written pixels equal the ones the evaluation scores.

Resumable: an image counts as done when both its image and mask exist (each written atomically);
a re-run skips them. A file that cannot be read or occluded is recorded in ``failures.csv`` and
the run goes on.
"""
from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from pathlib import Path

from idinpaint.data.aligned import aligned_name  # noqa: F401  (same failures.csv format)
from idinpaint.data.registry import list_images
from idinpaint.fillers import Filler, MeanFaceFiller, build_filler
from idinpaint.imageio import BadImageError, read_rgb, write_mask, write_rgb
from idinpaint.occlusion import OcclusionSpec, canonical_spec, crop_landmarks_of, occlude_faces, parse_spec
from idinpaint.preprocess import read_failures  # noqa: F401  (same failures.csv format)
from idinpaint.progress import progress_bar
from idinpaint.runinfo import JobReport, provenance, write_json, write_text

MASKS_DIR = "masks"
FAILURES_FILE = "failures.csv"
MANIFEST_FILE = "prepare.json"


@dataclass
class PrepareReport(JobReport):
    written: int = 0
    spec: str = ""
    filler: str = "none"

    def summary(self) -> str:
        return (f"{self.total} images ({self.spec} + {self.filler}): {self.written} written, "
                f"{self.skipped} already done, {len(self.failures)} failed, {self.seconds:.1f} s")


def make_spec(mode: str, fill: str | None = None) -> OcclusionSpec:
    """``mode`` (``region:<name>``, ``random_part``, ``random_block[:size]``, ``free_form``,
    ``maskthface[:tpl]``) plus ``fill`` (default: black; maskthface: the occluder's own pixels)."""
    if "@" in mode:
        if fill is not None:
            raise ValueError(f"mode {mode!r} already names a fill; drop --fill or the '@...' part")
        return parse_spec(mode)
    return parse_spec(f"{mode}@{fill}" if fill else mode)


def output_paths(output_dir, relative: str) -> tuple[Path, Path]:
    """(image path, mask path) of one input relative path."""
    name = aligned_name(relative)
    return Path(output_dir) / name, Path(output_dir) / MASKS_DIR / name


def prepare_folder(input_dir, output_dir, mode: str = "region:two_eyes", fill: str | None = None,
                   filler: str | Filler = "none", seed: int = 0, limit: int | None = None,
                   mean_face: str | Path | None = None, files: list[str] | None = None,
                   progress: bool = True) -> PrepareReport:
    """Write occluded (and filled) copies of every image under ``input_dir`` into ``output_dir``.

    ``filler``: a name (``none``, ``telea``, ``ns``, ``mean_face``, or a registered one) or a Filler;
    ``mean_face``: a saved mean (.npy) for the ``mean_face`` filler (default: fitted on LFW people in
    no View-2 pair, see :func:`idinpaint.fillers.fit_mean_face`). MaskTheFace occluders
    are placed from the input folder's ``landmarks.csv`` when it has one (an ``idinpaint preprocess``
    output), else from the ArcFace template. ``limit``: only the first N images (sorted).
    """
    started = time.time()
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if not input_dir.is_dir():
        raise FileNotFoundError(f"{input_dir}: input folder not found")
    if input_dir.resolve() == output_dir.resolve():
        raise ValueError("output folder must differ from the input folder (inputs would be overwritten)")
    spec = make_spec(mode, fill)
    relatives = [p.as_posix() for p in list_images(input_dir)] if files is None else list(files)
    try:  # a previous output folder inside the input must not be read back as input
        inside = output_dir.resolve().relative_to(input_dir.resolve()).as_posix()
        relatives = [r for r in relatives if not r.startswith(inside + "/")]
    except ValueError:
        pass
    if any(r.split("/")[0] == MASKS_DIR for r in relatives if "/" in r):
        raise ValueError(f"{input_dir}: has a folder named {MASKS_DIR!r}, which would collide with the mask folder")
    relatives = sorted(relatives)
    if limit is not None:
        relatives = relatives[:limit]
    if isinstance(filler, str) and filler == "mean_face" and mean_face is not None:
        filler_obj: Filler = MeanFaceFiller.load(mean_face)
    else:
        filler_obj = build_filler(filler)
    landmarks_of = crop_landmarks_of(input_dir) if spec.kind == "maskthface" else None

    report = PrepareReport(total=len(relatives), spec=canonical_spec(spec), filler=filler_obj.name)
    todo = []
    for rel in relatives:
        image_path, mask_path = output_paths(output_dir, rel)
        if image_path.is_file() and mask_path.is_file():
            report.skipped += 1
        else:
            todo.append(rel)
    output_dir.mkdir(parents=True, exist_ok=True)
    for rel in progress_bar(todo, desc=f"prepare {report.spec} + {filler_obj.name}", unit="img", disable=not progress):
        image_path, mask_path = output_paths(output_dir, rel)
        try:
            image = read_rgb(input_dir / rel)
            points = landmarks_of([rel]) if landmarks_of is not None else None
            occluded, masks = occlude_faces(spec, image[None], [aligned_name(rel)], landmarks=points, seed=seed)
            result = filler_obj.fill_for(occluded, masks, [rel])[0]
            write_mask(mask_path, masks[0])
            write_rgb(image_path, result)
            report.written += 1
        except BadImageError as err:
            report.failures.append((rel, err.reason))
        except Exception as err:  # one bad file never stops the batch; the reason is recorded
            report.failures.append((rel, f"{type(err).__name__}: {err}"))
    report.failures.sort()
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([("path", "reason"), *report.failures])
    write_text(output_dir / FAILURES_FILE, buffer.getvalue())
    report.seconds = time.time() - started
    write_json(output_dir / MANIFEST_FILE, {
        **provenance({"input_dir": str(input_dir), "output_dir": str(output_dir), "spec": report.spec,
                      "filler": filler_obj.name, "seed": seed, "limit": limit,
                      "mean_face": str(mean_face) if mean_face else None}),
        "layout": {"images": "<output>/<relative path>.png", "masks": f"<output>/{MASKS_DIR}/<relative path>.png (255 = hole)"},
        "report": {"total": report.total, "written": report.written, "skipped": report.skipped,
                   "failed": len(report.failures), "seconds": round(report.seconds, 2)}})
    return report


__all__ = ["MASKS_DIR", "PrepareReport", "make_spec", "output_paths", "prepare_folder", "read_failures"]
