"""A photo of an occluded face -> the occluder found and the face recovered (``idinpaint recover``).

The ID-Inpainter pipeline on a real photo, no hand-made mask:

1. **find the face** once (:func:`idinpaint.align.locate`): YuNet's detections; with several faces
   the most central-and-large one is used (and the others are reported); no face, or a face whose eyes
   are under :data:`~idinpaint.align.MIN_EYE_DISTANCE` pixels apart, is a one-line error;
2. **align** it to the 112x112 ArcFace crop (the :class:`~idinpaint.align.Located` keeps the transform);
3. **segment the occluder** on the crop with the O-Detector (:mod:`idinpaint.detection`): a mask,
   True = occluded. Under :data:`~idinpaint.detection.NOTHING_FRACTION` of the crop it is "nothing
   occluded": the photo is returned unchanged, and said so;
4. **fill** with each filler (Telea, CA, CA+ID) through :func:`idinpaint.inpaint.inpaint_photo` with
   the face located in step 1: the mask is carried into the photo and back onto the crop, the crop is
   filled once per filler and pasted back (:func:`idinpaint.align.paste_back`), so only occluded pixels
   of the photo change;
5. with a reference photo (another photo of the same person), **fill from it**
   (:func:`reference_fill_photo`: the ``reference`` filler of :mod:`idinpaint.fillers.reference`,
   real pixels of this person fitted on the ring around the hole, colour-matched and Poisson-blended)
   and **verify** the pair with each recognizer (cosine, and same/different at the threshold it reaches
   on clean LFW, shipped in ``checkpoints/recognizer_thresholds.json``; the one pair verifier,
   :mod:`idinpaint.evaluation.verdict`) for the occluded photo and each fill. A reference with no face,
   one whose fit is refused, or one that every recogniser finds unlike the visible part of the photo
   gives no reference fill, one line says why, and the other fills are still written.

Each fill is written under its filler's name (``<stem>_telea.png``, ``_ca.png``, ``_ca_id.png``, and
``_reference.png`` with a reference). With a reference, ``_reference.png`` is the one to look at (a
real face of this person); without one, Telea's (a smooth, plausible fill). Which fill keeps the
identity is said from numbers only: with a reference, what each recogniser just said of each fill
(:func:`rank_fills`; the reference fill's own cosine to the photo it was made from is not evidence);
without, what the protocol measured on average (:func:`protocol_averages`), not a promise for this
photo. A gray photo stays gray: the recognisers see three equal channels and each fill is turned back
to gray where it changed.

LFW photos are sent to the models of the LFW half that never saw their person (:func:`choose_half`);
for any other file name half A's models are a guess, and said so (``--half A|B`` chooses). Outputs are
written last and all together (:func:`write_outputs`), so an error leaves nothing half-written.
:func:`recover_file` is the whole ``idinpaint recover`` command as one call.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from idinpaint.align import Located, NoFaceError, YuNetDetector, locate, mask_to_photo, paste_back
from idinpaint.data.aligned import read_landmarks
from idinpaint.data.lfw import lfw_half_people, load_pairs
from idinpaint.detection import NOTHING_FRACTION, get_detector, overlay
from idinpaint.evaluation.verdict import PairVerifier
from idinpaint.fillers import Filler
from idinpaint.fillers.learned import method_fillers
from idinpaint.fillers.reference import ReferenceFiller, ReferenceRefused
from idinpaint.imageio import check_image, check_output_path, image_mode, read_rgb, write_mask, write_rgb
from idinpaint.inpaint import input_notes, inpaint_photo, keep_gray
from idinpaint.occlusion import apply_maskthface, make_occlusion, parse_spec
from idinpaint.occlusion.spec import BAND, MASKTHFACE, OCCLUDER_FILL
from idinpaint.paths import REPO_ROOT, results_dir
from idinpaint.recognizers import get_recognizer

SIDE_HEIGHT = 224
#: The fill for a person to look at: the reference fill when a reference was given and fitted, else Telea's.
FOR_VIEWING, FOR_VIEWING_WITH_REFERENCE = "telea", "reference"
#: One photo is filled with torch: onnxruntime is faster on batches, but exporting its graphs on first use
#: costs a new user's first ``recover`` more (37 s against 29 s, measured on the 2-core CPU under load).
PHOTO_BACKEND = "torch"
#: What each fill is, in the strip and the printed summary.
FILL_LABELS = {"telea": "Telea", "ca": "CA (coarse)", "ca_id": "CA+ID", "reference": "from the reference (to look at)"}
#: What the occluded-LFW protocol measured on average (accuracy %, 10 regions, black hole, 6,000 pairs):
#: the source of what ``recover`` says without a reference (docs/results.md, "Headline"; a test checks
#: the two agree).
PROTOCOL_AVERAGES = REPO_ROOT / "docs" / "data" / "protocol_headline.json"


def read_photo(path, option: str = "photo") -> np.ndarray:
    """A photo as RGB uint8, read as ``idinpaint inpaint`` reads it: a gray photo gives three equal
    channels, transparency is flattened onto gray and 16 bits become 8 (:func:`photo_notes` says so).
    A missing, empty, truncated or non-image file is a one-line :class:`BadImageError` naming it."""
    return read_rgb(path)


def photo_notes(path) -> list[str]:
    """What the outputs lose of the photo file at ``path`` (transparency, 16 bits), and whether it is gray."""
    mode = image_mode(path)
    notes = input_notes(mode)
    if mode in ("1", "L", "LA", "I;16", "I;16B", "I;16L", "I", "F"):
        notes.append("gray photo: the recognisers see it as three equal channels and the fills stay gray")
    return notes


def choose_half(photo_path, pairs) -> tuple[str, str]:
    """(half, why): the LFW half whose models never saw the photo's person. An LFW photo is named
    ``<Name>/<Name>_NNNN.jpg`` (or ``<Name>_NNNN.<ext>``); people of pairs folds 1-5 -> ``A``, folds
    6-10 -> ``B``. For any other file name the person is unknown: half A is a guess, and ``why`` says so
    and how to choose (``--half``); it does not claim the person is outside the test pairs."""
    path = Path(photo_path)
    person = path.parent.name if path.stem.startswith(path.parent.name + "_") else path.stem.rsplit("_", 1)[0]
    for half in ("A", "B"):
        if person in lfw_half_people(pairs, half):
            return half, f"{person} is in LFW pairs half {half}: using the models that never saw this person"
    return "A", (f"the file name {path.name!r} names no person of the LFW test pairs, so half A's models are a "
                 "guess; for a person of LFW's pairs pass --half A (pairs folds 1-5) or --half B (folds 6-10), "
                 "the half whose models never saw them")


@dataclass
class Recovery:
    """What :func:`recover_photo` made: the input, the face located once (crop, transform, landmarks),
    the occluder mask in the photo and on the crop, each filler's photo, and facts for the report."""

    photo: np.ndarray
    face: Located
    probability: np.ndarray
    crop_mask: np.ndarray
    mask: np.ndarray
    filled: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @property
    def crop(self) -> np.ndarray:
        return self.face.crop

    @property
    def matrix(self) -> np.ndarray:
        return self.face.matrix

    @property
    def nothing_occluded(self) -> bool:
        return bool(self.info.get("nothing_occluded"))


