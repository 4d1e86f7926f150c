"""Staged training from one YAML file (``config/train.yaml``).

A recipe (``smoke``, ``cpu``, ``paper``, ...; the ``recipes:`` of the file) is the file's ``defaults``
deep-merged with the recipe's own keys. Its ``stages`` list runs in order; each stage names the model it trains (``ca`` or
``fusor``), its length (``steps`` = training batches, or ``epochs``), optionally ``id_weight``
(the identity-loss weight of that stage; 5 -> 7 -> 9 as in the seed), ``data`` and ``losses``
overrides (deep-merged into the recipe's for that stage only) and ``init_from`` (a training
checkpoint or an exported ``inpainter.pt``, e.g. a shipped ``checkpoints/*.pt``, to start from;
``{half}`` in the path becomes the run's half) with ``init_only`` (a list of the parts to take from
it, e.g. ``[ca]``: a fresh Fusor on a shipped model's CA).

Run folder (``--output``, default ``results/train/<recipe>_half<A|B>``; its format has one owner,
:mod:`idinpaint.runs`, which writes and reads it)::

    provenance.json   config, package versions, git SHA, machine
    config.json       the resolved recipe (a later run into the same folder must match it)
    run.json          stage summaries and the final checkpoint
    <stage>/last.ckpt the stage's latest state (written atomically, every ``checkpoint_every`` batches and at the end)
    <stage>/best.ckpt best by ``val/id_similarity`` (a ``detector`` stage: ``val/iou``)
    <stage>/inpainter.pt the stage's inference file (a ``detector`` stage: ``odetector.pt``), exported from best.ckpt (``trainer.export: best``,
                      the default) or last.ckpt (``export: last``: selecting by the loss network's own
                      similarity favours whatever fools it most)
    <stage>/stage.json status (done / failed), batches, seconds, images/s, best score
    <stage>/snapshots/step_NNNNNN.pt  the evaluated generator (its EMA copy where ``gan.ema`` is set)
                      as an inference file every ``trainer.snapshot_every`` batches, for learning
                      curves scored afterwards (``idinpaint evaluate curves``)
    tb/<stage>/       TensorBoard logs (every loss, image grids, hparams)

Each stage starts from the previous stage's ``last.ckpt`` (weights; a Fusor stage takes the CA
from it), or from ``init_from`` when a stage gives one. Re-running the same command resumes:
finished stages are skipped and an unfinished stage continues from its ``last.ckpt``; a finished
stage whose ``steps`` were raised since (``--set``, or the YAML) continues too, so a long run can
grow over several sittings;
``resume=CKPT`` resumes the stage that checkpoint belongs to. Seeds are fixed
(``seed_everything(seed, workers=True)``; masks are seeded per item). Trainer settings
(accelerator, devices, strategy, num_nodes, precision) come from ``trainer`` in the config, so the
same run scales to multi-GPU DDP by editing the config only.
"""
from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import torch

from idinpaint.checkpoints import export_checkpoint, export_detector, read_checkpoint, write_inference_file
from idinpaint.config import TRAIN_CONFIG as DEFAULT_CONFIG
from idinpaint.config import deep_merge, load_training_config
from idinpaint.data.lfw import lfw_training_files, split_by_identity
from idinpaint.data.registry import DATASETS, dataset_root, list_images
from idinpaint.paths import aligned_folder
from idinpaint.paths import run_dir as default_run_dir
from idinpaint.progress import quiet_training, stage_progress
from idinpaint.runs import EXPORT_NAMES, read_stage, snapshot_file, start_run, write_run, write_stage
from idinpaint.training.data import FaceFolderDataset
from idinpaint.training.masks import MaskSampler
from idinpaint.training.budget import TimeBudget
from idinpaint.training.detector import DetectorModule, detector_datasets
from idinpaint.training.modules import MODULES, NonFiniteLossError

#: What a stage's ``model`` trains: the Lightning module, its datasets and how its inference file is made.
STAGE_MODULES = {**MODULES, "detector": DetectorModule}
EXPORTERS = {"ca": export_checkpoint, "fusor": export_checkpoint, "detector": export_detector}

# --- data ---------------------------------------------------------------------------------------

def _resolve_path(path) -> Path:
    """A path named in the config: the one resolution (:func:`~idinpaint.paths.aligned_folder`): absolute as
    given, ``data/...`` under the data folder, anything else against the repository root."""
    return aligned_folder(path)


