"""Training the O-Detector on the one Lightning stack (a ``model: detector`` stage of
``config/train.yaml``, run by :func:`idinpaint.training.stages.run_training` like the CA and Fusor).

* **Data.** Identity-disjoint like the inpainter: the detector evaluated on LFW half A trains on
  ``lfw_training_files("A")`` (half B's people and the people in no pair); ``detector.faces`` of them
  (a seeded draw), each drawn afresh every epoch as a synthetic composite
  (:class:`~idinpaint.occlusion.composites.CompositeSampler`: MaskTheFace occluders, moved protocol
  regions, blocks, strokes and sunglasses filled with textures, and clean faces). Background
  textures are cut from raw LFW photos of the training crops, away from the face.
* **Held-out families.** ``detector.composites.held_out`` never appear in training draws.
* **Validation** (``val/iou``, the stage's monitor): composites of training families on held-out
  people's crops (``data.val_images``), scored on the mask a filler gets, and the clean crops'
  predicted area and false alarms.
* **Loss and schedule.** BCE + soft Dice (:func:`idinpaint.losses.detector_loss`), Adam, a cosine
  learning rate down to 5 % over the stage's planned batches (cut by ``trainer.max_minutes``,
  :mod:`idinpaint.training.budget`).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import Dataset

from idinpaint import losses as L
from idinpaint.checkpoints import detector_meta
from idinpaint.data.aligned import read_faces
from idinpaint.data.lfw import check_half, identity_of, lfw_raw_root, lfw_training_files, split_by_identity
from idinpaint.models import get_model
from idinpaint.models.detector import DEFAULT_MASK, postprocess
from idinpaint.occlusion.composites import (
    CLEAN,
    MASKTHFACE,
    CompositeSampler,
    TextureBank,
    collect_backgrounds,
    compose,
)
from idinpaint.occlusion.landmarks import landmarks_or_none
from idinpaint.occlusion.metrics import mask_metrics, summarize_metrics
from idinpaint.paths import REPO_ROOT, aligned_folder
from idinpaint.training.modules import NonFiniteLossError


def _resolve(path) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def section(config: dict) -> dict:
    """The ``detector:`` settings of a resolved training recipe."""
    return config.get("detector") or {}


def training_data(config: dict, half: str, lfw_root=None, aligned_root=None) -> dict:
    """The crops, landmarks, validation crops and texture bank of one half's detector."""
    data, own = config.get("data") or {}, section(config)
    seed = int(config.get("seed", 0))
    root = Path(aligned_root) if aligned_root else aligned_folder(data.get("root"))
    files = lfw_training_files(half, aligned_root=root, lfw_root=lfw_root)
    train, val = split_by_identity(files, int(data.get("val_images", 64)), seed)
    rng = np.random.default_rng([seed, ord(half)])
    count = min(int(own.get("faces", 3000)), len(train))
    chosen = sorted(train[i] for i in rng.choice(len(train), size=count, replace=False))
    raw_root = _resolve(own["raw_root"]) if own.get("raw_root") else lfw_raw_root(lfw_root)
    backgrounds = collect_backgrounds(chosen, root, raw_root, rng, int(own.get("background_photos", 400)),
                                      int(own.get("patches_per_photo", 3)))
    return {"root": root, "files": chosen, "faces": read_faces(root, chosen), "landmarks": landmarks_or_none(root, chosen),
            "val_files": val, "bank": TextureBank(backgrounds=backgrounds, folder=own.get("occluders")),
            "train_people": len({identity_of(f) for f in train})}


def make_sampler(config: dict, bank: TextureBank, augment: bool = True) -> CompositeSampler:
    composites = section(config).get("composites") or {}
    held_out = [name for name in composites.get("held_out") or []
                if name != "background" or bank.backgrounds]  # no raw photos: no background family to hold out
    return CompositeSampler(composites.get("mix"), held_out, bank, own=composites.get("own", 0.6), augment=augment)


def _item(image: np.ndarray, mask: np.ndarray) -> dict:
    return {"image": torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 127.5 - 1.0,
            "mask": torch.from_numpy(np.ascontiguousarray(mask))[None].float()}


class CompositeDataset(Dataset):
    """Training crops as composites: item ``i`` is crop ``i`` with a fresh occluder each time it is
    read (its generator seeded by (seed, i, how many times it was read))."""

    def __init__(self, faces, landmarks, sampler: CompositeSampler, seed: int = 0):
        self.faces, self.landmarks, self.sampler, self.seed = faces, landmarks, sampler, int(seed)
        self.reads = np.zeros(len(faces), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, int(index), int(self.reads[index])])
        self.reads[index] += 1
        made = self.sampler.draw(self.faces[index], rng, self.landmarks[index])
        return _item(made.image, made.mask)

    @property
    def families(self) -> dict:
        sampler = self.sampler
        return {"held_out": list(sampler.held_out),
                "trained_families": {"shapes": [CLEAN] + sampler.maskthface
                                     + [k for k in sampler.kinds if k not in (CLEAN, MASKTHFACE)],
                                     "textures": sampler.textures}}


