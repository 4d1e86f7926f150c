"""Inference with trained checkpoints: the ``ca`` and ``ca_id`` fillers and ``idinpaint inpaint``.

Checkpoints are read with ``torch.load(..., weights_only=True)`` (no pickled code runs). Two
layouts are accepted, both carrying an ``idinpaint`` entry written by the training modules:

* a training checkpoint (``last.ckpt`` / ``best.ckpt``): ``idinpaint`` holds the model kind
  (``ca`` or ``ca_id``), the model configs and the ``state_dict`` prefixes of each network;
* an exported inference file (:func:`export_checkpoint`, ``inpainter.pt``): the same entry plus
  ``state_dicts`` ({network: state_dict}) and nothing else.

A wrong kind, a missing entry, a config that does not build or weights that do not fit give a
:class:`CheckpointError` with a one-line message.

Blending back into the hole: :mod:`idinpaint.blending` (``poisson``, ``alpha``, ``none``).

Whatever the blend, only hole pixels change (the :class:`~idinpaint.fillers.Filler` contract).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from idinpaint.blending import BLENDS, DEFAULT_BLEND, alpha_blend, blend, blend_tag, poisson_blend  # noqa: F401 (re-exported)
from idinpaint.fillers import FILLERS, Filler, as_batch, register_filler
from idinpaint.imageio import as_mask
from idinpaint.models import get_model
from idinpaint.models.layers import composite

KINDS = ("ca", "ca_id")
CHECKPOINT_ENV = {"ca": "IDINPAINT_CA_CHECKPOINT", "ca_id": "IDINPAINT_CA_ID_CHECKPOINT"}
NETWORKS = {"ca": ("ca",), "ca_id": ("ca", "fusor")}
SUPPORTED_FORMATS = (1,)
CROP = 112


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


@dataclass
class Inpainter:
    """The networks of a checkpoint, ready for batched inference (``predict``)."""

    kind: str
    ca: torch.nn.Module
    fusor: torch.nn.Module | None
    device: torch.device
    meta: dict = field(default_factory=dict)
    path: str = ""

    @property
    def id_source(self) -> str:
        return (self.meta.get("sampler") or {}).get("source", "prior")

    def _sface(self):
        from idinpaint.recognizers.sface import load_sface_module

        return load_sface_module(str(self.device))

    @torch.no_grad()
    def predict(self, images: np.ndarray, masks: np.ndarray, batch_size: int = 32,
                references: np.ndarray | None = None) -> np.ndarray:
        """Network output pasted into the hole, RGB uint8 (N, H, W, 3); no blending.

        ``images`` RGB uint8 (N, 112, 112, 3), ``masks`` bool (N, 112, 112), True = hole;
        ``references`` (optional, ``ca_id`` with a reference-trained sampler): another photo of
        each person, used for ``z_id`` instead of the prior face.
        """
        from idinpaint.losses import sface_embedding

        out = np.empty_like(images)
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(np.array(images[start:start + batch_size])).to(self.device)
            x = x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
            m = torch.from_numpy(np.array(masks[start:start + batch_size], dtype=np.float32))[:, None].to(self.device)
            result = self.ca.inpaint(x * (1 - m), m)
            if self.fusor is not None:
                sface = self._sface()
                if references is not None:
                    ref = torch.from_numpy(np.array(references[start:start + batch_size])).to(self.device)
                    z_id = sface_embedding(sface, ref.permute(0, 3, 1, 2).float().div(127.5).sub(1.0))
                elif self.id_source == "occluded":
                    z_id = sface_embedding(sface, composite(torch.full_like(x, -1.0), x, m))
                else:
                    z_id = sface_embedding(sface, result)
                result, _, _ = self.fusor(result, m, z_id)
            pixels = ((result.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            out[start:start + batch_size] = pixels.permute(0, 2, 3, 1).cpu().numpy()
        return out


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
    checkpoint = read_checkpoint(source)
    meta = dict(checkpoint["idinpaint"])
    if meta.get("kind") not in KINDS:
        raise CheckpointError(f"{source}: unknown model kind {meta.get('kind')!r}")
    meta["state_dicts"] = _state_dicts(checkpoint, meta, source)
    meta.pop("prefixes", None)
    if ca_only:
        meta.update(kind="ca", models={"ca": meta["models"]["ca"]}, state_dicts={"ca": meta["state_dicts"]["ca"]})
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    torch.save({"idinpaint": meta}, tmp)
    os.replace(tmp, target)
    return target


def training_runs(runs) -> list[dict]:
    """Each run folder (``idinpaint train --output``) as a record: profile, half, command, git SHA,
    versions, machine, resolved config and finished stages. ``RUN_DIR:STAGE[,STAGE]`` keeps only the
    named stages (the part of a run a model was built from, e.g. ``results/train/cpu_A:ca``). Raises
    FileNotFoundError naming the folder that is not a run, ValueError for a stage it does not have."""
    import json

    records = []
    for entry in runs:
        folder, _, wanted = str(entry).partition(":")
        run = Path(folder)
        sources = {name: run / f"{name}.json" for name in ("run", "provenance", "config")}
        missing = [f.name for f in sources.values() if not f.is_file()]
        if missing:
            raise FileNotFoundError(f"{run}: not a training run folder (missing {', '.join(missing)})")
        loaded = {name: json.loads(f.read_text()) for name, f in sources.items()}
        provenance = {k: loaded["provenance"].get(k) for k in ("created", "argv", "git_sha", "versions", "machine")}
        stages = [s for s in loaded["run"].get("stages", []) if s.get("status") == "done"]
        if wanted:
            names = wanted.split(",")
            unknown = sorted(set(names) - {s.get("stage") for s in stages})
            if unknown:
                raise ValueError(f"{run}: no finished stage {', '.join(unknown)}")
            stages = [s for s in stages if s.get("stage") in names]
        records.append({"run_dir": str(run), "profile": loaded["run"].get("profile"), "half": loaded["run"].get("half"),
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
    card = {"file": path.name, "sha256": _sha256(path), "bytes": path.stat().st_size, "kind": meta.get("kind"),
            "models": meta.get("models"), "sampler": meta.get("sampler")}
    facts = {"train_seconds_total": round(seconds, 1), "runs": records}
    clash = sorted(set(notes or {}) & (set(card) | set(facts)))
    if clash:
        raise ValueError(f"notes may not replace what the card measures: {', '.join(clash)}")
    return {**card, **(notes or {}), **facts}


# --- fillers --------------------------------------------------------------------------------------

def _sha256(path, chunk: int = 1 << 20) -> str:
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


class CheckpointFiller(Filler):
    """A trained inpainter as a :class:`~idinpaint.fillers.Filler` (``ca`` or ``ca_id``).

    ``checkpoint`` defaults to ``$IDINPAINT_CA_CHECKPOINT`` / ``$IDINPAINT_CA_ID_CHECKPOINT``;
    ``kind=None`` takes whatever kind the checkpoint is. Works on 112x112 aligned crops.
    """

    cache_fills = True  # a network pass is slow on CPU: evaluation keeps the filled crops for every recogniser

    def __init__(self, checkpoint=None, kind: str | None = "ca", device=None, blend: str = DEFAULT_BLEND,
                 batch_size: int = 32, feather: float = 4.0, ca_only: bool = False):
        if blend not in BLENDS:
            raise ValueError(f"unknown blend {blend!r}; valid: {', '.join(BLENDS)}")
        if checkpoint is None:
            variable = CHECKPOINT_ENV.get(kind or "ca")
            checkpoint = os.environ.get(variable) if variable else None
            if not checkpoint:
                raise ValueError(f"filler {kind!r} needs a checkpoint: pass checkpoint=<path> or set {variable}")
        self.inpainter = load_checkpoint(checkpoint, None if ca_only else kind, device, ca_only=ca_only)
        self.name = self.inpainter.kind
        self.checkpoint = str(checkpoint)
        self.sha256 = _sha256(checkpoint)[:12]
        self.blend, self.batch_size, self.feather = blend, int(batch_size), float(feather)

    @property
    def cache_tag(self) -> str | None:
        """Evaluation cache key of a CA-only filler: the CA's own weights, not the file's hash, so a
        new Fusor trained on the same CA (same file name, new bytes) keeps its cached ``ca`` rows.
        ``ca_id`` fillers key on the whole file (their repr)."""
        if self.inpainter.fusor is not None:
            return None
        feather = f", feather={self.feather}" if self.blend != "poisson" else ""
        return f"ca:weights={weights_digest(self.inpainter.ca)}, blend={blend_tag(self.blend)!r}{feather}"

    def _fill(self, images, masks):
        if images.shape[1:3] != (CROP, CROP):
            raise ValueError(f"{self.name}: works on {CROP}x{CROP} aligned crops, got {images.shape[2]}x{images.shape[1]} "
                             "(`idinpaint inpaint` aligns photos first)")
        generated = self.inpainter.predict(images, masks, self.batch_size)
        return np.stack([blend(image, gen, mask, self.blend, self.feather)
                         for image, gen, mask in zip(images, generated, masks)])

    def __repr__(self) -> str:  # also the evaluation cache key: changes when the weights change
        return (f"CheckpointFiller(name={self.name!r}, checkpoint={self.checkpoint!r}, sha256={self.sha256!r}, "
                f"blend={blend_tag(self.blend)!r})")


SHIPPED_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
SHIPPED_PROFILE = "cpu"
CHECKPOINT_DIR_ENV = "IDINPAINT_CHECKPOINT_DIR"


def shipped_checkpoints(profile: str = SHIPPED_PROFILE, folder=None) -> dict[str, Path]:
    """The committed LFW-half models: {"A": <folder>/idinpainter_<profile>_halfA.pt, "B": ...}.

    The model of half A is evaluated on pairs folds 1-5 and never saw their people (it trained on
    folds 6-10's people + the unpaired ones); half B the other way round. ``$IDINPAINT_CHECKPOINT_DIR``
    points the default ``ca`` / ``ca_id`` fillers at another folder of the same two names (your own
    trained pair), so every command and notebook evaluates it unchanged.
    """
    if folder is None:
        folder = os.environ.get(CHECKPOINT_DIR_ENV) or SHIPPED_DIR
    folder = Path(folder)
    return {half: folder / f"idinpainter_{profile}_half{half}.pt" for half in ("A", "B")}


class LFWHalvesFiller(Filler):
    """Two checkpoints, one per LFW half: each crop goes to the model that never saw its person.

    ``fill_for(images, masks, relatives)`` routes by the person folder of each relative path
    (``Name/Name_0001.png``): people of pairs folds 1-5 to half A's model, folds 6-10 to half B's.
    People in no pair were training material for both models; they (and ``fill`` without paths)
    go to ``default_half``, or raise when it is None — so an evaluation can never leak identities.
    ``kind="ca"`` uses only the CA inside each checkpoint (the coarse fill CA+ID builds on).
    """

    cache_fills = True

    def __init__(self, checkpoints: dict | None = None, kind: str = "ca_id", pairs=None, lfw_root=None,
                 default_half: str | None = None, **filler_kwargs):
        from idinpaint.training.data import lfw_half_people

        checkpoints = checkpoints or shipped_checkpoints()
        if set(checkpoints) != {"A", "B"}:
            raise ValueError(f"LFWHalvesFiller needs checkpoints for halves A and B, got {sorted(checkpoints)}")
        if kind not in KINDS:
            raise ValueError(f"unknown model kind {kind!r}; valid: {', '.join(KINDS)}")
        self.name = kind
        # kind "ca": the CA inside each (ca or ca_id) checkpoint; kind "ca_id": the whole model
        self.fillers = {half: CheckpointFiller(path, kind=kind, ca_only=kind == "ca", **filler_kwargs)
                        for half, path in sorted(checkpoints.items())}
        if pairs is None:
            from idinpaint.evaluation.lfw import load_pairs

            pairs = load_pairs(lfw_root)
        pairs = list(pairs)
        self.half_of = {person: half for half in ("A", "B") for person in lfw_half_people(pairs, half)}
        self.default_half = default_half.upper() if default_half else None

    def half_for(self, relative) -> str:
        from idinpaint.training.data import identity_of

        person = identity_of(relative) or Path(str(relative)).stem.rsplit("_", 1)[0]
        half = self.half_of.get(person, self.default_half)
        if half is None:
            raise ValueError(f"{relative}: {person!r} is in no LFW pair, so both half models trained on this "
                             "person; pass default_half='A' or 'B' to fill anyway")
        return half

    def fill_for(self, images, masks, relatives=None):
        if relatives is None:
            return self.fill(images, masks)
        images, masks, single = as_batch(images, masks)
        if len(relatives) != len(images):
            raise ValueError(f"{self.name}: {len(relatives)} paths for {len(images)} images")
        halves = np.array([self.half_for(r) for r in relatives])
        out = images.copy()
        for half, filler in self.fillers.items():
            chosen = np.flatnonzero(halves == half)
            if len(chosen):
                out[chosen] = filler.fill(images[chosen], masks[chosen])
        return out[0] if single else out

    def _fill(self, images, masks):
        if self.default_half is None:
            raise ValueError(f"{self.name}: LFW-half models need each crop's path to pick the model that never saw "
                             "the person (fill_for), or a default_half")
        return self.fillers[self.default_half].fill(images, masks)

    @property
    def cache_tag(self) -> str | None:
        """``ca``: both halves' CA weights (see :attr:`CheckpointFiller.cache_tag`); ``ca_id``: the repr."""
        tags = {half: filler.cache_tag for half, filler in self.fillers.items()}
        if any(tag is None for tag in tags.values()):
            return None
        return "LFWHalvesFiller(" + "; ".join(f"{half}: {tag}" for half, tag in tags.items()) + ")"

    def __repr__(self) -> str:  # the evaluation cache key of ca_id: both weight files and the routing
        inner = ", ".join(f"{h}={f.sha256}" for h, f in self.fillers.items())
        return f"LFWHalvesFiller(name={self.name!r}, {inner}, blend={blend_tag(self.fillers['A'].blend)!r})"


def _factory(kind: str):
    def make(checkpoint=None, **kwargs) -> Filler:
        """A checkpoint (argument or ``$IDINPAINT_CA[_ID]_CHECKPOINT``) gives a :class:`CheckpointFiller`;
        without one, the shipped LFW-half models give an :class:`LFWHalvesFiller`."""
        if checkpoint is None and not os.environ.get(CHECKPOINT_ENV[kind]):
            shipped = shipped_checkpoints()
            if all(p.is_file() for p in shipped.values()):
                return LFWHalvesFiller(shipped, kind=kind, **kwargs)
        return CheckpointFiller(checkpoint, kind=kind, **kwargs)
    make.__name__ = f"make_{kind}_filler"
    return make


for _kind in KINDS:
    if _kind not in FILLERS:
        register_filler(_kind, _factory(_kind))


def method_fillers(half: str = "A", run_dir=None, blend: str = DEFAULT_BLEND) -> list[Filler]:
    """[telea, ca, ca_id] for a gallery of ``half``'s test faces: the shipped LFW-half models (each
    face filled by the model that never saw its person), or a training run folder's own models
    (``idinpaint train``; e.g. the smoke run of notebook 02): its CA stage and its final stage."""
    import json

    from idinpaint.fillers import get_filler

    if run_dir is None:
        learned = [get_filler(kind, default_half=half, blend=blend) for kind in KINDS]
    else:
        run_dir = Path(run_dir)
        run_file = run_dir / "run.json"
        if not run_file.is_file():
            raise FileNotFoundError(f"{run_file}: no training run here (run `idinpaint train` first)")
        # stage folders relative to run_dir: run.json's paths are relative to where training ran
        done = [s for s in json.loads(run_file.read_text()).get("stages", [])
                if s.get("status") == "done" and (run_dir / s["stage"] / "inpainter.pt").is_file()]
        ca_stages = [s["stage"] for s in done if s.get("model") == "ca"]
        if not done or done[-1].get("model") != "fusor":
            raise FileNotFoundError(f"{run_file}: the run has no finished final Fusor stage yet")
        final = run_dir / done[-1]["stage"] / "inpainter.pt"
        # a run whose Fusor started from another model's CA (init_only: [ca]) has no CA stage: the
        # CA inside its final file is the one it built on
        ca = (CheckpointFiller(run_dir / ca_stages[-1] / "inpainter.pt", kind="ca", blend=blend) if ca_stages
              else CheckpointFiller(final, kind="ca", ca_only=True, blend=blend))
        learned = [ca, CheckpointFiller(final, kind="ca_id", blend=blend)]
    return [get_filler("telea")] + learned


# --- photos ---------------------------------------------------------------------------------------

#: ``idinpaint inpaint`` refuses holes larger than this share of the image (or of the face crop):
#: there is too little face left to fill them from.
MAX_HOLE_FRACTION = 0.9


def _check_hole(mask: np.ndarray, mask_name: str, where: str) -> None:
    fraction = float(mask.mean())
    if fraction > MAX_HOLE_FRACTION:
        raise ValueError(f"{mask_name}: the hole covers {100 * fraction:.0f} % of {where}; at most "
                         f"{100 * MAX_HOLE_FRACTION:.0f} % can be filled (the fill is made from the face around it)")


def _detect_faces(image: np.ndarray, mask: np.ndarray, detector, upscale: bool = False) -> list:
    """YuNet detections in ``image`` coordinates. When the plain image shows no face, the hole is
    painted over (Telea) and it is tried again: a black band over the eyes hides a face from YuNet.
    ``upscale``: also try 2x (YuNet misses many faces that fill a small 112x112 frame)."""
    from idinpaint.align import Detection

    for painted in (False, True):
        if painted and not mask.any():
            break
        view = cv2.inpaint(image, mask.astype(np.uint8), 3, cv2.INPAINT_TELEA) if painted else image
        for scale in ((2, 1) if upscale else (1,)):
            work = view if scale == 1 else cv2.resize(view, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
            found = detector.detect(work)
            if found:
                return [Detection(d.box / scale, d.landmarks / scale, d.score) for d in found]
    return []


def inpaint_photo(filler: Filler, image: np.ndarray, mask: np.ndarray, detector=None,
                  image_name: str = "image", mask_name: str = "mask") -> tuple[np.ndarray, dict]:
    """Fill the hole of any photo: a 112x112 crop directly, otherwise aligned first.

    A 112x112 image is used as an aligned crop only when YuNet finds a face in it. For a photo
    that is not an aligned crop: YuNet finds the face, the photo and the mask are warped to the
    ArcFace crop, the crop is filled, and the filled crop is warped back into the hole.
    Returns (RGB uint8 of the photo's size, info) where ``info['uncovered']`` counts hole pixels
    outside the face crop (left as they were). ``image_name`` / ``mask_name`` name the inputs in
    errors (``NoFaceError``, ``ValueError``), e.g. their file paths.
    """
    from idinpaint.align import NoFaceError, YuNetDetector, pick_face, warp_to_template
    from idinpaint.occlusion import check_image

    image = check_image(image, image_name)
    mask = np.asarray(mask)
    if mask.shape[:2] != image.shape[:2]:
        raise ValueError(f"{mask_name}: mask size {mask.shape[1]}x{mask.shape[0]} does not match image size "
                         f"{image.shape[1]}x{image.shape[0]}")
    mask = as_mask(mask, shape=image.shape[:2], name=mask_name)
    detector = detector or YuNetDetector()
    is_crop = image.shape[:2] == (CROP, CROP)
    detections = _detect_faces(image, mask, detector, upscale=is_crop)
    if not detections:
        what = (f"no face detected in this {CROP}x{CROP} image, so it is not used as an aligned face crop; pass "
                "the original photo (it is aligned first), a crop made by `idinpaint preprocess`, or a smaller "
                "hole") if is_crop else "no face detected; pass a photo with one clearly visible face"
        raise NoFaceError(f"{image_name}: {what}")
    if is_crop:
        _check_hole(mask, mask_name, "the face crop")
        score = max(d.score for d in detections)
        return filler.fill(image, mask), {"aligned": False, "uncovered": 0, "score": float(score)}

    detection = pick_face(detections, image.shape)
    crop, matrix = warp_to_template(image, detection.landmarks, CROP)
    height, width = image.shape[:2]
    crop_mask = cv2.warpAffine(mask.astype(np.uint8), matrix, (CROP, CROP), flags=cv2.INTER_NEAREST)
    crop_mask = cv2.dilate(crop_mask, np.ones((3, 3), np.uint8)) > 0  # cover rounding at the hole's edge
    _check_hole(crop_mask, mask_name, "the aligned face crop")
    filled = filler.fill(crop, crop_mask)
    back = cv2.warpAffine(filled, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    inside = cv2.warpAffine(np.ones((CROP, CROP), np.uint8), matrix, (width, height),
                            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    inside = cv2.erode(inside, np.ones((3, 3), np.uint8)) > 0  # skip the interpolated crop border
    replace = mask & inside
    out = image.copy()
    out[replace] = back[replace]
    return out, {"aligned": True, "uncovered": int((mask & ~inside).sum()), "score": float(detection.score)}


def _same_format(a, b) -> bool:
    jpeg = {".jpg": ".jpeg"}
    a, b = Path(a).suffix.lower(), Path(b).suffix.lower()
    return jpeg.get(a, a) == jpeg.get(b, b)


def _write_like(path, image: np.ndarray, mode: str) -> None:
    """Write RGB ``image`` single-channel when the input file (PIL ``mode``) was, else as RGB."""
    from idinpaint.imageio import GRAY_MODES, write_gray, write_rgb

    if mode in GRAY_MODES:
        write_gray(path, image[..., 0])
    else:
        write_rgb(path, image)


def inpaint_file(checkpoint, image_path, mask_path, output_path, blend_method: str = DEFAULT_BLEND,
                 device=None) -> dict:
    """``idinpaint inpaint``: read an image and a mask PNG (255 = hole), fill, write the result.

    Everything that can be checked is checked before the model runs; the output is written
    atomically, so a failure leaves no file. A gray photo (R = G = B) gets a gray result, a
    single-channel file a single-channel one. An all-zero mask writes the input unchanged
    (``info['nothing_to_fill']``). ``info['notes']``: what the output lost (alpha, 16 bits).
    """
    from idinpaint.imageio import check_output_path, copy_file, image_mode, read_mask, read_rgb

    check_output_path(output_path)
    image = read_rgb(image_path)
    mode = image_mode(image_path)
    mask = read_mask(mask_path, shape=image.shape[:2])
    _check_hole(mask, str(mask_path), "the image")
    filler = CheckpointFiller(checkpoint, kind=None, device=device, blend=blend_method)
    result = {"kind": filler.name, "output": str(output_path), "notes": []}
    if not mask.any():
        if _same_format(image_path, output_path):
            copy_file(image_path, output_path)
        else:
            _write_like(output_path, image, mode)
        return {**result, "nothing_to_fill": True, "aligned": False, "uncovered": 0}
    out, info = inpaint_photo(filler, image, mask, image_name=str(image_path), mask_name=str(mask_path))
    if (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all():
        changed = (out != image).any(axis=-1)  # the fill is in colour: back to gray, where it changed
        out[changed] = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[changed][:, None]
    _write_like(output_path, out, mode)
    if mode in ("RGBA", "LA", "PA"):
        result["notes"].append("transparency flattened onto gray")
    if mode.startswith("I;16") or mode in ("I", "F"):
        result["notes"].append(f"{mode} input written as 8-bit")
    return {**result, **info}