def recover_photo(image: np.ndarray, detector, fillers: list[Filler], yunet=None, name: str = "photo",
                  face: Located | None = None) -> Recovery:
    """Find, align, segment and fill (see the module docstring). ``detector``: an O-Detector (its
    ``masks``/``probabilities`` on crops); ``fillers``: e.g. ``method_fillers(half)``. The face is
    located once (``face``, else :func:`~idinpaint.align.locate` now) and every filler fills that crop."""
    image = check_image(image, name)
    face = face or locate(image, yunet, name=name)
    crop = face.crop
    probability = detector.probabilities(crop)
    crop_mask = detector.masks(crop[None])[0]
    fraction = float(crop_mask.mean())
    info = {"faces_found": face.count, "box": [round(float(v), 1) for v in face.detection.box],
            "face_score": round(face.score, 4), "eye_distance_px": round(face.eye_distance, 1),
            "aligned_crop_input": face.is_crop, "crop_hole_fraction": round(fraction, 4),
            "nothing_occluded": fraction < NOTHING_FRACTION, "notes": list(face.notes)}
    if info["nothing_occluded"]:
        empty = np.zeros(image.shape[:2], dtype=bool)
        info["notes"].append(f"nothing occluded: the O-Detector marks {100 * fraction:.2f} % of the face crop "
                             f"(under {100 * NOTHING_FRACTION:.1f} %); the photo is left unchanged")
        info["photo_hole_pixels"] = 0
        return Recovery(image, face, probability, np.zeros_like(crop_mask), empty, {}, info)
    mask = mask_to_photo(crop_mask, face)
    info["photo_hole_pixels"] = int(mask.sum())
    filled = {}
    for filler in fillers:
        out, fill_info = inpaint_photo(filler, image, mask, image_name=name, mask_name=f"{name} (mask)", located=face)
        filled[filler.name] = keep_gray(image, out)
        if fill_info.get("uncovered"):
            info["notes"].append(f"{filler.name}: {fill_info['uncovered']} hole pixels outside the face crop "
                                 "left as they were")
    return Recovery(image, face, probability, crop_mask, mask, filled, info)


