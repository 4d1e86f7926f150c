"""The O-Detector: finding what is occluded on an aligned face crop, trained and measured.

ID-Inpainter's recovery starts by finding the occluder. This module trains a small segmentation
network (:class:`~idinpaint.models.detector.ODetector`) on synthetic composites
(:mod:`idinpaint.occlusion.composites`: MaskTheFace occluders, moved protocol regions, blocks,
strokes and sunglasses filled with textures — photo backgrounds, noise, stripes, solid colours —
and clean faces), runs it (:class:`Detector`), and measures it per occluder family
(:func:`evaluate_detector`).

* **Identity-disjoint, as the inpainter.** The detector evaluated on LFW half A trains on
  ``lfw_training_files("A")`` (half B's people and the people in no pair), and vice versa;
  :class:`LFWHalvesDetector` sends each crop to the model that never saw its person.
* **Held-out families.** ``composites.held_out`` in ``config/train.yaml`` (the cpu profile:
  ``maskthface:KN95`` and the ``floral`` textures) never appear in training draws; the
  generalisation table reports them beside the families that were trained on.
* **The mask a filler gets.** Probability >= ``threshold`` (0.5), connected parts smaller than
  ``min_area`` pixels dropped, then dilated by ``dilate`` pixels (an inpainter must cover the
  occluder's fringe; a pixel of face too many costs little). Metrics are measured on this mask.
* **Files.** ``odetector_<profile>_half<H>.pt``: an ``idinpaint`` entry of kind ``detector`` (format,
  model config, state dict, half, held-out families, mask settings), read by
  :func:`idinpaint.checkpoints.read_checkpoint` (``weights_only``), a JSON card beside it
  (:func:`idinpaint.checkpoints.checkpoint_card`). ``$IDINPAINT_DETECTOR_DIR`` points the default
  pair at another folder.

Training is a plain torch loop (Adam, BCE + soft Dice, cosine learning rate), composites drawn on the
fly from a seeded generator: the same config and seed give the same weights on the same machine.
``train.max_minutes`` (the cpu profile: 13 per half) caps the wall time: after the first
:data:`BUDGET_CALIBRATION_STEPS` batches the number of batches is cut, once, to what fits (the
cosine schedule follows; ``run.json`` records ``steps`` done and ``steps_configured``).
"""
from __future__ import annotations

import copy
import hashlib
import math
import os
import time
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from idinpaint.checkpoints import (
    CHECKPOINT_FORMAT,
    SUPPORTED_FORMATS,
    CheckpointError,
    checkpoint_card,
    file_sha256,
    read_checkpoint,
)
from idinpaint.config import check_keys, load_yaml
from idinpaint.data.aligned import aligned_name, read_faces, read_landmarks
from idinpaint.data.lfw import (
    check_half,
    default_aligned_root,
    evaluated_half,
    half_of_people,
    identity_of,
    lfw_half_people,
    lfw_training_files,
    load_pairs,
    split_by_identity,
)
from idinpaint.data.registry import DatasetError, dataset_root
from idinpaint.imageio import BadImageError, read_rgb
from idinpaint.models import get_model
from idinpaint.models.layers import ConvBlock, count_parameters
from idinpaint.occlusion.apply import parse_spec
from idinpaint.occlusion.batch import canonical_spec, occlude_faces, region_label
from idinpaint.occlusion.composites import (
    BASE_SHAPES,
    CLEAN,
    MASKTHFACE,
    OWN,
    CompositeSampler,
    TextureBank,
    background_patches,
    compose,
)
from idinpaint.occlusion.landmarks import crop_landmarks_of
from idinpaint.paths import REPO_ROOT
from idinpaint.progress import progress_bar
from idinpaint.runinfo import provenance, write_json

KIND = "detector"
DEFAULT_CONFIG = REPO_ROOT / "config" / "train.yaml"
SHIPPED_DIR = REPO_ROOT / "checkpoints"
SHIPPED_PROFILE = "cpu"
DETECTOR_DIR_ENV = "IDINPAINT_DETECTOR_DIR"
#: A predicted hole smaller than this share of the crop counts as "nothing occluded" (``recover``).
NOTHING_FRACTION = 0.005
#: A clean face whose predicted hole is larger than this share of the crop is a false alarm.
FALSE_ALARM_FRACTION = 0.01
DEFAULT_MASK = {"threshold": 0.5, "min_area": 16, "dilate": 1}
#: With ``train.max_minutes``, the speed of this many first batches sets how many batches fit the budget.
BUDGET_CALIBRATION_STEPS = 20
CONFIG_SECTIONS = ("seed", "model", "data", "composites", "train", "mask", "eval")


# --- config -----------------------------------------------------------------------------------------

