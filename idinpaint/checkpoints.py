"""The checkpoint format: the one place a weights file is read (``torch.load(..., weights_only=True)``:
no pickled code runs), built into networks, exported and described.

Two layouts are accepted, both carrying an ``idinpaint`` entry written by the training modules
(:func:`inference_meta`):

* a training checkpoint (``last.ckpt`` / ``best.ckpt``): ``idinpaint`` holds the model kind
  (``ca`` or ``ca_id``), the model configs and the ``state_dict`` prefixes of each network;
* an exported inference file (:func:`export_checkpoint`, ``inpainter.pt``): the same entry plus
  ``state_dicts`` ({network: state_dict}) and nothing else.

A wrong kind, a missing entry, a config that does not build or weights that do not fit give a
:class:`CheckpointError` with a one-line message. The shipped pair (one model per LFW half) is
found by :func:`shipped_checkpoints`; :func:`checkpoint_card` writes what produced a file.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from idinpaint.models import get_model
from idinpaint.models.detector import Detector
from idinpaint.models.inpainter import Inpainter
from idinpaint.paths import REPO_ROOT
from idinpaint.runinfo import atomic_file
from idinpaint.runs import read_run_files

#: The version of the ``idinpaint`` entry this code writes and reads.
CHECKPOINT_FORMAT = 1
KINDS = ("ca", "ca_id")
NETWORKS = {"ca": ("ca",), "ca_id": ("ca", "fusor")}
SUPPORTED_FORMATS = (CHECKPOINT_FORMAT,)


def inference_meta(kind: str, stage: str, models: dict, sampler: dict | None = None) -> dict:
    """The ``idinpaint`` entry a training module stores in its checkpoints: kind, stage, network
    configs and the state-dict prefix of each network (``ca.``, ``fusor.``)."""
    meta = {"format": CHECKPOINT_FORMAT, "kind": kind, "stage": stage, "models": models,
            "prefixes": {net: f"{net}." for net in models}}
    if sampler is not None:
        meta["sampler"] = sampler
    return meta


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line naming the file and the reason."""


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def read_checkpoint(path) -> dict:
    """``torch.load(path, weights_only=True)`` with one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling / zip / truncation errors all mean "not usable"
        reason = _first_line(err)
        if reason.startswith("Weights only load failed"):
            reason = "not a torch file, or it holds objects other than tensors and plain containers"
        raise CheckpointError(f"{path}: not a loadable weights-only checkpoint ({reason})") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("idinpaint"), dict):
        raise CheckpointError(f"{path}: not an idinpaint inpainting checkpoint (no 'idinpaint' entry)")
    return checkpoint


def _state_dicts(checkpoint: dict, meta: dict, path) -> dict[str, dict]:
    kind = meta["kind"]
    if "state_dicts" in meta:
        found = meta["state_dicts"]
    else:
        full = checkpoint.get("state_dict") or {}
        found = {}
        for net, prefix in (meta.get("prefixes") or {}).items():
            found[net] = {k[len(prefix):]: v for k, v in full.items() if k.startswith(prefix)}
    missing = [net for net in NETWORKS[kind] if not found.get(net)]
    if missing:
        raise CheckpointError(f"{path}: '{kind}' checkpoint without weights for {', '.join(missing)}")
    return found


def load_checkpoint(path, kind: str | None = None, device=None, expect: dict | None = None,
                    ca_only: bool = False) -> Inpainter:
    """Build the networks of a checkpoint (see the module docstring).

    ``kind`` (``ca`` / ``ca_id``) is checked when given; ``expect`` ({network: config}) is compared
    with the configs stored in the checkpoint. ``ca_only``: build only the CA of either kind (the
    frozen coarse inpainter a CA+ID model builds on: the ``ca`` row of the ablation). Raises
    :class:`CheckpointError` on any mismatch.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; valid: {', '.join(KINDS)}")
    checkpoint = read_checkpoint(path)
    meta = checkpoint["idinpaint"]
    found_kind = meta.get("kind")
    if found_kind not in KINDS:
        raise CheckpointError(f"{path}: unknown model kind {found_kind!r} (expected one of {', '.join(KINDS)})")
    if meta.get("format") not in SUPPORTED_FORMATS:
        raise CheckpointError(f"{path}: checkpoint format {meta.get('format')!r} is not supported "
                              f"(this version reads {SUPPORTED_FORMATS})")
    if ca_only:
        if kind not in (None, "ca"):
            raise ValueError(f"ca_only loads the CA network, not a {kind!r} model")
        kind = found_kind
    if kind is not None and found_kind != kind:
        raise CheckpointError(f"{path}: this is a '{found_kind}' checkpoint (stage {meta.get('stage') or '?'}), "
                              f"but a '{kind}' model was asked for")
    configs = meta.get("models") or {}
    for net, wanted in (expect or {}).items():
        if configs.get(net) != wanted:
            raise CheckpointError(f"{path}: {net} config {configs.get(net)} differs from the expected {wanted}")
    weights = _state_dicts(checkpoint, meta, path)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    built_kind = "ca" if ca_only else found_kind
    nets = {}
    for net in NETWORKS[built_kind]:
        try:
            model = get_model(net, **(configs.get(net) or {}))
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{path}: incompatible {net} config ({_first_line(err)})") from None
        try:
            model.load_state_dict(weights[net], strict=True)
        except RuntimeError as err:
            raise CheckpointError(f"{path}: {net} weights do not fit its stored config ({_first_line(err)})") from None
        nets[net] = model.to(device).eval().requires_grad_(False)
    return Inpainter(built_kind, nets["ca"], nets.get("fusor"), device, meta, str(path))