def build_datasets(config: dict, data_cfg: dict):
    """(train dataset, validation dataset) for a stage's data settings."""
    kind = data_cfg.get("dataset", "lfw_half")
    if kind == "lfw_half":
        root = aligned_folder(data_cfg.get("root"))
        files = lfw_training_files(data_cfg.get("half", "A"), root)
    elif kind == "folder":
        given = data_cfg.get("root")
        if not given:
            raise ValueError("data.dataset 'folder' needs data.root (a folder or a registered dataset name)")
        root = dataset_root(given) if given in DATASETS else _resolve_path(given)
        files = [str(p) for p in list_images(root)]
    else:
        raise ValueError(f"unknown data.dataset {kind!r}; valid: lfw_half, folder")
    seed = int(config.get("seed", 0))
    train_files, val_files = split_by_identity(files, int(data_cfg.get("val_images", 64)), seed)
    if data_cfg.get("limit"):
        train_files = train_files[: int(data_cfg["limit"])]
    masks = config.get("masks", {})
    sampler = MaskSampler(masks.get("mix"), free_form=masks.get("free_form"),
                          maskthface_jitter=masks.get("maskthface_jitter", 2.0))
    reference = config.get("sampler", {}).get("source") == "reference"
    train = FaceFolderDataset(root, train_files, sampler, seed=seed, flip=bool(data_cfg.get("flip", True)),
                              reference=reference)
    val = FaceFolderDataset(root, val_files, sampler, seed=seed + 1, deterministic=True, reference=reference)
    return train, val


def _loaders(train, val, data_cfg: dict):
    from torch.utils.data import DataLoader

    workers = int(data_cfg.get("num_workers", 0))
    common = {"num_workers": workers, "persistent_workers": workers > 0}
    return (DataLoader(train, batch_size=int(data_cfg.get("batch_size", 8)), shuffle=True, drop_last=True, **common),
            DataLoader(val, batch_size=int(data_cfg.get("val_batch_size", 16)), shuffle=False, **common))


# --- callbacks ----------------------------------------------------------------------------------