# --- the reference fill ----------------------------------------------------------------------------

def reference_fill_photo(recovery: Recovery, reference: Located, recognizers=(), verifier=None,
                         name: str = "--reference") -> tuple[np.ndarray | None, dict]:
    """The photo with its hole filled from another photo of the same person (``reference``, located),
    or None and why. Refused: when every recogniser with a threshold finds the reference unlike the
    visible part of the photo (both crops with the photo's hole blacked out; verdict "different" at the
    clean threshold, which a hidden part makes strict: a true reference may be refused), or when the
    fit on the ring around the hole is refused (:class:`~idinpaint.fillers.reference.ReferenceRefused`).
    Returns (photo or None, ``{"fit": ..., "likeness": {recogniser: cosine}, "refused": one line or None}``)."""
    verifier = PairVerifier.of(verifier)
    crop, hole = recovery.crop, recovery.crop_mask
    # the visible part of each: the same part hidden on both, so the hole itself does not count against it
    visible = np.stack([np.where(hole[..., None], 0, face).astype(np.uint8) for face in (crop, reference.crop)])
    likeness, unlike = {}, []
    for recognizer in recognizers:
        vectors = recognizer.embed(visible)
        cosine = float(vectors[0] @ vectors[1])
        likeness[recognizer.name] = round(cosine, 4)
        if verifier.same(recognizer.name, cosine) is False:
            unlike.append(f"{recognizer.name} {cosine:.4f} < {verifier.threshold(recognizer.name):.4f}")
    info = {"fit": None, "likeness": likeness, "refused": None}
    if recognizers and len(unlike) == len(recognizers):
        info["refused"] = (f"{name}: no reference fill: every recogniser finds the reference unlike the visible part "
                           f"of the photo ({'; '.join(unlike)}); is it the same person?")
        return None, info
    filler = ReferenceFiller(references=reference.crop)
    try:
        filled = filler.fill(crop, hole)
    except ReferenceRefused as err:
        info["fit"] = filler.fits[0].summary() if filler.fits else None
        info["refused"] = f"{name}: no reference fill: {str(err).split(': ', 1)[-1]}"
        return None, info
    info["fit"] = filler.fits[0].summary()
    out, _ = paste_back(recovery.photo, recovery.face, filled, recovery.mask)
    return keep_gray(recovery.photo, out), info


# --- verification ---------------------------------------------------------------------------------

def photo_versions(recovery: Recovery) -> dict[str, np.ndarray]:
    """{"occluded": the input, then each filler's photo}."""
    return {"occluded": recovery.photo, **recovery.filled}


def verify_against(recovery: Recovery, reference: np.ndarray, recognizers, thresholds=None,
                   yunet=None, reference_name: str = "reference", reference_face: Located | None = None) -> dict:
    """Cosine between the reference's aligned face and each version's (every version of the photo is
    aligned with the one transform its face was located with: no new detection), and same/different
    by the pair verifier (``thresholds``: a :class:`~idinpaint.evaluation.verdict.PairVerifier` or
    ``{recognizer: threshold}``; no verdict for a recognizer without one). ``reference_face``: the
    reference located before (else it is located now)."""
    verifier = PairVerifier.of(thresholds)
    ref_face = reference_face or locate(reference, yunet, name=reference_name)
    versions = photo_versions(recovery)
    crops = np.stack([recovery.face.align(photo) for photo in versions.values()])
    out = {}
    for recognizer in recognizers:
        vectors = recognizer.embed(np.concatenate([ref_face.crop[None], crops]))
        cosines = vectors[1:] @ vectors[0]
        out[recognizer.name] = verifier.report(recognizer.name, dict(zip(versions, cosines)))
    return out


