"""Lightning modules for the two trainable parts: :class:`CAModule` and :class:`FusorModule`.

Both use manual optimisation with the step split into readable halves, as LaMa's trainers do:

* :meth:`generator_step` — forward pass and every generator loss term -> (loss, logs, outputs);
* :meth:`discriminator_step` — hinge loss of the multiscale discriminator on real vs the
  (detached) composited output -> (loss, logs).

``training_step`` runs the generator step, then the discriminator step. The ``gan`` section of the
config adds the tools for adversarial training on a few thousand faces: DiffAugment on every
discriminator input (``gan.augment``, :mod:`.augment`), a lazy R1 penalty on the real images
(``gan.r1`` = gamma, every ``gan.r1_every`` discriminator steps; Mescheder et al., 2018), and an EMA
copy of the generator (``gan.ema`` = decay) that validation and the exported inference file use;
spectral norm and an optional full-resolution window on the hole are the discriminator's own
(:mod:`idinpaint.models.discriminator`). Before any backward pass
every loss is checked: a NaN/inf raises :class:`NonFiniteLossError` (agreed across DDP ranks), so
the run stops with a one-line message and no checkpoint is written from the broken state — the
last good ``last.ckpt`` stays on disk.

Validation metric (``val/id_similarity``, the checkpoint monitor): mean cosine similarity of SFace
embeddings of the composited output and of the clean target. Logged beside it for comparison:
the black-filled face (``val/id_similarity_black``) and, for the Fusor, its CA prior
(``val/id_similarity_ca``). Every loss term goes to TensorBoard; the first validation batch also
gives an image grid (occluded | CA | Fusor | target) and, every ``trainer.projector_every``
validations (default 5; 0: never), its SFace embeddings of the final fills and of the targets with
face thumbnails and labels, for TensorBoard's PROJECTOR tab (``tensorboard --logdir <run>/tb``).

SFace is frozen, moved to the module's device on first use and *not* registered as a sub-module:
it never enters checkpoints or DDP. Checkpoints carry an ``idinpaint`` entry (model kind, model
configs, stage) that :mod:`idinpaint.checkpoints` reads; weights are the ``ca.`` / ``fusor.`` entries
of ``state_dict``.
"""
from __future__ import annotations

import copy

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from idinpaint import losses as L
from idinpaint.checkpoints import inference_meta as checkpoint_meta
from idinpaint.data.lfw import identity_of
from idinpaint.models import get_model
from idinpaint.models.layers import composite
from idinpaint.recognizers.sface import load_sface_module
from idinpaint.training.augment import diff_augment, parse_policy

ID_SOURCES = ("prior", "occluded", "reference")
#: Validations between two projector logs of the first validation batch (``trainer.projector_every``).
PROJECTOR_EVERY = 5
PROJECTOR_THUMBNAIL = 32


class NonFiniteLossError(RuntimeError):
    """A loss became NaN/inf; the message names the step and the terms."""


def warm_up(optimizer, steps: int = 0, start: float = 0.0) -> float:
    """Linear learning-rate warm-up (Goyal et al., 2017), applied before each optimiser step: over the
    optimiser's first ``steps`` steps the learning rate of every group rises linearly from ``start``
    × its configured rate to the full rate. The steps taken are counted in the param groups, which
    checkpoints keep, so a resumed run goes on with the ramp. Returns the factor applied (1 after the
    warm-up, or when ``steps`` is 0)."""
    optimizer = getattr(optimizer, "optimizer", optimizer)  # a LightningOptimizer wraps the torch one
    factor = 1.0
    for group in optimizer.param_groups:
        base = group.setdefault("warmup_base_lr", group["lr"])
        done = group.get("warmup_steps_done", 0)
        factor = 1.0 if steps <= 0 or done >= steps else start + (1.0 - start) * (done + 1) / steps
        group["lr"] = base * factor
        group["warmup_steps_done"] = done + 1
    return factor


def _black_fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return composite(torch.full_like(image, -1.0), image, mask)