def _callbacks():
    import pytorch_lightning as pl

    class LastCheckpoint(pl.Callback):
        """Atomically (temp file + rename) writes ``last.ckpt`` every ``every`` batches and at the end."""

        def __init__(self, path: Path, every: int):
            self.path, self.every, self.batches = Path(path), max(1, int(every)), 0

        def save(self, trainer):
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            try:
                trainer.save_checkpoint(tmp, weights_only=False)
            except BaseException:  # an interrupt mid-save: the last whole last.ckpt stays, no temp file
                tmp.unlink(missing_ok=True)
                raise
            if trainer.is_global_zero:
                os.replace(tmp, self.path)
            trainer.strategy.barrier("last_checkpoint")

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.batches += 1
            if self.batches % self.every == 0:
                self.save(trainer)

        def on_train_end(self, trainer, pl_module):
            self.save(trainer)

    class SpeedMeter(pl.Callback):
        """Training images per second (all ranks), timed over training batches after ``warmup``."""

        def __init__(self, warmup: int = 2):
            self.warmup, self.batches, self.images, self.seconds, self._start = warmup, 0, 0, 0.0, None

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self._start = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.batches += 1
            if self.batches > self.warmup and self._start is not None:
                self.seconds += time.perf_counter() - self._start
                self.images += int(batch["image"].shape[0]) * trainer.world_size

        @property
        def images_per_second(self) -> float | None:
            return round(self.images / self.seconds, 3) if self.seconds > 0 else None

    class Snapshots(pl.Callback):
        """Every ``every`` batches (counted by the global step, so a resumed stage keeps the grid), and
        at the batch where the stage ends (its steps done, or its time budget spent): the module's
        inference file (its EMA generator where there is one) into the stage folder's snapshots
        (:func:`idinpaint.runs.snapshot_file`)."""

        def __init__(self, stage_folder: Path, every: int, optimizers: int):
            self.folder, self.every, self.optimizers = Path(stage_folder), int(every or 0), optimizers

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step // self.optimizers % max(self.every, 1) == 0:
                self._save(trainer, pl_module)

        def on_train_end(self, trainer, pl_module):
            self._save(trainer, pl_module)

        def _save(self, trainer, pl_module):
            batches = trainer.global_step // self.optimizers
            if self.every <= 0 or batches == 0 or not trainer.is_global_zero:
                return
            target = snapshot_file(self.folder, batches)
            if not target.is_file():
                write_inference_file({"idinpaint": pl_module.inference_meta(), "state_dict": pl_module.state_dict()},
                                     target, source=f"{pl_module.stage} at batch {batches}")

    class BatchCount(pl.Callback):
        """The stage's batches done (the global step, so a resumed stage counts from where it was): a
        bar in a terminal, a line every few minutes in a notebook or a log file, and the line an
        interrupt prints (:func:`idinpaint.progress.stage_progress`)."""

        def __init__(self, total: int | None, name: str, optimizers: int):
            self.total, self.desc, self.optimizers, self.counter = total, f"stage {name}", optimizers, None

        def on_train_start(self, trainer, pl_module):
            if trainer.is_global_zero:
                self.counter = stage_progress(self.total, "batches", self.desc,
                                              initial=trainer.global_step // self.optimizers)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if self.counter is not None:
                self.counter.update(trainer.global_step // self.optimizers - self.counter.n)

        def on_train_end(self, trainer, pl_module):
            if self.counter is not None:
                self.counter.close()

    return LastCheckpoint, SpeedMeter, Snapshots, BatchCount


def build_trainer(config: dict, stage: dict, stage_dir: Path, run_dir: Path, optimizers: int,
                  monitor: str = "val/id_similarity"):
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint
    from pytorch_lightning.loggers import TensorBoardLogger

    t = config.get("trainer", {})
    LastCheckpoint, SpeedMeter, Snapshots, BatchCount = _callbacks()
    count = BatchCount(int(stage["steps"]) if stage.get("steps") is not None else None, stage["name"], optimizers)
    best = ModelCheckpoint(dirpath=stage_dir, filename="best", monitor=monitor, mode="max",
                           save_top_k=1, save_last=False, auto_insert_metric_name=False,
                           enable_version_counter=False)
    last = LastCheckpoint(stage_dir / "last.ckpt", t.get("checkpoint_every", 100))
    speed = SpeedMeter(int(t.get("speed_warmup", 2)))
    val_every = t.get("val_every_n_steps")
    timing = {}
    if stage.get("steps") is not None:
        # manual optimisation: Lightning counts one global step per optimizer.step()
        timing.update(max_steps=int(stage["steps"]) * optimizers, max_epochs=-1)
    else:
        timing.update(max_epochs=int(stage["epochs"]), max_steps=-1)
    if val_every:
        timing.update(val_check_interval=int(val_every), check_val_every_n_epoch=None)
    logger = TensorBoardLogger(str(run_dir), name="tb", version=stage["name"], default_hp_metric=False)
    trainer = pl.Trainer(
        accelerator=t.get("accelerator", "auto"), devices=t.get("devices", 1), strategy=t.get("strategy", "auto"),
        num_nodes=int(t.get("num_nodes", 1)), precision=t.get("precision", "32-true"),
        sync_batchnorm=bool(t.get("sync_batchnorm", False)), limit_val_batches=t.get("limit_val_batches", 1.0),
        log_every_n_steps=int(t.get("log_every_n_steps", 50)), num_sanity_val_steps=0, logger=logger,
        callbacks=[best, last, speed, count, TimeBudget(t.get("max_minutes"), optimizers), Snapshots(stage_dir, t.get("snapshot_every", 0), optimizers)], enable_progress_bar=bool(t.get("progress_bar", False)),
        enable_model_summary=False, default_root_dir=str(run_dir), **timing)
    return trainer, best, speed


# --- checkpoints between stages -----------------------------------------------------------------

def _init_module(module, source: Path, log, only=None) -> None:
    checkpoint = read_checkpoint(source)
    meta = checkpoint.get("idinpaint") or {}
    if not meta:
        raise ValueError(f"{source}: not an idinpaint training checkpoint (no 'idinpaint' entry)")
    if module.kind == "ca":
        prefixes = ("ca.", "discriminator.") if meta.get("kind") == "ca" else ("ca.",)
    else:
        prefixes = ("ca.",) if meta.get("kind") == "ca" else ("ca.", "fusor.", "discriminator.")
    if module.discriminator is None:
        prefixes = tuple(p for p in prefixes if p != "discriminator.")
    if only:
        prefixes = tuple(p for p in prefixes if p.rstrip(".") in only)
    state = checkpoint.get("state_dict")
    for net, prefix in (meta.get("prefixes") or {}).items():  # e.g. the CA's EMA copy, "ca_ema."
        if state and prefix != f"{net}." and any(k.startswith(prefix) for k in state):
            state = {**{k: v for k, v in state.items() if not k.startswith(f"{net}.")},
                     **{f"{net}.{k[len(prefix):]}": v for k, v in state.items() if k.startswith(prefix)}}
    if state is None and "state_dicts" in meta:
        # An exported inference file (e.g. a shipped checkpoints/*.pt): {network: weights}, no
        # discriminator — a stage initialised from it starts its discriminator from scratch.
        state = {f"{net}.{key}": value for net, weights in meta["state_dicts"].items() for key, value in weights.items()}
    if not state:
        raise ValueError(f"{source}: holds no weights (neither a training checkpoint nor an exported inpainter)")
    if not any(k.startswith("discriminator.") for k in state):
        prefixes = tuple(p for p in prefixes if p != "discriminator.")
    loaded = module.load_weights(state, prefixes)
    if "ca." not in loaded:
        raise ValueError(f"{source}: holds no CA weights")
    log(f"  initialised {', '.join(p.rstrip('.') for p in loaded)} from {source}")


def _flatten(prefix: str, value, out: dict) -> dict:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}/{key}" if prefix else str(key), item, out)
    elif isinstance(value, (list, tuple)):
        out[prefix] = str(list(value))
    elif value is None or isinstance(value, (bool, int, float, str)):
        out[prefix] = "null" if value is None else value
    return out


def _log_hparams(trainer, config: dict, spec: dict, best_score) -> None:
    """The stage's hyper-parameters with its best validation score, for TensorBoard's HParams tab."""
    if trainer.logger is None or not trainer.is_global_zero:
        return
    params = _flatten("", {k: v for k, v in config.items() if k != "stages"}, {})
    params.update(_flatten("stage", spec, {}))
    score = float(best_score) if best_score is not None else float("nan")
    trainer.logger.log_hyperparams(params, metrics={"hparams/best_val_id_similarity": score})
    trainer.logger.finalize("success")


def run_training(config_path=DEFAULT_CONFIG, recipe: str = "smoke", stage: str | None = None,
                 resume=None, half: str | None = None, output=None, overrides: dict | None = None,
                 log=print, *, profile: str | None = None) -> dict:
    """Run a recipe's stages (or one stage); returns the run summary (also written to ``run.json``).
    ``profile``: the older name of ``recipe``.

    The summary's ``status`` is ``done`` or ``failed``; a failed stage (non-finite loss) carries the
    message in ``error`` and later stages do not run.
    """
    import warnings

    import pytorch_lightning as pl

    extra = copy.deepcopy(overrides or {})
    if half is not None:
        extra = deep_merge(extra, {"data": {"half": str(half).upper()}})
    recipe = profile if profile is not None else recipe
    config = load_training_config(config_path, recipe, extra)
    half_name = str(config.get("data", {}).get("half", "A")).upper()
    run_dir = Path(output) if output else default_run_dir(recipe, half_name)
    start_run(run_dir, config)

    threads = config.get("trainer", {}).get("num_threads")
    if threads:
        torch.set_num_threads(int(threads))
    stages = config["stages"]
    names = [s["name"] for s in stages]
    resume_stage = None
    if resume is not None:
        meta = read_checkpoint(resume).get("idinpaint") or {}
        resume_stage = meta.get("stage")
        if resume_stage not in names:
            raise ValueError(f"{resume}: belongs to stage {resume_stage!r}, not one of this recipe's stages {names}")
    if stage is not None and stage not in names:
        raise ValueError(f"unknown stage {stage!r}; this recipe's stages: {', '.join(names)}")

    summary = {"recipe": recipe, "half": half_name, "run_dir": str(run_dir), "stages": [], "status": "done"}
    previous_ckpt: Path | None = None
    trained_here = False
    for index, spec in enumerate(stages):
        name = spec["name"]
        stage_dir = run_dir / name
        status = read_stage(stage_dir)
        selected = stage is None or stage == name
        skip_before_resume = resume_stage is not None and names.index(name) < names.index(resume_stage)
        grown = (status.get("status") == "done" and spec.get("steps") is not None
                 and int(status.get("batches") or 0) < int(spec["steps"]))  # steps raised since: go on
        done_before = status.get("status") == "done" and not grown and resume_stage != name and stage != name
        # once a stage has (re)trained here, later stages are stale and run again
        if not selected or skip_before_resume or (done_before and not trained_here):
            if (stage_dir / "last.ckpt").is_file():
                previous_ckpt = stage_dir / "last.ckpt"
            if status:
                summary["stages"].append({**status, "skipped": True})
            continue

        log(f"stage {index + 1}/{len(stages)} {name}: {spec['model']}"
            + (f", id_weight {spec['id_weight']}" if spec.get("id_weight") is not None else ""))
        pl.seed_everything(int(config.get("seed", 0)) + index, workers=True, verbose=False)
        data_cfg = deep_merge(config.get("data", {}), spec.get("data") or {})
        train, val = (detector_datasets if spec["model"] == "detector" else build_datasets)(config, data_cfg)
        train_loader, val_loader = _loaders(train, val, data_cfg)
        # A stage may change loss weights (e.g. a refinement stage with a stronger adversarial term);
        # the networks' configs stay the recipe's, so every stage's checkpoint fits the next.
        stage_config = deep_merge(config, {"losses": spec["losses"]}) if spec.get("losses") else config
        module = STAGE_MODULES[spec["model"]](stage_config, stage=name, id_weight=spec.get("id_weight"))

        ckpt_path = None
        if resume_stage == name:
            ckpt_path = str(resume)
        elif (stage_dir / "last.ckpt").is_file() and (status.get("status") != "done" or grown):  # interrupted, failed, grown
            ckpt_path = str(stage_dir / "last.ckpt")
        if ckpt_path:
            log(f"  resuming from {ckpt_path}")
        else:
            source = spec.get("init_from") or previous_ckpt
            if source is not None:
                source = str(source).replace("{half}", half_name)
                _init_module(module, _resolve_path(source), log, spec.get("init_only"))
            elif spec["model"] == "fusor":
                raise ValueError(f"stage {name} trains the Fusor on a frozen CA but no CA checkpoint precedes it: "
                                 "run a ca stage first or give the stage init_from: <checkpoint>")
        trained_here = True
        stage_dir.mkdir(parents=True, exist_ok=True)
        if ckpt_path is None:  # a fresh start: outputs of an earlier run of this stage are stale
            for stale in ("last.ckpt", "best.ckpt", EXPORT_NAMES[spec["model"]]):
                (stage_dir / stale).unlink(missing_ok=True)
        write_stage(stage_dir, {"stage": name, "status": "running", "resumed_from": ckpt_path})
        optimizers = 1 + (module.discriminator is not None)
        with quiet_training():
            trainer, best, speed = build_trainer(config, spec, stage_dir, run_dir, optimizers,
                                                 getattr(module, "monitor", "val/id_similarity"))
        record = {"stage": name, "model": spec["model"], "id_weight": spec.get("id_weight"),
                  "train_images": len(train), "val_images": len(val), "batch_size": data_cfg.get("batch_size"),
                  **getattr(train, "summary", {})}
        started = time.time()
        try:
            with quiet_training(), warnings.catch_warnings():
                # The Fusor's CA is frozen in eval mode on purpose; Lightning warns about any such module.
                warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
                trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path)
        except NonFiniteLossError as err:
            record.update(status="failed", error=str(err), seconds=round(time.time() - started, 1),
                          last_ckpt=str(stage_dir / "last.ckpt") if (stage_dir / "last.ckpt").is_file() else None)
            write_stage(stage_dir, record)
            log(f"  STOPPED: {err}")
            summary["stages"].append(record)
            summary.update(status="failed", error=str(err))
            write_run(run_dir, summary)
            return summary
        best_score = best.best_model_score
        best_path = Path(best.best_model_path) if best.best_model_path else None
        use_best = config.get("trainer", {}).get("export", "best") == "best" and best_path is not None and best_path.is_file()
        export_from = best_path if use_best else stage_dir / "last.ckpt"
        exported = None
        if trainer.is_global_zero and export_from.is_file():
            exported = str(EXPORTERS[spec["model"]](export_from, stage_dir / EXPORT_NAMES[spec["model"]]))
        _log_hparams(trainer, config, spec, best_score)
        record.update(status="done", seconds=round(time.time() - started, 1),
                      batches=trainer.global_step // optimizers, batches_run=speed.batches, resumed_from=ckpt_path,
                      images_per_second=speed.images_per_second,
                      best_val_id_similarity=None if best_score is None else round(float(best_score), 5),
                      best_ckpt=best.best_model_path or None, last_ckpt=str(stage_dir / "last.ckpt"),
                      **{"detector" if spec["model"] == "detector" else "inpainter": exported},
                      val_metrics={k: round(float(v), 5) for k, v in trainer.callback_metrics.items()
                                   if k.startswith("val/")})
        write_stage(stage_dir, record)
        log(f"  done: {record['batches']} batches in {record['seconds']} s"
            + (f", {record['images_per_second']} images/s" if record["images_per_second"] else "")
            + (f", best {getattr(module, 'monitor', 'val/id_similarity')} {record['best_val_id_similarity']}"
               if best_score is not None else ""))
        summary["stages"].append(record)
        previous_ckpt = stage_dir / "last.ckpt"
    if previous_ckpt is not None:
        summary["final_checkpoint"] = str(previous_ckpt)
        for key, name in (("final_inpainter", EXPORT_NAMES["ca"]), ("final_detector", EXPORT_NAMES["detector"])):
            if (previous_ckpt.parent / name).is_file():
                summary[key] = str(previous_ckpt.parent / name)
    write_run(run_dir, summary)
    return summary