def _merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (update or {}).items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_detector_config(profile: str = "smoke", path=DEFAULT_CONFIG, overrides: dict | None = None) -> dict:
    """The ``detector:`` block of ``config/train.yaml``: ``defaults`` <- ``<profile>`` <- ``overrides``."""
    raw = load_yaml(path).get("detector")
    if not isinstance(raw, dict) or not isinstance(raw.get("defaults"), dict):
        raise ValueError(f"{path}: no 'detector:' block with 'defaults' (the O-Detector's training settings)")
    profiles = [name for name in raw if name != "defaults"]
    if profile not in profiles:
        raise ValueError(f"{path}: detector: unknown profile {profile!r}; choose one of {', '.join(profiles)}")
    check_keys(raw["defaults"], dict.fromkeys(CONFIG_SECTIONS), f"{path}: detector: defaults",
               open_paths=CONFIG_SECTIONS)
    check_keys(raw[profile] or {}, raw["defaults"], f"{path}: detector: {profile}")
    check_keys(overrides or {}, raw["defaults"], "--set")
    config = _merge(_merge(raw["defaults"], raw[profile] or {}), overrides or {})
    config["profile"] = profile
    return config


def _resolve(path) -> Path:
    """A path of the config file: relative ones are relative to the repository root."""
    path = Path(path)
    return path if path.is_absolute() else REPO_ROOT / path


# --- masks and metrics ------------------------------------------------------------------------------

def postprocess(probabilities: np.ndarray, threshold: float = 0.5, min_area: int = 16, dilate: int = 1) -> np.ndarray:
    """Probability maps (N, H, W) or (H, W) -> bool masks (True = occluded): threshold, drop connected
    parts under ``min_area`` pixels, dilate by ``dilate`` pixels (a (2d+1) square)."""
    probabilities = np.asarray(probabilities)
    single = probabilities.ndim == 2
    maps = probabilities[None] if single else probabilities
    out = np.zeros(maps.shape, dtype=bool)
    kernel = np.ones((2 * int(dilate) + 1,) * 2, np.uint8) if dilate > 0 else None
    for i, prob in enumerate(maps):
        binary = (prob >= threshold).astype(np.uint8)
        if not binary.any():
            continue
        if min_area > 1:
            count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
            keep = np.zeros(count, dtype=bool)
            keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
            binary = keep[labels].astype(np.uint8)
        if kernel is not None and binary.any():
            binary = cv2.dilate(binary, kernel)
        out[i] = binary > 0
    return out[0] if single else out