#: Fills whose cosine to the reference is not evidence: they are made of the reference's own pixels.
FROM_THE_REFERENCE = ("reference",)


def rank_fills(verification: dict) -> dict:
    """What the recognisers just said, as a ranking: per recogniser the versions (``occluded`` and each
    fill) by cosine to the reference, highest first, leaving out :data:`FROM_THE_REFERENCE` (a fill made
    of the reference's pixels resembles it by construction); and the pick for a recogniser: the fill
    (not ``occluded``) with the best mean rank over the recognisers, ties broken by the mean cosine.
    Returns ``{"ranks": {recogniser: [(version, cosine, same), ...]}, "pick": version or None, "why": str}``."""
    ranks = {}
    for name, result in verification.items():
        rows = [(version, value["cosine"], value["same"]) for version, value in result.items()
                if version != "threshold" and version not in FROM_THE_REFERENCE]
        ranks[name] = sorted(rows, key=lambda row: -row[1])
    fills = sorted({version for rows in ranks.values() for version, _, _ in rows} - {"occluded"})
    if not ranks or not fills:
        return {"ranks": ranks, "pick": None, "why": "no fill to rank"}
    place = {name: {version: i + 1 for i, (version, _, _) in enumerate(rows)} for name, rows in ranks.items()}
    cosine = {name: {version: c for version, c, _ in rows} for name, rows in ranks.items()}
    score = {f: (np.mean([place[n][f] for n in ranks]), -np.mean([cosine[n][f] for n in ranks])) for f in fills}
    pick = min(fills, key=lambda f: score[f])
    places = ", ".join(f"{name} #{place[name][pick]} of {len(place[name])} ({cosine[name][pick]:.4f})" for name in ranks)
    beaten = [name for name in ranks if cosine[name]["occluded"] > cosine[name][pick]] if all(
        "occluded" in cosine[n] for n in ranks) else []
    why = f"the best mean rank of the fills on this photo: {places}"
    if beaten:
        why += f"; the occluded photo itself scores higher with {', '.join(beaten)}"
    return {"ranks": ranks, "pick": pick, "why": why}


def protocol_averages(path=None) -> dict:
    """What the occluded-LFW protocol measured on average (:data:`PROTOCOL_AVERAGES`): ``{"source",
    "what", "accuracy": {recogniser: {method: %}}}``; ``{}`` when the file is missing."""
    import json

    path = Path(path or PROTOCOL_AVERAGES)
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


# --- outputs ----------------------------------------------------------------------------------------