class ValidationComposites(Dataset):
    """Held-out people's crops, each once occluded by a training family (no augmentation) and once clean."""

    def __init__(self, faces, landmarks, sampler: CompositeSampler, seed: int = 0):
        rng = np.random.default_rng([int(seed), 7])
        items = []
        for face, points in zip(faces, landmarks):
            while True:
                shape, texture = sampler.draw_family(rng)
                if shape != CLEAN:
                    break
            made = compose(face, shape, texture, rng, points, sampler.bank, augment=False)
            items.append((made.image, made.mask, False))
        items += [(face, np.zeros(face.shape[:2], bool), True) for face in faces]
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        image, mask, clean = self.items[index]
        return {**_item(image, mask), "clean": torch.tensor(clean)}


def detector_datasets(config: dict, data_cfg: dict, lfw_root=None):
    """(train, validation) datasets of a detector stage, for the half ``data_cfg["half"]``."""
    half = check_half(data_cfg.get("half", "A"))
    data = training_data({**config, "data": data_cfg}, half, lfw_root)
    seed = int(config.get("seed", 0))
    sampler = make_sampler(config, data["bank"])
    train = CompositeDataset(data["faces"], data["landmarks"], sampler, seed=seed + ord(half))
    val_files = data["val_files"]
    val_faces = read_faces(data["root"], val_files) if val_files else np.zeros((0, 112, 112, 3), np.uint8)
    val = ValidationComposites(val_faces, landmarks_or_none(data["root"], val_files), sampler, seed)
    train.summary = {"training_crops": len(data["files"]), "training_people": data["train_people"],
                     "background_patches": len(data["bank"].backgrounds)}
    return train, val


class DetectorModule(pl.LightningModule):
    """The O-Detector's training step (automatic optimisation: one optimiser, no discriminator)."""

    kind = "detector"
    monitor = "val/iou"
    discriminator = None

    def __init__(self, config: dict, stage: str = "", id_weight: float | None = None):
        super().__init__()
        self.save_hyperparameters({"config": config, "stage": stage})
        self.config, self.stage = config, stage
        own = section(config)
        self.network_config = dict(own.get("network") or {})
        self.detector = get_model("detector", **self.network_config)
        self.mask_settings = {**DEFAULT_MASK, **(own.get("mask") or {})}
        self.dice_weight = float(((config.get("losses") or {}).get("detector") or {}).get("dice", 1.0))
        self.optim = dict((config.get("optim") or {}).get("detector") or {})
        self.half = str((config.get("data") or {}).get("half", "A")).upper()
        self.planned_steps: int | None = None
        self.families: dict = {}
        self._val: list = []

    def forward(self, x):
        return self.detector(x)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.detector.parameters(), lr=float(self.optim.get("lr", 2e-3)),
                                     weight_decay=float(self.optim.get("weight_decay", 0.0)))
        self.planned_steps = int(self.trainer.estimated_stepping_batches)
        floor = float(self.optim.get("min_lr_fraction", 0.05))

        def cosine(step: int) -> float:
            planned = max(int(self.planned_steps or 1), 1)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(step, planned) / planned))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_train_start(self):
        dataset = getattr(self.trainer.train_dataloader, "dataset", None)
        self.families = getattr(dataset, "families", {}) or {}

    def training_step(self, batch, batch_idx):
        x = batch["image"].contiguous(memory_format=torch.channels_last)
        loss, parts = L.detector_loss(self.detector(x), batch["mask"], self.dice_weight)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"stage {self.stage}: non-finite detector loss at batch {self.global_step}")
        self.log_dict({"train/loss": loss.detach(), "train/bce": parts["bce"], "train/dice": parts["dice"]},
                      batch_size=x.shape[0])
        return loss

    def validation_step(self, batch, batch_idx):
        probabilities = torch.sigmoid(self.detector(batch["image"]))[:, 0].float().cpu().numpy()
        predicted = postprocess(probabilities, **self.mask_settings)
        truth = batch["mask"][:, 0].cpu().numpy() > 0.5
        self._val.append((mask_metrics(predicted, truth), batch["clean"].cpu().numpy()))

    def on_validation_epoch_end(self):
        if not self._val:
            return
        merged = {k: np.concatenate([m[k] for m, _ in self._val]) for k in self._val[0][0]}
        clean = np.concatenate([c for _, c in self._val])
        self._val = []
        occluded = summarize_metrics({k: v[~clean] for k, v in merged.items()})
        on_clean = summarize_metrics({k: v[clean] for k, v in merged.items()})
        logs = {"val/iou": occluded["iou"], "val/dice": occluded["dice"], "val/recall": occluded["recall"],
                "val/clean_pred_area": on_clean["pred_area"], "val/clean_false_alarm": on_clean["false_alarm_rate"]}
        self.log_dict({k: float(0.0 if math.isnan(v) else v) for k, v in logs.items()})

    def inference_meta(self) -> dict:
        return detector_meta(self.network_config, None, self.half, mask=self.mask_settings,
                             recipe=self.config.get("recipe"), **self.families)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["idinpaint"] = self.inference_meta()

    def load_weights(self, state_dict: dict, prefixes: tuple[str, ...]) -> list[str]:
        """Copy ``detector.*`` entries of ``state_dict`` (shapes checked); returns the prefixes found."""
        own = self.state_dict()
        update = {k: v for k, v in state_dict.items() if k.startswith("detector.")}
        bad = [k for k, v in update.items() if k not in own or own[k].shape != v.shape]
        if bad:
            raise ValueError(f"checkpoint entry {bad[0]} does not fit this detector: network configs differ")
        self.load_state_dict(update, strict=False)
        return ["detector."] if update else []