def export_checkpoint(source, target, ca_only: bool = False) -> Path:
    """Write a small inference-only file (kind, configs, ``state_dicts``) from a training checkpoint
    or an exported file. ``ca_only``: keep only the CA (kind ``ca``) — e.g. to train a fresh Fusor on
    a shipped model's CA with ``init_from``."""
    return write_inference_file(read_checkpoint(source), target, ca_only=ca_only, source=source)


def write_inference_file(checkpoint: dict, target, ca_only: bool = False, source="checkpoint") -> Path:
    """:func:`export_checkpoint` of a checkpoint already in memory (``{"idinpaint": meta,
    "state_dict": ...}``, e.g. a training module's state: the EMA snapshots of a run)."""
    meta = dict(checkpoint["idinpaint"])
    if meta.get("kind") not in KINDS:
        raise CheckpointError(f"{source}: unknown model kind {meta.get('kind')!r}")
    meta["state_dicts"] = _state_dicts(checkpoint, meta, source)
    meta.pop("prefixes", None)
    if ca_only:
        meta.update(kind="ca", models={"ca": meta["models"]["ca"]}, state_dicts={"ca": meta["state_dicts"]["ca"]})
    target = Path(target)
    with atomic_file(target) as tmp:
        torch.save({"idinpaint": meta}, tmp)
    return target


def training_runs(runs) -> list[dict]:
    """Each run folder (``idinpaint train --output``) as a record: recipe, half, command, git SHA,
    versions, machine, resolved config and finished stages. ``RUN_DIR:STAGE[,STAGE]`` keeps only the
    named stages (the part of a run a model was built from, e.g. ``results/train/cpu_A:ca``). Raises
    FileNotFoundError naming the folder that is not a run, ValueError for a stage it does not have."""
    records = []
    for entry in runs:
        folder, _, wanted = str(entry).partition(":")
        run = Path(folder)
        loaded = read_run_files(run)
        provenance = {k: loaded["provenance"].get(k) for k in ("created", "argv", "git_sha", "versions", "machine")}
        stages = [s for s in loaded["run"].get("stages", []) if s.get("status") == "done"]
        if wanted:
            names = wanted.split(",")
            unknown = sorted(set(names) - {s.get("stage") for s in stages})
            if unknown:
                raise ValueError(f"{run}: no finished stage {', '.join(unknown)}")
            stages = [s for s in stages if s.get("stage") in names]
        recipe = loaded["run"].get("recipe", loaded["run"].get("profile"))   # "profile": a run from before recipes
        records.append({"run_dir": str(run), "recipe": recipe, "half": loaded["run"].get("half"),
                        **provenance, "config": loaded["config"], "stages": stages})
    return records