def mask_metrics(predicted: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image counts and scores of bool masks (N, H, W): ``intersection``, ``predicted``,
    ``truth``, ``union`` (pixels), ``iou`` and ``dice`` (1 when both masks are empty), ``area`` and
    ``truth_area`` (predicted and true share of the image)."""
    predicted, truth = np.asarray(predicted, dtype=bool), np.asarray(truth, dtype=bool)
    if predicted.shape != truth.shape:
        raise ValueError(f"predicted masks {predicted.shape} and truth {truth.shape} differ in shape")
    if predicted.ndim == 2:
        predicted, truth = predicted[None], truth[None]
    inter = (predicted & truth).sum(axis=(1, 2)).astype(np.float64)
    pred = predicted.sum(axis=(1, 2)).astype(np.float64)
    true = truth.sum(axis=(1, 2)).astype(np.float64)
    union = pred + true - inter
    empty = union == 0
    iou = np.where(empty, 1.0, inter / np.maximum(union, 1))
    dice = np.where(empty, 1.0, 2 * inter / np.maximum(pred + true, 1))
    pixels = float(predicted.shape[1] * predicted.shape[2])
    return {"intersection": inter, "predicted": pred, "truth": true, "union": union, "iou": iou, "dice": dice,
            "area": pred / pixels, "truth_area": true / pixels}


def summarize_metrics(metrics: dict[str, np.ndarray]) -> dict[str, float]:
    """One row of the generalisation table: mean per-image IoU and Dice; precision and recall over
    all pixels pooled (|P & T| / |P|, |P & T| / |T|; NaN when nothing was predicted / true);
    ``pred_area`` the mean predicted share of the crop, ``false_alarm_rate`` the share of images
    whose predicted area exceeds :data:`FALSE_ALARM_FRACTION` (what counts on clean faces)."""
    inter, pred, true = (float(metrics[k].sum()) for k in ("intersection", "predicted", "truth"))
    return {
        "n": int(len(metrics["iou"])),
        "iou": float(np.mean(metrics["iou"])) if len(metrics["iou"]) else math.nan,
        "dice": float(np.mean(metrics["dice"])) if len(metrics["dice"]) else math.nan,
        "precision": inter / pred if pred else math.nan,
        "recall": inter / true if true else math.nan,
        "pred_area": float(np.mean(metrics["area"])) if len(metrics["area"]) else math.nan,
        "true_area": float(np.mean(metrics["truth_area"])) if len(metrics["truth_area"]) else math.nan,
        "false_alarm_rate": (float(np.mean(metrics["area"] > FALSE_ALARM_FRACTION)) if len(metrics["area"])
                             else math.nan),
    }


# --- runtime ----------------------------------------------------------------------------------------

def _to_tensor(crops: np.ndarray, device) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(crops)).to(device)
    return (x.permute(0, 3, 1, 2).float() / 127.5 - 1.0).contiguous(memory_format=torch.channels_last)


def fuse_for_inference(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` in eval mode with every conv + batch-norm pair folded into one conv (the
    same outputs up to float rounding, fewer passes over memory) and channels-last weights."""
    fused = copy.deepcopy(model).eval()
    for module in fused.modules():
        if isinstance(module, ConvBlock) and not module.gated and isinstance(module.norm, torch.nn.BatchNorm2d):
            module.conv = torch.nn.utils.fusion.fuse_conv_bn_eval(module.conv, module.norm)
            module.norm = torch.nn.Identity()
    return fused.to(memory_format=torch.channels_last).requires_grad_(False)


class Detector:
    """One O-Detector file: ``probabilities(crops)`` -> (N, H, W) float32 in [0, 1] and
    ``masks(crops)`` -> bool (N, H, W), True = occluded, on aligned RGB uint8 crops (N, 112, 112, 3)."""

    def __init__(self, model: torch.nn.Module, meta: dict, path=None, device=None, batch_size: int = 128,
                 **mask_settings):
        self.device = torch.device(device or "cpu")
        self.net = fuse_for_inference(model).to(self.device)
        self.meta, self.path = meta, None if path is None else str(path)
        given = {k: v for k, v in mask_settings.items() if v is not None}
        self.mask = {**DEFAULT_MASK, **(meta.get("mask") or {}), **given}
        bad = sorted(set(self.mask) - set(DEFAULT_MASK))
        if bad:
            raise ValueError(f"unknown mask settings {bad}; valid: {', '.join(DEFAULT_MASK)}")
        self.batch_size = int(batch_size)
        self.half = meta.get("half")
        self.sha256 = file_sha256(path)[:12] if path is not None else "in-memory"
        self.name = "odetector"

    @property
    def fingerprint(self) -> str:
        """What makes its masks what they are (an evaluation cache key): the weights and mask settings."""
        settings = ",".join(f"{k}={self.mask[k]}" for k in sorted(self.mask))
        return f"odetector:{self.sha256}:{settings}"

    def probabilities(self, crops: np.ndarray) -> np.ndarray:
        crops = np.asarray(crops)
        single = crops.ndim == 3
        crops = crops[None] if single else crops
        if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[3] != 3:
            raise ValueError(f"crops must be RGB uint8 (N, H, W, 3), got {crops.dtype} {crops.shape}")
        out = np.zeros(crops.shape[:3], dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(crops), self.batch_size):
                logits = self.net(_to_tensor(crops[start:start + self.batch_size], self.device))
                out[start:start + len(logits)] = torch.sigmoid(logits[:, 0]).float().cpu().numpy()
        return out[0] if single else out

    def masks(self, crops: np.ndarray) -> np.ndarray:
        return postprocess(self.probabilities(crops), **self.mask)

    def predict_for(self, crops: np.ndarray, relatives: Sequence[str] | None = None) -> np.ndarray:
        """``masks`` for crops whose dataset paths are known (one model: the paths are not needed)."""
        return self.masks(crops)

    def __repr__(self) -> str:
        return f"Detector(path={self.path!r}, half={self.half!r}, sha256={self.sha256!r})"


def detector_meta(model_config: dict, state_dict: dict, half: str | None = None, **extra) -> dict:
    """The ``idinpaint`` entry of a detector file (see the module docstring)."""
    return {"format": CHECKPOINT_FORMAT, "kind": KIND, "stage": KIND, "models": {KIND: model_config},
            "state_dicts": {KIND: state_dict}, "half": half, **extra}


def save_detector(model: torch.nn.Module, model_config: dict, target, half: str | None = None, **extra) -> Path:
    """Write an inference file (weights-only loadable), atomically."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    torch.save({"idinpaint": detector_meta(dict(model_config), state, half, **extra)}, tmp)
    os.replace(tmp, target)
    return target


def load_detector(path, device=None, **mask_settings) -> Detector:
    """A :class:`Detector` from a file written by :func:`save_detector`; one-line
    :class:`~idinpaint.checkpoints.CheckpointError` for anything else."""
    meta = read_checkpoint(path)["idinpaint"]
    if meta.get("kind") != KIND:
        raise CheckpointError(f"{path}: this is a {meta.get('kind')!r} checkpoint, not an O-Detector ('detector')")
    if meta.get("format") not in SUPPORTED_FORMATS:
        raise CheckpointError(f"{path}: checkpoint format {meta.get('format')!r} is not supported "
                              f"(this version reads {SUPPORTED_FORMATS})")
    config = (meta.get("models") or {}).get(KIND)
    weights = (meta.get("state_dicts") or {}).get(KIND)
    if not isinstance(config, dict) or not isinstance(weights, dict) or not weights:
        raise CheckpointError(f"{path}: O-Detector file without its model config or weights")
    try:
        model = get_model(KIND, **config)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: incompatible detector config ({str(err).splitlines()[0]})") from None
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: detector weights do not fit its stored config "
                              f"({str(err).strip().splitlines()[0]})") from None
    return Detector(model, meta, path, device, **mask_settings)


def shipped_detectors(profile: str = SHIPPED_PROFILE, folder=None) -> dict[str, Path]:
    """{"A": <folder>/odetector_<profile>_halfA.pt, "B": ...}; ``folder`` defaults to
    ``$IDINPAINT_DETECTOR_DIR`` or ``checkpoints/``."""
    folder = Path(folder or os.environ.get(DETECTOR_DIR_ENV) or SHIPPED_DIR)
    return {half: folder / f"odetector_{profile}_half{half}.pt" for half in ("A", "B")}


class LFWHalvesDetector:
    """Two detectors, one per LFW half: each crop goes to the model that never saw its person
    (people of pairs folds 1-5 to half A's, 6-10 to half B's). Crops of people in no pair, of
    people outside LFW, or without paths go to ``default_half`` (an error when it is None)."""

    def __init__(self, detectors: dict[str, Detector], pairs=None, lfw_root=None, default_half: str | None = None):
        if set(detectors) != {"A", "B"}:
            raise ValueError(f"LFWHalvesDetector needs detectors for halves A and B, got {sorted(detectors)}")
        self.detectors = dict(sorted(detectors.items()))
        pairs = load_pairs(lfw_root) if pairs is None else list(pairs)
        self.half_of = half_of_people(pairs)
        self.default_half = check_half(default_half) if default_half else None
        self.name = "odetector"
        self.mask = self.detectors["A"].mask

    def half_for(self, relative) -> str:
        return evaluated_half(relative, self.half_of, self.default_half, "detectors")

    def _default(self) -> Detector:
        if self.default_half is None:
            raise ValueError("LFW-half detectors need each crop's path (predict_for) or a default_half")
        return self.detectors[self.default_half]

    def probabilities(self, crops):
        return self._default().probabilities(crops)

    def masks(self, crops):
        return self._default().masks(crops)

    def predict_for(self, crops: np.ndarray, relatives: Sequence[str] | None = None) -> np.ndarray:
        if relatives is None:
            return self.masks(crops)
        crops = np.asarray(crops)
        if len(relatives) != len(crops):
            raise ValueError(f"{len(relatives)} paths for {len(crops)} crops")
        halves = np.array([self.half_for(r) for r in relatives])
        out = np.zeros(crops.shape[:3], dtype=bool)
        for half, detector in self.detectors.items():
            chosen = np.flatnonzero(halves == half)
            if len(chosen):
                out[chosen] = detector.masks(crops[chosen])
        return out

    @property
    def fingerprint(self) -> str:
        return "LFWHalvesDetector(" + "; ".join(f"{h}: {d.fingerprint}" for h, d in self.detectors.items()) + ")"

    def __repr__(self) -> str:
        inner = ", ".join(f"{h}={d.sha256}" for h, d in self.detectors.items())
        return f"LFWHalvesDetector({inner}, default_half={self.default_half!r})"


def get_detector(checkpoint=None, folder=None, profile: str = SHIPPED_PROFILE, default_half: str | None = None,
                 pairs=None, lfw_root=None, device=None, **mask_settings):
    """One file (``checkpoint``) as a :class:`Detector`, else the pair ``odetector_<profile>_half{A,B}.pt``
    in ``folder`` (default ``$IDINPAINT_DETECTOR_DIR`` or ``checkpoints/``) as an :class:`LFWHalvesDetector`."""
    if checkpoint is not None:
        return load_detector(checkpoint, device, **mask_settings)
    files = shipped_detectors(profile, folder)
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: no O-Detector here; train the pair with `idinpaint detector train "
                                f"--profile {profile}` (or point {DETECTOR_DIR_ENV} at a folder holding "
                                f"odetector_{profile}_half{{A,B}}.pt)")
    detectors = {half: load_detector(path, device, **mask_settings) for half, path in files.items()}
    return LFWHalvesDetector(detectors, pairs=pairs, lfw_root=lfw_root, default_half=default_half)


# --- training data ------------------------------------------------------------------------------------

def face_box_from_landmarks(points: np.ndarray) -> tuple[float, float, float, float]:
    """A generous (x, y, w, h) box around a face from its 5 landmarks (hair and chin included)."""
    points = np.asarray(points, dtype=np.float64)
    distance = float(np.hypot(*(points[1] - points[0])))
    x0, y0 = points[:, 0].min() - 1.0 * distance, points[:, 1].min() - 1.3 * distance
    x1, y1 = points[:, 0].max() + 1.0 * distance, points[:, 1].max() + 1.2 * distance
    return x0, y0, x1 - x0, y1 - y0


def collect_backgrounds(files: Sequence[str], aligned_root, raw_root, rng: np.random.Generator, photos: int,
                        per_photo: int = 3) -> list[np.ndarray]:
    """Background patches from up to ``photos`` raw photos of ``files`` (crop paths), away from the
    face whose landmarks ``landmarks.csv`` holds. Unreadable photos are skipped."""
    if photos <= 0 or raw_root is None or not Path(raw_root).is_dir():
        return []
    table = read_landmarks(aligned_root)
    sources = {aligned_name(source): source for source in table}
    candidates = [f for f in files if f in sources]
    order = rng.permutation(len(candidates))[:photos]
    patches: list[np.ndarray] = []
    for index in sorted(order.tolist()):
        source = sources[candidates[index]]
        try:
            photo = read_rgb(Path(raw_root) / source)
        except BadImageError:
            continue
        patches += background_patches(photo, face_box_from_landmarks(table[source]), rng, count=per_photo)
    return patches


def _raw_root(config: dict, lfw_root=None):
    raw = (config.get("data") or {}).get("raw_root")
    if raw:
        return _resolve(raw)
    try:
        return dataset_root("lfw", lfw_root) / "raw"
    except DatasetError:
        return None


def _landmarks_for(root, relatives):
    lookup = crop_landmarks_of(root)
    return lookup(relatives) if lookup is not None else [None] * len(relatives)


def training_data(config: dict, half: str, lfw_root=None, aligned_root=None) -> dict:
    """The crops, landmarks, validation crops and texture bank of one half's detector."""
    data = config.get("data") or {}
    seed = int(config.get("seed", 0))
    root = Path(aligned_root) if aligned_root else _resolve(data.get("root", "data/lfw-112"))
    files = lfw_training_files(half, aligned_root=root, lfw_root=lfw_root)
    train, val = split_by_identity(files, int(data.get("val_images", 64)), seed)
    rng = np.random.default_rng([seed, ord(half)])
    count = min(int(data.get("faces", 3000)), len(train))
    chosen = sorted(train[i] for i in rng.choice(len(train), size=count, replace=False))
    backgrounds = collect_backgrounds(chosen, root, _raw_root(config, lfw_root), rng,
                                      int(data.get("background_photos", 400)), int(data.get("patches_per_photo", 3)))
    return {"root": root, "files": chosen, "faces": read_faces(root, chosen), "landmarks": _landmarks_for(root, chosen),
            "val_files": val, "bank": TextureBank(backgrounds=backgrounds, folder=data.get("occluders")),
            "train_people": len({identity_of(f) for f in train})}


def make_sampler(config: dict, bank: TextureBank) -> CompositeSampler:
    section = config.get("composites") or {}
    held_out = [name for name in section.get("held_out") or []
                if name != "background" or bank.backgrounds]  # no raw photos: no background family to hold out
    return CompositeSampler(section.get("mix"), held_out, bank, own=section.get("own", 0.6))


# --- training -------------------------------------------------------------------------------------------

def detector_loss(logits: torch.Tensor, target: torch.Tensor, dice_weight: float = 1.0) -> tuple[torch.Tensor, dict]:
    """BCE + ``dice_weight`` * (1 - soft Dice over the whole batch: clean crops' empty targets count)."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    dice = (2 * (prob * target).sum() + 1) / (prob.sum() + target.sum() + 1)
    loss = bce + dice_weight * (1 - dice)
    return loss, {"bce": float(bce.detach()), "dice": float(dice.detach())}


def train_detector(config: dict, half: str, output, lfw_root=None, aligned_root=None, progress: bool = True,
                   export=None) -> dict:
    """Train one half's O-Detector; write a run folder (``run.json``, ``provenance.json``,
    ``config.json``, ``train_log.json``) and the inference file ``odetector_<profile>_half<H>.pt``
    with its card, in ``output`` (and a copy in ``export`` when given). Returns the run summary."""
    half = check_half(half)
    started = time.time()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    train = config.get("train") or {}
    seed = int(config.get("seed", 0))
    threads = train.get("num_threads")
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        torch.manual_seed(seed + ord(half))
        data = training_data(config, half, lfw_root, aligned_root)
        sampler = make_sampler(config, data["bank"])
        model_config = dict(config.get("model") or {})
        model = get_model(KIND, **model_config)
        steps, batch_size = int(train.get("steps", 1500)), int(train.get("batch_size", 32))
        plan = {"steps": steps}  # shortened once when a time budget (max_minutes) would be exceeded
        budget = train.get("max_minutes")
        optimizer = torch.optim.Adam(model.parameters(), lr=float(train.get("lr", 2e-3)),
                                     weight_decay=float(train.get("weight_decay", 0.0)))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step, plan["steps"]) /
                                                                       max(plan["steps"], 1))))
        rng = np.random.default_rng([seed, ord(half), 1])
        log, window = [], []
        log_every = max(1, int(train.get("log_every", 50)))
        prepared = time.time()
        prep_seconds = prepared - started
        model.train()
        bar = progress_bar(range(steps), desc=f"detector half {half}", unit="batch", disable=not progress)
        for step in bar:
            if step >= plan["steps"]:
                break
            if budget and step == BUDGET_CALIBRATION_STEPS:
                per_step = (time.time() - prepared) / step
                affordable = int((0.95 * float(budget) * 60 - (time.time() - started)) / per_step) + step
                plan["steps"] = max(step + 1, min(steps, affordable))
            index = rng.integers(len(data["faces"]), size=batch_size)
            images, masks, _ = sampler.batch(data["faces"][index], rng, [data["landmarks"][i] for i in index])
            x = _to_tensor(images, "cpu")
            target = torch.from_numpy(masks[:, None].astype(np.float32))
            loss, parts = detector_loss(model(x), target, float(train.get("dice_weight", 1.0)))
            if not torch.isfinite(loss):
                raise RuntimeError(f"detector half {half}: non-finite loss at step {step}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            window.append([float(loss.detach()), parts["bce"], parts["dice"]])
            if (step + 1) % log_every == 0 or step + 1 == plan["steps"]:
                mean = np.mean(window, axis=0)
                log.append({"step": step + 1, "loss": round(float(mean[0]), 5), "bce": round(float(mean[1]), 5),
                            "dice": round(float(mean[2]), 5), "seconds": round(time.time() - prepared, 1)})
                window = []
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{mean[0]:.3f}")
        train_seconds = time.time() - prepared
        model.eval()
        name = f"odetector_{config.get('profile', 'custom')}_half{half}.pt"
        extra = {"held_out": list(sampler.held_out), "mask": {**DEFAULT_MASK, **(config.get("mask") or {})},
                 "profile": config.get("profile"), "trained_families": {"shapes": [CLEAN] + sampler.maskthface + [
                     k for k in sampler.kinds if k not in (CLEAN, MASKTHFACE)], "textures": sampler.textures}}
        target = save_detector(model, model_config, output / name, half, **extra)
        validation = validate(load_detector(target), data["root"], data["val_files"], sampler, seed)
        seconds = time.time() - started
        done = plan["steps"]
        stage = {"stage": KIND, "status": "done", "model": KIND, "steps": done, "steps_configured": steps,
                 "max_minutes": budget, "batch_size": batch_size,
                 "seconds": round(seconds, 1), "train_seconds": round(train_seconds, 1),
                 "prepare_seconds": round(prep_seconds, 1),
                 "images_per_second": round(done * batch_size / max(train_seconds, 1e-9), 1),
                 "validation": validation, "final_loss": log[-1] if log else None}
        resolved = {**config, "half": half}
        write_json(output / "config.json", resolved)
        write_json(output / "provenance.json", provenance(resolved))
        write_json(output / "train_log.json", {"log": log})
        write_json(output / "run.json", {"profile": config.get("profile"), "half": half, "stages": [stage],
                                         "training_crops": len(data["files"]), "training_people": data["train_people"],
                                         "background_patches": len(data["bank"].backgrounds),
                                         "parameters": count_parameters(model)})
        notes = {"what": f"O-Detector (occlusion segmentation) for LFW half {half}: evaluated on pairs folds "
                         f"{'1-5' if half == 'A' else '6-10'}, trained on the other half's people + the unpaired "
                         "people",
                 "held_out_families": list(sampler.held_out), "parameters": count_parameters(model)}
        card = write_json(target.with_suffix(".json"), checkpoint_card(target, [output], notes))
        files = [target, card]
        if export is not None:
            export = Path(export)
            export.mkdir(parents=True, exist_ok=True)
            for path in (target, card):
                copy_target = export / path.name
                tmp = copy_target.with_name(f".{copy_target.name}.tmp")
                tmp.write_bytes(path.read_bytes())
                os.replace(tmp, copy_target)
                files.append(copy_target)
        return {"half": half, "run_dir": str(output), "checkpoint": str(target), "files": [str(f) for f in files],
                **{k: stage[k] for k in ("seconds", "train_seconds", "images_per_second", "validation")},
                "bytes": target.stat().st_size, "parameters": count_parameters(model), "log": log}
    finally:
        torch.set_num_threads(previous_threads)


def validate(detector: Detector, root, files: Sequence[str], sampler: CompositeSampler, seed: int = 0) -> dict:
    """IoU etc. on training-family composites of the held-out validation crops, and the clean false alarms."""
    if not files:
        return {}
    faces = read_faces(root, list(files))
    landmarks = _landmarks_for(root, list(files))
    rng = np.random.default_rng([seed, 7])
    occluded = [compose(face, *_occluded_family(sampler, rng), rng, points, sampler.bank, augment=False)
                for face, points in zip(faces, landmarks)]
    images = np.stack([c.image for c in occluded])
    truth = np.stack([c.mask for c in occluded])
    row = summarize_metrics(mask_metrics(detector.masks(images), truth))
    clean = summarize_metrics(mask_metrics(detector.masks(faces), np.zeros(faces.shape[:3], bool)))
    return {"occluded": _rounded(row), "clean": _rounded(clean)}


def _occluded_family(sampler: CompositeSampler, rng) -> tuple[str, str]:
    while True:
        shape, texture = sampler.draw_family(rng)
        if shape != CLEAN:
            return shape, texture


def _rounded(row: dict) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) and not math.isnan(v) else v) for k, v in row.items()}


# --- the generalisation table ----------------------------------------------------------------------

def _crop_seed(family: str, relative: str, seed: int) -> int:
    text = f"detector-eval|{family}|{Path(relative).as_posix()}|{int(seed)}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def half_crops(half: str, aligned_root, pairs) -> dict[str, list[str]]:
    """{person: their crops} for the people of ``half``'s pairs found in ``aligned_root``."""
    root = Path(aligned_root)
    people = [person for person in sorted(lfw_half_people(pairs, half)) if (root / person).is_dir()]
    crops = {person: sorted(f"{person}/{p.name}" for p in (root / person).glob("*.png")) for person in people}
    return {person: files for person, files in crops.items() if files}