class InpaintModule(pl.LightningModule):
    """Shared plumbing: config, optimisers, SFace, finiteness checks, logging, checkpoint metadata."""

    kind = "base"
    loss_section = "ca"
    loss_terms: tuple[str, ...] = ()
    #: The network this module trains (the attribute name), and so the one its EMA copy follows.
    generator_name = ""

    def __init__(self, config: dict, stage: str = "", id_weight: float | None = None):
        super().__init__()
        self.save_hyperparameters({"config": config, "stage": stage, "id_weight": id_weight})
        self.config = config
        self.stage = stage
        self.automatic_optimization = False
        weights = dict(config["losses"][self.loss_section])
        if id_weight is not None:
            weights["id"] = float(id_weight)
        self.weights = {k: float(v) for k, v in weights.items() if k not in ("id_target", "id_robust")}
        self.id_target = weights.get("id_target", "clean")
        # id_robust: {blur: [lo, hi], shift: px, flip, crop, jitter, down, noise} scores transformed
        # views (see losses.identity_view)
        self.id_robust = weights.get("id_robust") or None
        disc_cfg = config.get("discriminator", {})
        self.discriminator = get_model("discriminator", **disc_cfg) if self.weights.get("adv", 0) > 0 else None
        unknown = sorted(set(self.weights) - set(self.loss_terms))
        if unknown:
            raise ValueError(f"losses.{self.loss_section}: unknown weights {unknown}; valid: {', '.join(self.loss_terms)}")
        self._grid_logged_at = -1
        self._projector_validations, self._projector_logged_at = 0, -1
        gan = config.get("gan") or {}
        self.augment = parse_policy(gan.get("augment"))
        self.r1_gamma, self.r1_every = float(gan.get("r1", 0) or 0), max(1, int(gan.get("r1_every", 1) or 1))
        self.ema_decay = float(gan.get("ema", 0) or 0)
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"gan.ema must be a decay in [0, 1), got {self.ema_decay}")
        self._d_steps = 0

    # --- the generator's EMA copy ---------------------------------------------------------------
    def setup_ema(self) -> None:
        """After the generator exists: its EMA copy ``<generator>_ema`` (frozen, in checkpoints), when
        ``gan.ema`` > 0. It is copied from the generator at the first training step, so a stage that
        starts from other weights averages from there; a resumed stage restores it."""
        if self.ema_decay > 0:
            ema = copy.deepcopy(getattr(self, self.generator_name)).requires_grad_(False).eval()
            setattr(self, f"{self.generator_name}_ema", ema)
            self.register_buffer("ema_started", torch.zeros((), dtype=torch.bool))

    @property
    def ema(self):
        return getattr(self, f"{self.generator_name}_ema", None)

    @property
    def evaluated(self):
        """The generator validation and export use: the EMA copy when there is one."""
        return self.ema if self.ema is not None else getattr(self, self.generator_name)

    @torch.no_grad()
    def update_ema(self) -> None:
        if self.ema is None:
            return
        live = getattr(self, self.generator_name)
        if not bool(self.ema_started):
            self.ema.load_state_dict(live.state_dict())
            self.ema_started.fill_(True)
            return
        for averaged, current in zip(self.ema.parameters(), live.parameters()):
            averaged.lerp_(current.detach(), 1.0 - self.ema_decay)
        for averaged, current in zip(self.ema.buffers(), live.buffers()):
            averaged.copy_(current)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.ema is not None:
            self.ema.eval()
        return self

    # --- the critic -------------------------------------------------------------------------------
    def critic(self, image, mask, features: bool = False):
        """The discriminator on a DiffAugmented copy of (image, mask) (no augmentation when off)."""
        if self.augment:
            image, mask = diff_augment(image, mask, self.augment)
        return self.discriminator(image, mask, features=features)

    def paired_critic_features(self, fake, real, mask):
        """(fake logits, fake features, real features): both through the *same* random augmentation,
        so feature matching compares like with like; the real pass has no gradient."""
        devices = [fake.device] if fake.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            fake_logits, fake_feats = self.critic(fake, mask, features=True)
        with torch.no_grad():
            _, real_feats = self.critic(real, mask, features=True)
        return fake_logits, fake_feats, real_feats

    # --- helpers ---------------------------------------------------------------------------
    @property
    def sface(self):
        net = self.__dict__.get("_sface_net")
        if net is None or next(net.parameters()).device != self.device:
            net = load_sface_module(str(self.device))
            self.__dict__["_sface_net"] = net  # bypasses nn.Module registration on purpose
        return net

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return L.sface_embedding(self.sface, images)

    def _optim(self, name: str, params):
        cfg = self.config.get("optim", {}).get(name, {})
        return torch.optim.Adam(params, lr=float(cfg.get("lr", 1e-4)), betas=tuple(cfg.get("betas", (0.5, 0.999))))

    def generator_parameters(self):
        raise NotImplementedError

    def configure_optimizers(self):
        optimizers = [self._optim(self.loss_section, self.generator_parameters())]
        if self.discriminator is not None:
            optimizers.append(self._optim("discriminator", self.discriminator.parameters()))
        return optimizers

    def check_finite(self, where: str, logs: dict[str, torch.Tensor], batch_idx: int) -> None:
        bad = {k: float(v.detach().float().mean()) for k, v in logs.items() if not torch.isfinite(v.detach()).all()}
        finite = self.trainer.strategy.reduce_boolean_decision(not bad, all=True) if self._trainer else not bad
        if not finite:
            terms = ", ".join(f"{k}={v}" for k, v in bad.items()) or "on another rank"
            raise NonFiniteLossError(
                f"stage {self.stage or '?'}: non-finite {where} loss at batch {batch_idx} "
                f"(global step {self.global_step}): {terms}; stopped before the update, the last good checkpoint is kept")

    def _step(self, optimizer, loss):
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        clip = float(self.config.get("trainer", {}).get("gradient_clip", 0) or 0)
        if clip > 0:
            self.clip_gradients(optimizer, gradient_clip_val=clip, gradient_clip_algorithm="norm")
        optim = self.config.get("optim", {})
        warm_up(optimizer, int(optim.get("warmup_steps", 0) or 0), float(optim.get("warmup_start", 0.0) or 0.0))
        optimizer.step()

    def training_step(self, batch, batch_idx):
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, (list, tuple)) else [optimizers]
        opt_g = optimizers[0]
        self.toggle_optimizer(opt_g)
        loss_g, logs_g, outputs = self.generator_step(batch)
        self.check_finite("generator", logs_g, batch_idx)
        self._step(opt_g, loss_g)
        self.untoggle_optimizer(opt_g)
        self.update_ema()
        logs = dict(logs_g)
        if self.discriminator is not None:
            opt_d = optimizers[1]
            self.toggle_optimizer(opt_d)
            loss_d, logs_d = self.discriminator_step(batch, outputs)
            self.check_finite("discriminator", logs_d, batch_idx)
            self._step(opt_d, loss_d)
            self.untoggle_optimizer(opt_d)
            logs.update(logs_d)
        self.log_dict({f"train/{k}": v.detach() for k, v in logs.items()}, prog_bar=False,
                      batch_size=batch["image"].shape[0])
        return None

    def discriminator_step(self, batch, outputs):
        """Hinge loss: D(real target) vs D(composited output, detached); both see the mask (and are
        augmented, see :meth:`critic`). Every ``r1_every`` steps the R1 penalty
        ``gamma / 2 * E ||grad_x D(x)||^2`` on the real images is added, scaled by ``r1_every``."""
        image, mask = batch["image"], batch["mask"]
        fake = outputs["fake"].detach()
        self._d_steps += 1
        penalise = self.r1_gamma > 0 and self._d_steps % self.r1_every == 0
        real = image.detach().requires_grad_(True) if penalise else image
        real_logits = self.critic(real, mask)
        fake_logits = self.critic(fake, mask)
        loss = L.hinge_d_loss(real_logits, fake_logits)
        logs = {"d_hinge": loss, "d_real": torch.stack([r.mean() for r in real_logits]).mean(),
                "d_fake": torch.stack([f.mean() for f in fake_logits]).mean()}
        if penalise:
            r1 = L.r1_penalty(real_logits, real)
            logs["r1"] = r1
            loss = loss + 0.5 * self.r1_gamma * self.r1_every * r1
        return loss, logs

    def adversarial_terms(self, fake, image, mask) -> dict[str, torch.Tensor]:
        """The generator's adversarial terms (weights ``adv``, ``fm`` of its loss section): the hinge
        loss of the critic on ``fake`` and, with ``fm``, feature matching against the real ``image``."""
        w = self.weights
        if w.get("fm", 0) > 0 and self.discriminator is None:
            raise ValueError(f"losses.{self.loss_section}.fm (feature matching) needs the discriminator: set adv > 0")
        if w.get("adv", 0) <= 0:
            return {}
        if w.get("fm", 0) <= 0:
            return {"adv": L.hinge_g_loss(self.critic(fake, mask))}
        fake_logits, fake_feats, real_feats = self.paired_critic_features(fake, image, mask)
        return {"adv": L.hinge_g_loss(fake_logits), "fm": L.feature_matching_loss(fake_feats, real_feats)}

    # --- validation -------------------------------------------------------------------------
    def validation_outputs(self, batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def validation_step(self, batch, batch_idx):
        image, mask = batch["image"], batch["mask"]
        outputs = self.validation_outputs(batch)
        target = self.embed(image)
        final = self.embed(outputs["final"])
        n = image.shape[0]
        metrics = {"val/id_similarity": L.identity_similarity(final, target).mean(),
                   "val/id_similarity_black": L.identity_similarity(self.embed(_black_fill(image, mask)), target).mean(),
                   "val/l1_hole": L.reconstruction_loss(outputs["final"], image, mask)["hole"]}
        if "ca" in outputs and outputs["ca"] is not outputs["final"]:
            metrics["val/id_similarity_ca"] = L.identity_similarity(self.embed(outputs["ca"]), target).mean()
        self.log_dict(metrics, batch_size=n, sync_dist=True, on_epoch=True, on_step=False)
        if batch_idx == 0:
            self._log_grid(batch, outputs)
            self._log_projector(batch, outputs, final, target)

    def _log_grid(self, batch, outputs) -> None:
        experiment = getattr(self.logger, "experiment", None)
        if experiment is None or not hasattr(experiment, "add_image") or not self.trainer.is_global_zero:
            return
        if self._grid_logged_at == self.global_step:
            return
        self._grid_logged_at = self.global_step
        from torchvision.utils import make_grid

        image, mask = batch["image"], batch["mask"]
        columns = [_black_fill(image, mask), outputs.get("ca", outputs["final"]), outputs["final"], image]
        count = min(4, image.shape[0])
        tiles = torch.stack([col[:count].float() for col in columns], dim=1).flatten(0, 1)
        grid = make_grid((tiles.clamp(-1, 1) + 1) / 2, nrow=len(columns), padding=2)
        experiment.add_image("val/occluded|CA|Fusor|target", grid.cpu(), self.global_step)

    def _log_projector(self, batch, outputs, final: torch.Tensor, target: torch.Tensor) -> None:
        """SFace embeddings of the first validation batch's final fills and clean targets, with 32 px
        thumbnails and labels (person, kind, stage, step), for TensorBoard's projector; every
        ``trainer.projector_every`` validations of a stage (the first one included), rank 0 only."""
        every = int((self.config.get("trainer") or {}).get("projector_every", PROJECTOR_EVERY) or 0)
        experiment = getattr(self.logger, "experiment", None)
        if (every <= 0 or experiment is None or not hasattr(experiment, "add_embedding")
                or not self.trainer.is_global_zero or self.trainer.sanity_checking):
            return
        count, self._projector_validations = self._projector_validations, self._projector_validations + 1
        if count % every or self._projector_logged_at == self.global_step:
            return
        self._projector_logged_at = self.global_step
        files = getattr(getattr(getattr(self.trainer, "val_dataloaders", None), "dataset", None), "files", None)
        indices = [int(i) for i in batch["index"]] if "index" in batch else list(range(len(final)))
        people = [(identity_of(files[i]) if files is not None else None) or f"#{i}" for i in indices]
        images = torch.cat([outputs["final"], batch["image"]]).detach().float()
        thumbs = F.interpolate((images.clamp(-1, 1) + 1) / 2, size=PROJECTOR_THUMBNAIL, mode="area")
        kinds = [f"{self.kind} fill"] * len(final) + ["target"] * len(target)
        rows = [[person, kind, self.stage, str(self.global_step)] for kind, person in zip(kinds, people * 2)]
        vectors = F.normalize(torch.cat([final, target]).detach().float(), dim=1)
        experiment.add_embedding(vectors.cpu(), metadata=rows, label_img=thumbs.cpu(), global_step=self.global_step,
                                 tag="val_identity", metadata_header=["person", "kind", "stage", "step"])

    # --- checkpoints ------------------------------------------------------------------------
    def inference_meta(self) -> dict:
        raise NotImplementedError

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["idinpaint"] = self.inference_meta()

    def load_weights(self, state_dict: dict, prefixes: tuple[str, ...]) -> list[str]:
        """Copy entries of ``state_dict`` starting with ``prefixes`` into this module (shapes checked).
        Returns the prefixes that were found."""
        own = self.state_dict()
        found, update = set(), {}
        for key, value in state_dict.items():
            prefix = next((p for p in prefixes if key.startswith(p)), None)
            if prefix is None:
                continue
            if key not in own or own[key].shape != value.shape:
                raise ValueError(f"checkpoint entry {key} {tuple(value.shape)} does not fit this model "
                                 f"({tuple(own[key].shape) if key in own else 'missing'}): model configs differ")
            update[key] = value
            found.add(prefix)
        missing = [k for k in own if any(k.startswith(p) for p in found) and k not in update]
        if missing:
            raise ValueError(f"checkpoint lacks {len(missing)} entries of this model, e.g. {missing[0]}")
        self.load_state_dict({**own, **update})
        return sorted(found)


class CAModule(InpaintModule):
    """Trains the CA inpainter: L1 (hole / valid, coarse and refined), hinge adversarial on the
    composited refined output, optional identity loss (weight ``losses.ca.id``)."""

    kind = "ca"
    loss_section = "ca"
    loss_terms = ("coarse_hole", "coarse_valid", "hole", "valid", "adv", "fm", "id")
    generator_name = "ca"

    def __init__(self, config: dict, stage: str = "", id_weight: float | None = None):
        super().__init__(config, stage, id_weight)
        self.ca = get_model("ca", **config["ca"])
        self.setup_ema()

    def generator_parameters(self):
        return self.ca.parameters()

    def generator_step(self, batch):
        image, mask = batch["image"], batch["mask"]
        coarse, refined = self.ca(image, mask)
        final = composite(refined, image, mask)
        w = self.weights
        coarse_rec = L.reconstruction_loss(coarse, image, mask)
        rec = L.reconstruction_loss(refined, image, mask)
        terms = {"coarse_hole": coarse_rec["hole"], "coarse_valid": coarse_rec["valid"],
                 "hole": rec["hole"], "valid": rec["valid"]}
        terms.update(self.adversarial_terms(final, image, mask))
        if w.get("id", 0) > 0:
            with torch.no_grad():
                target = self.embed(image)
            terms["id"] = L.identity_loss(self.embed(final), target)
        loss = L.weighted_total(terms, {k: w.get(k, 0.0) for k in terms})
        return loss, {"g_total": loss, **terms}, {"fake": final, "coarse": coarse}

    @torch.no_grad()
    def validation_outputs(self, batch):
        _, refined = self.evaluated(batch["image"], batch["mask"])
        final = composite(refined, batch["image"], batch["mask"])
        return {"final": final, "ca": final}

    def inference_meta(self) -> dict:
        meta = checkpoint_meta("ca", self.stage, {"ca": dict(self.ca.config)})
        if self.ema is not None:  # the inference file carries the averaged weights
            meta["prefixes"]["ca"] = "ca_ema."
        return meta


class FusorModule(InpaintModule):
    """Trains the Fusor on top of a frozen CA.

    Per step: prior = CA output pasted into the hole (no gradient); ``z_id`` = normalised SFace
    embedding of the sampler's source (``sampler.source``: ``prior``, ``occluded`` — the
    black-filled occluded face — or ``reference`` — another photo of the person, falling back to
    the prior where there is none); Fusor output composited into the hole. Loss terms (weights
    ``losses.fusor``; ``id`` comes from the stage): hinge adversarial, attribute, identity
    ``1 - cos(SFace(out), target)`` (target: the clean face, or ``z_id`` with ``id_target: z_id``),
    L1 of the raw generator output inside / outside the hole.
    """

    kind = "ca_id"
    loss_section = "fusor"
    loss_terms = ("adv", "att", "id", "hole", "valid", "chroma", "fm")
    generator_name = "fusor"

    def __init__(self, config: dict, stage: str = "", id_weight: float | None = None):
        super().__init__(config, stage, id_weight)
        self.ca = get_model("ca", **config["ca"])
        self.ca.requires_grad_(False)
        self.ca.eval()
        self.fusor = get_model("fusor", **config["fusor"])
        self.setup_ema()
        self.id_source = config.get("sampler", {}).get("source", "prior")
        if self.id_source not in ID_SOURCES:
            raise ValueError(f"sampler.source must be one of {', '.join(ID_SOURCES)}, got {self.id_source!r}")

    def train(self, mode: bool = True):
        super().train(mode)
        self.ca.eval()  # frozen: always in inference mode
        return self

    def generator_parameters(self):
        return self.fusor.parameters()

    @torch.no_grad()
    def prior_and_identity(self, batch):
        """(prior face, z_id): the frozen CA's composited output and the sampler's identity code."""
        image, mask = batch["image"], batch["mask"]
        occluded = image * (1 - mask)
        prior = self.ca.inpaint(occluded, mask)
        if self.id_source == "occluded":
            z_id = self.embed(_black_fill(image, mask))
        else:
            z_id = self.embed(prior)
            if self.id_source == "reference" and "reference" in batch:
                has = batch["has_reference"].view(-1, 1)
                if bool(has.any()):
                    z_id = torch.where(has, self.embed(batch["reference"]), z_id)
        return prior, z_id

    def generator_step(self, batch):
        image, mask = batch["image"], batch["mask"]
        prior, z_id = self.prior_and_identity(batch)
        out, generated, z_att_x = self.fusor(prior, mask, z_id)
        w = self.weights
        rec = L.reconstruction_loss(generated, image, mask)
        terms = {"hole": rec["hole"], "valid": rec["valid"]}
        if w.get("att", 0) > 0:
            terms["att"] = L.attribute_loss(self.fusor.attributes(out, mask), z_att_x)
        terms.update(self.adversarial_terms(out, image, mask))
        if w.get("chroma", 0) > 0:
            terms["chroma"] = L.chroma_loss(out, image, mask)
        if w.get("id", 0) > 0:
            if self.id_target == "z_id":
                target = z_id
            else:
                with torch.no_grad():
                    target = self.embed(image)
            scored = L.identity_view(out, self.id_robust)
            terms["id"] = L.identity_loss(self.embed(scored), target)
        loss = L.weighted_total(terms, {k: w.get(k, 0.0) for k in terms})
        return loss, {"g_total": loss, **terms}, {"fake": out, "prior": prior}

    @torch.no_grad()
    def validation_outputs(self, batch):
        prior, z_id = self.prior_and_identity(batch)
        out, _, _ = self.evaluated(prior, batch["mask"], z_id)
        return {"final": out, "ca": prior}

    def inference_meta(self) -> dict:
        meta = checkpoint_meta("ca_id", self.stage, {"ca": dict(self.ca.config), "fusor": dict(self.fusor.config)},
                               sampler={"source": self.id_source})
        if self.ema is not None:
            meta["prefixes"]["fusor"] = "fusor_ema."
        return meta


MODULES = {"ca": CAModule, "fusor": FusorModule}