def checkpoint_card(checkpoint, runs=(), notes: dict | None = None) -> dict:
    """What produced an exported inpainter, as JSON: its SHA-256, kind and network configs, the
    :func:`training_runs` that trained its parts (in training order, e.g. the CA's run, then the
    Fusor's) and their total stage time. ``notes`` adds free fields (what it is evaluated on, ...)."""
    path = Path(checkpoint)
    meta = read_checkpoint(path)["idinpaint"]
    records = training_runs(runs)
    seconds = sum(stage.get("seconds") or 0 for run in records for stage in run["stages"])
    card = {"file": path.name, "sha256": file_sha256(path), "bytes": path.stat().st_size, "kind": meta.get("kind"),
            "models": meta.get("models"), "sampler": meta.get("sampler")}
    facts = {"train_seconds_total": round(seconds, 1), "runs": records}
    clash = sorted(set(notes or {}) & (set(card) | set(facts)))
    if clash:
        raise ValueError(f"notes may not replace what the card measures: {', '.join(clash)}")
    return {**card, **(notes or {}), **facts}


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file (hex), read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_digest(module: torch.nn.Module) -> str:
    """SHA-256 (12 hex digits) of a network's state dict: names, dtypes, shapes and values."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16 else tensor.float().numpy().tobytes())
    return digest.hexdigest()[:12]


SHIPPED_DIR = REPO_ROOT / "checkpoints"
SHIPPED_RECIPE = "cpu"
CHECKPOINT_DIR_ENV = "IDINPAINT_CHECKPOINT_DIR"


def shipped_checkpoints(recipe: str = SHIPPED_RECIPE, folder=None) -> dict[str, Path]:
    """The committed LFW-half models: {"A": <folder>/idinpainter_<recipe>_halfA.pt, "B": ...}.

    The model of half A is evaluated on pairs folds 1-5 and never saw their people (it trained on
    folds 6-10's people + the unpaired ones); half B the other way round. ``$IDINPAINT_CHECKPOINT_DIR``
    points the default ``ca`` / ``ca_id`` fillers at another folder of the same two names (your own
    trained pair), so every command and notebook evaluates it unchanged.
    """
    return shipped_pair(INPAINTER_PREFIX, recipe, folder, CHECKPOINT_DIR_ENV)


INPAINTER_PREFIX, DETECTOR_PREFIX = "idinpainter", "odetector"


def shipped_pair(prefix: str, recipe: str = SHIPPED_RECIPE, folder=None, env: str | None = None) -> dict[str, Path]:
    """{"A": <folder>/<prefix>_<recipe>_halfA.pt, "B": ...}: the one naming of the LFW-half pairs
    (inpainters and O-Detectors); ``folder`` defaults to ``$<env>`` or ``checkpoints/``."""
    folder = Path(folder or (os.environ.get(env) if env else None) or SHIPPED_DIR)
    return {half: folder / f"{prefix}_{recipe}_half{half}.pt" for half in ("A", "B")}


# --- O-Detector files ----------------------------------------------------------------------------------
#: ``odetector_<recipe>_half<H>.pt``: an ``idinpaint`` entry of kind ``detector`` (format, network
#: config, state dict, half, held-out families, mask settings), read with ``weights_only``; the
#: training module stores the same entry in its ``.ckpt`` files (:func:`export_detector` makes the
#: small file from them).
DETECTOR_KIND = "detector"
DETECTOR_DIR_ENV = "IDINPAINT_DETECTOR_DIR"


def detector_meta(model_config: dict, state_dict: dict | None = None, half: str | None = None, **extra) -> dict:
    """The ``idinpaint`` entry of a detector file (``state_dict`` None: of a training checkpoint,
    whose weights are its ``state_dict`` under the prefix ``detector.``)."""
    meta = {"format": CHECKPOINT_FORMAT, "kind": DETECTOR_KIND, "stage": DETECTOR_KIND,
            "models": {DETECTOR_KIND: model_config}, "half": half, **extra}
    if state_dict is None:
        meta["prefixes"] = {DETECTOR_KIND: f"{DETECTOR_KIND}."}
    else:
        meta["state_dicts"] = {DETECTOR_KIND: state_dict}
    return meta


def _save_atomic(payload: dict, target) -> Path:
    target = Path(target)
    with atomic_file(target) as tmp:
        torch.save(payload, tmp)
    return target


def save_detector(model: torch.nn.Module, model_config: dict, target, half: str | None = None, **extra) -> Path:
    """Write an inference file of a detector network (weights-only loadable), atomically."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return _save_atomic({"idinpaint": detector_meta(dict(model_config), state, half, **extra)}, target)


def _detector_parts(checkpoint: dict, path) -> tuple[dict, dict, dict]:
    meta = checkpoint["idinpaint"]
    if meta.get("kind") != DETECTOR_KIND:
        raise CheckpointError(f"{path}: this is a {meta.get('kind')!r} checkpoint, not an O-Detector ('detector')")
    if meta.get("format") not in SUPPORTED_FORMATS:
        raise CheckpointError(f"{path}: checkpoint format {meta.get('format')!r} is not supported "
                              f"(this version reads {SUPPORTED_FORMATS})")
    config = (meta.get("models") or {}).get(DETECTOR_KIND)
    weights = (meta.get("state_dicts") or {}).get(DETECTOR_KIND)
    if weights is None and meta.get("prefixes"):
        prefix = meta["prefixes"][DETECTOR_KIND]
        weights = {k[len(prefix):]: v for k, v in (checkpoint.get("state_dict") or {}).items() if k.startswith(prefix)}
    if not isinstance(config, dict) or not isinstance(weights, dict) or not weights:
        raise CheckpointError(f"{path}: O-Detector file without its model config or weights")
    return meta, config, weights


def export_detector(source, target, half: str | None = None) -> Path:
    """The small inference file of a detector training checkpoint (``last.ckpt`` / ``best.ckpt``)."""
    meta, config, weights = _detector_parts(read_checkpoint(source), source)
    meta = {k: v for k, v in meta.items() if k not in ("prefixes", "state_dicts", "models", "half")}
    return _save_atomic({"idinpaint": detector_meta(config, weights, half or meta.get("half"), **{
        k: v for k, v in meta.items() if k not in ("format", "kind", "stage")})}, target)


def load_detector(path, device=None, **mask_settings) -> Detector:
    """A :class:`~idinpaint.models.detector.Detector` from a detector file (or training checkpoint);
    one-line :class:`CheckpointError` for anything else."""
    meta, config, weights = _detector_parts(read_checkpoint(path), path)
    try:
        model = get_model(DETECTOR_KIND, **config)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: incompatible detector config ({_first_line(err)})") from None
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: detector weights do not fit its stored config ({_first_line(err)})") from None
    return Detector(model, meta, path, device, sha256=file_sha256(path)[:12], **mask_settings)


def shipped_detectors(recipe: str = SHIPPED_RECIPE, folder=None) -> dict[str, Path]:
    """{"A": <folder>/odetector_<recipe>_halfA.pt, "B": ...}; ``folder`` defaults to
    ``$IDINPAINT_DETECTOR_DIR`` or ``checkpoints/``."""
    return shipped_pair(DETECTOR_PREFIX, recipe, folder, DETECTOR_DIR_ENV)