def evaluation_crops(half: str, count: int, aligned_root, pairs, seed: int = 0) -> list[str]:
    """``count`` crops (seeded) of the people in ``half``'s pairs: never seen by that half's detector.
    People are taken in a seeded order, one crop each, then a second crop each, ...: as many
    different people as possible (LFW's most photographed people would otherwise dominate)."""
    root = Path(aligned_root)
    crops = half_crops(half, root, pairs)
    if not crops:
        raise ValueError(f"{root}: no crops of half {half}'s people to evaluate on")
    rng = np.random.default_rng([int(seed), ord(half)])
    order = [sorted(crops)[i] for i in rng.permutation(len(crops))]
    chosen: list[str] = []
    for turn in range(max(len(files) for files in crops.values())):
        chosen += [crops[person][turn] for person in order if turn < len(crops[person])][: count - len(chosen)]
        if len(chosen) >= count:
            break
    return sorted(chosen)


def evaluation_families(bank: TextureBank) -> list[tuple[str, str]]:
    """(kind, family) rows: every shape family, every texture family, and clean faces."""
    return ([("shape", s) for s in bank.shape_families()] + [("texture", t) for t in bank.texture_families()]
            + [("clean", CLEAN)])


def _family_composite(kind: str, family: str, face, points, rng, bank: TextureBank, train_textures: list[str]):
    """One evaluation composite of a family: a shape row fills the shape with its own picture
    (MaskTheFace) or a trained texture; a texture row draws one of the non-MaskTheFace shapes."""
    if kind == "clean":
        return compose(face, CLEAN, "none", rng, points, bank, augment=False)
    if kind == "shape":
        texture = OWN if family.startswith(MASKTHFACE) else train_textures[int(rng.integers(len(train_textures)))]
        return compose(face, family, texture, rng, points, bank, augment=False)
    shape = BASE_SHAPES[int(rng.integers(len(BASE_SHAPES)))]
    return compose(face, shape, family, rng, points, bank, augment=False)