def _label(tile: np.ndarray, text: str) -> np.ndarray:
    banner = np.full((22, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(banner, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([banner, tile], axis=0)


def side_by_side(recovery: Recovery, reference: np.ndarray | None = None, height: int = SIDE_HEIGHT) -> np.ndarray:
    """One RGB strip: the photo | the found occluder (tinted) | each filler's photo (| the reference)."""
    tiles = [("photo", recovery.photo), ("O-Detector mask", overlay(recovery.photo, recovery.mask))]
    tiles += [(FILL_LABELS.get(n, n), photo) for n, photo in recovery.filled.items()]
    if recovery.nothing_occluded:
        tiles.append(("unchanged: nothing occluded", recovery.photo))
    if reference is not None:
        tiles.append(("reference", reference))
    strip = []
    for title, tile in tiles:
        width = max(1, round(tile.shape[1] * height / tile.shape[0]))
        resized = cv2.resize(tile, (width, height), interpolation=cv2.INTER_AREA if tile.shape[0] > height
                             else cv2.INTER_LINEAR)
        strip.append(_label(resized, title))
        strip.append(np.full((height + 22, 4, 3), 255, np.uint8))
    return np.concatenate(strip[:-1], axis=1)


def output_names(stem: str, fillers=("telea", "ca", "ca_id")) -> dict[str, str]:
    """Each output's file name: every fill under its filler's name (``<stem>_<filler>.png``)."""
    return {"mask": f"{stem}_mask.png", **{name: f"{stem}_{name}.png" for name in fillers},
            "side_by_side": f"{stem}_side_by_side.png", "report": f"{stem}_recover.json"}


def write_outputs(recovery: Recovery, output_dir, stem: str, report: dict,
                  reference: np.ndarray | None = None) -> dict[str, str]:
    """Write each filler's photo as ``<stem>_<filler>.png`` (none when nothing is occluded), the mask
    (255 = occluded), the side-by-side strip and the JSON report (which names the fill to look at and
    the one for a recogniser). All are written into a temporary folder first and moved in at the end,
    so a failure leaves none of them."""
    import json

    output_dir = Path(check_output_path(output_dir, "folder"))
    output_dir.mkdir(parents=True, exist_ok=True)
    names = output_names(stem, list(recovery.filled))
    images = {"mask": None, **recovery.filled, "side_by_side": side_by_side(recovery, reference)}
    if recovery.filled:
        viewing = FOR_VIEWING_WITH_REFERENCE if FOR_VIEWING_WITH_REFERENCE in recovery.filled else FOR_VIEWING
        report["for_viewing"] = viewing if viewing in recovery.filled else None
    written = {key: str(output_dir / names[key]) for key in [*images, "report"]}
    for path in written.values():
        if Path(path).is_dir():
            raise ValueError(f"{path}: is a folder; move it away or choose another --output")
    report["outputs"] = written
    staging = Path(tempfile.mkdtemp(prefix=f".{stem}.", dir=output_dir))
    try:
        for key, picture in images.items():
            if key == "mask":
                write_mask(staging / names[key], recovery.mask)
            else:
                write_rgb(staging / names[key], picture)
        (staging / names["report"]).write_text(json.dumps(report, indent=2) + "\n")
        for key in written:
            os.replace(staging / names[key], output_dir / names[key])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


# --- the whole command -----------------------------------------------------------------------------

def recover_file(photo, output_dir=None, reference=None, half: str = "auto", detector_file=None, detector_dir=None,
                 detector_recipe: str = "cpu", mask_threshold: float | None = None,
                 recognizers=("sface", "dlib"), thresholds: dict | None = None, calibrate_thresholds: bool = False,
                 aligned=None, lfw_root=None, backend: str | None = None, say=print) -> tuple[Recovery, dict, dict]:
    """``idinpaint recover`` as one call: read ``photo`` (and ``reference``), find, segment, fill, verify
    and write the outputs into ``output_dir`` (default ``results/recover``). Returns (recovery, report,
    written files).

    Verification (:meth:`~idinpaint.evaluation.verdict.PairVerifier.resolve`): ``thresholds``
    ({recogniser: cosine}) where given, else the shipped ones
    (:data:`~idinpaint.evaluation.thresholds.SHIPPED_THRESHOLDS`); ``calibrate_thresholds`` recomputes
    them on the clean LFW pairs of ``aligned`` first (minutes: ``say`` gets a first line saying what
    and how long, then a progress bar runs). Every input is checked before any model runs.

    ``backend`` of the learned fillers: default ``$IDINPAINT_BACKEND``, else :data:`PHOTO_BACKEND`."""
    output = Path(output_dir or results_dir() / "recover")
    check_output_path(output, "folder")
    image = read_photo(photo, "photo")
    ref_image = read_photo(reference, "--reference") if reference is not None else None
    yunet = YuNetDetector()
    face = locate(image, yunet, name=str(photo))
    ref_face, ref_problem = None, None
    if ref_image is not None:
        try:
            ref_face = locate(ref_image, yunet, name=f"--reference {reference}")
        except (NoFaceError, ValueError) as err:  # reported in one line; the other fills are still written
            ref_problem = f"{err}; no reference fill and nothing to verify against"
    pairs = load_pairs(lfw_root)
    if half == "auto":
        half, why = choose_half(photo, pairs)
        guessed = "guess" in why
    else:
        why, guessed = f"half {half} (--half)", False
    verifier = None
    if calibrate_thresholds and ref_image is None:
        say("--calibrate: nothing to verify without --reference, so no thresholds are computed")
    if ref_face is not None:
        verifier = PairVerifier.resolve(recognizers, thresholds, calibrate_thresholds, aligned, lfw_root, say=say)
    detector = get_detector(detector_file, detector_dir, detector_recipe, default_half=half, pairs=pairs,
                            threshold=mask_threshold)
    backend = backend or os.environ.get("IDINPAINT_BACKEND") or PHOTO_BACKEND
    recovery = recover_photo(image, detector, method_fillers(half, backend=backend), yunet, str(photo), face)
    recovery.info["notes"] = photo_notes(photo) + recovery.info["notes"]
    report = {"photo": str(photo), "reference": None if reference is None else str(reference), "half": half,
              "half_reason": why, "half_guessed": guessed, "detector": repr(detector),
              "mask_settings": getattr(detector, "mask", None), **recovery.info}
    if ref_problem:
        report["reference_problem"] = ref_problem
    if ref_face is not None:
        models = [get_recognizer(name) for name in recognizers]
        if not recovery.nothing_occluded:
            filled, ref_info = reference_fill_photo(recovery, ref_face, models, verifier, f"--reference {reference}")
            report["reference_fill"] = ref_info
            if filled is not None:
                recovery.filled = {"reference": filled, **recovery.filled}
            else:
                report["reference_problem"] = ref_info["refused"]
        report["verification"] = verify_against(recovery, ref_image, models, verifier,
                                                reference_name=f"--reference {reference}", reference_face=ref_face)
        report["thresholds_source"] = verifier.source
        report["ranking"] = rank_fills(report["verification"])
    else:
        report["protocol_averages"] = protocol_averages()
    written = write_outputs(recovery, output, Path(photo).stem, report, ref_image)
    return recovery, report, written


# --- examples: occluders put on in photo space -----------------------------------------------------

def occlude_photo(photo: np.ndarray, landmarks, occluder: str,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``photo`` with an occluder put on *in photo space* from its 5 landmarks (photo pixels).
    ``occluder``: a spec of the occlusion grammar (:mod:`idinpaint.occlusion.spec`) placed by landmarks:
    ``maskthface[:<template>]`` (a MaskTheFace occluder, turned to the face's pose) or ``band@<fill>``
    (a band across the eyes like sunglasses, e.g. ``band@texture:floral``). Returns (occluded photo,
    its exact mask)."""
    spec = parse_spec(occluder)
    points = np.asarray(landmarks, dtype=np.float64)
    if spec.kind == MASKTHFACE and spec.fill == OCCLUDER_FILL:
        return apply_maskthface(photo, landmarks=points, template=spec.arg or "surgical", pose="auto")
    if spec.kind != BAND:
        raise ValueError(f"{occluder!r}: a photo-space occluder is maskthface[:<template>] or band@<fill>")
    return make_occlusion(spec, photo, rng, landmarks=points)


def occluded_examples(pairs, aligned_root, raw_root, occluders, folder, seed: int = 0) -> list[tuple[Path, Path, str]]:
    """Demo inputs for ``recover``: for the first same-person pairs of distinct people whose photos
    were aligned (``landmarks.csv`` of ``aligned_root``), the second photo with one of ``occluders``
    (specs such as ``maskthface:surgical`` or ``band@texture:floral``) put on in photo space
    (:func:`occlude_photo`) written to ``folder/<Name>_NNNN.png``, and the
    first photo as its reference. Returns [(occluded photo, reference photo, occluder)]."""
    table = read_landmarks(aligned_root)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    chosen, seen = [], set()
    for pair in pairs:
        person = pair.second.split("/")[0]
        if pair.same and person not in seen and pair.second in table and len(chosen) < len(occluders):
            seen.add(person)
            chosen.append(pair)
    examples = []
    for pair, occluder in zip(chosen, occluders):
        photo = read_rgb(Path(raw_root) / pair.second)
        occluded, _ = occlude_photo(photo, table[pair.second], occluder, rng)
        target = folder / Path(pair.second).with_suffix(".png").name
        write_rgb(target, occluded)
        examples.append((target, Path(raw_root) / pair.first, occluder))
    return examples