def evaluate_detector(detector, config: dict, halves: Sequence[str] = ("A", "B"), aligned_root=None, lfw_root=None,
                      faces: int | None = None, seed: int | None = None, examples: int = 2,
                      progress: bool = True) -> dict:
    """The generalisation table: for every occluder family (trained on or held out) and clean faces,
    IoU, Dice, precision, recall and the predicted area, on crops of each half's test people scored
    by that half's detector (``detector``: an :class:`LFWHalvesDetector`, or one :class:`Detector`
    used for every half). Background textures come from photos of the half's test people:
    backgrounds the detector never saw. Returns {"rows", "examples",
    "config"}; ``examples`` per family keep (composite, truth, prediction) for the figure."""
    data = config.get("data") or {}
    evaluation = config.get("eval") or {}
    root = Path(aligned_root) if aligned_root else _resolve(data.get("root", "data/lfw-112"))
    count = int(faces if faces is not None else evaluation.get("faces", 300))
    seed = int(seed if seed is not None else evaluation.get("seed", 1))
    pairs = load_pairs(lfw_root)
    held_out = set((config.get("composites") or {}).get("held_out") or [])
    per_family: dict[tuple[str, str], list] = {}
    shown: dict[tuple[str, str], list] = {}
    for half in [check_half(h) for h in halves]:
        model = detector.detectors[half] if isinstance(detector, LFWHalvesDetector) else detector
        crops = evaluation_crops(half, count, root, pairs, seed)
        rng = np.random.default_rng([seed, ord(half), 3])
        every = sorted(f for files in half_crops(half, root, pairs).values() for f in files)
        backgrounds = collect_backgrounds(every, root, _raw_root(config, lfw_root), rng,
                                          int(data.get("background_photos", 400)),
                                          int(data.get("patches_per_photo", 3)))
        bank = TextureBank(backgrounds=backgrounds, folder=data.get("occluders"))
        train_textures = [t for t in bank.texture_families() if t not in held_out]
        faces_array = read_faces(root, crops)
        points = _landmarks_for(root, crops)
        families = evaluation_families(bank)
        for kind, family in progress_bar(families, desc=f"detector eval half {half}", unit="family",
                                         disable=not progress):
            made = [_family_composite(kind, family, face, pts,
                                      np.random.default_rng(_crop_seed(family, rel, seed)), bank, train_textures)
                    for face, pts, rel in zip(faces_array, points, crops)]
            images = np.stack([c.image for c in made])
            truth = np.stack([c.mask for c in made])
            predicted = model.masks(images)
            per_family.setdefault((kind, family), []).append(mask_metrics(predicted, truth))
            keep = shown.setdefault((kind, family), [])
            for i in range(min(examples - len(keep), len(made))):
                keep.append((images[i], truth[i], predicted[i]))
    rows = []
    for (kind, family), parts in per_family.items():
        merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        rows.append({"kind": kind, "family": family, "held_out": family in held_out,
                     **_rounded(summarize_metrics(merged))})
    return {"rows": rows, "examples": {f"{kind}:{family}" if kind != "clean" else CLEAN: shown[(kind, family)]
                                        for kind, family in shown},
            "config": {"halves": list(halves), "faces_per_half": count, "seed": seed, "aligned_root": str(root),
                       "held_out": sorted(held_out), "detector": repr(detector),
                       "mask": getattr(detector, "mask", None)}}


def generalisation_markdown(rows: Sequence[dict]) -> str:
    """The table the README shows: one line per family, held-out ones marked."""
    lines = ["| family | kind | held out | IoU | Dice | precision | recall | predicted area | n |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]

    def pct(value) -> str:
        return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"

    for row in rows:
        if row["kind"] == "clean":
            continue
        held = "**yes**" if row["held_out"] else ""
        lines.append(f"| {row['family']} | {row['kind']} | {held} | {pct(row['iou'])} | "
                     f"{pct(row['dice'])} | {pct(row['precision'])} | {pct(row['recall'])} | "
                     f"{pct(row['pred_area'])} % | {row['n']} |")
    for row in rows:
        if row["kind"] == "clean":
            lines.append("")
            lines.append(f"Clean faces (n = {row['n']}): mean predicted area {pct(row['pred_area'])} % of the crop; "
                         f"{pct(row['false_alarm_rate'])} % of them get a predicted hole over "
                         f"{100 * FALSE_ALARM_FRACTION:.0f} % of the crop (false alarms).")
    return "\n".join(lines) + "\n"


def protocol_mask_quality(detector, specs: Sequence[str], aligned_root=None, lfw_root=None,
                          folds: Sequence[int] | None = None, seed: int = 0, chunk: int = 256,
                          progress: bool = True, pairs=None) -> list[dict]:
    """How well ``detector`` finds the protocol's own occlusions on the test pairs: every distinct
    second image of the View-2 pairs (``folds`` 1..10, default all) occluded exactly as ``idinpaint
    evaluate occluded`` occludes it (same spec, seed and crop landmarks), each crop segmented by the
    detector that never saw its person (``predict_for``). One row per spec: IoU, Dice, precision,
    recall, predicted and true area (what ``--masks predicted`` hands the fillers, against the oracle).
    ``pairs``: these pairs instead of LFW's ``pairs.txt``."""
    root = Path(aligned_root) if aligned_root else default_aligned_root()
    chosen = {int(f) for f in folds} if folds else None
    pairs = [p for p in (load_pairs(lfw_root) if pairs is None else pairs) if chosen is None or p.fold + 1 in chosen]
    relatives = list(dict.fromkeys(aligned_name(p.second) for p in pairs))
    if not relatives:
        raise ValueError(f"no pairs in folds {sorted(chosen or [])}")
    landmarks = crop_landmarks_of(root)
    rows = []
    for spec in specs:
        parsed = parse_spec(spec)
        parts = []
        for start in progress_bar(range(0, len(relatives), chunk), desc=f"masks {parsed}", unit="chunk",
                                  disable=not progress):
            batch = relatives[start:start + chunk]
            points = landmarks(batch) if landmarks is not None and parsed.kind == "maskthface" else None
            occluded, truth = occlude_faces(parsed, read_faces(root, batch), batch, landmarks=points, seed=seed)
            parts.append(mask_metrics(detector.predict_for(occluded, batch), truth))
        merged = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
        rows.append({"spec": canonical_spec(parsed), "region": region_label(parsed),
                     **_rounded(summarize_metrics(merged))})
    return rows


def protocol_masks_markdown(rows: Sequence[dict]) -> str:
    """One line per protocol occlusion: how much of the true hole the predicted mask covers."""
    lines = ["| occlusion | IoU | Dice | precision | recall | predicted area | true area | crops |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        cells = [f"{100 * row[k]:.1f}" for k in ("iou", "dice", "precision", "recall")]
        lines.append(f"| {row['spec']} | " + " | ".join(cells) +
                     f" | {100 * row['pred_area']:.1f} % | {100 * row['true_area']:.1f} % | {row['n']} |")
    return "\n".join(lines) + "\n"


def overlay(crop: np.ndarray, mask: np.ndarray, colour=(255, 0, 160), strength: float = 0.55) -> np.ndarray:
    """The crop with ``mask`` tinted (for figures): where the mask is True, a mix of the crop and ``colour``,
    with the mask's outline drawn in full colour."""
    out = crop.astype(np.float32).copy()
    mask = np.asarray(mask, dtype=bool)
    out[mask] = out[mask] * (1 - strength) + np.array(colour, np.float32) * strength
    edge = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    out[edge] = colour
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def example_tiles(examples: dict, families: Sequence[str] | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Tiles (crop | truth | prediction per example) and titles for :func:`idinpaint.figures.face_grid`."""
    tiles, titles = [], []
    for family in families or list(examples):
        for image, truth, predicted in examples.get(family, []):
            iou = mask_metrics(predicted, truth)["iou"][0]
            tiles += [image, overlay(image, truth, (0, 200, 80)), overlay(image, predicted)]
            titles += [family, "truth", f"prediction (IoU {iou:.2f})"]
    return tiles, titles
