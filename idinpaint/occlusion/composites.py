"""Synthetic occlusion composites: what the O-Detector learns from and is measured on.

A composite is an aligned face crop with an occluder pasted on it and the occluder's exact mask
(bool (H, W), True = occluded). Every draw takes a ``numpy.random.Generator`` and nothing else, so
the same generator state always gives the same composite.

An occluder is a spec of the one grammar (:mod:`idinpaint.occlusion.spec`): a **shape** family (the
spec's kind, e.g. ``block``, ``maskthface:KN95``) and a **texture** family (its fill,
``@texture:<family>``, or ``@occluder`` for a MaskTheFace occluder's own picture), drawn by
:func:`compose_spec` (shapes in :mod:`.shapes`, textures in :mod:`.textures`). Both have names, so
whole families can be held out of training and measured on their own (:class:`CompositeSampler`
``held_out``):

==========================  ===================================================================
shapes
``maskthface:<type>``       a MaskTheFace occluder (``surgical``, ``N95``, ``KN95``, ``cloth``, ``gas``,
                            ...), placed from the crop's landmarks jittered in position, scale and
                            angle (turned templates for turned heads); its own pixels (texture
                            ``own``) or re-textured with any texture family, keeping its shading
``moved_region``            one of the 10 protocol regions, moved and rescaled
``block``                   a rectangle (axis-aligned or turned) or an ellipse, 14-70 px, anywhere
``free_form``               DeepFill-v2 brush strokes
``glasses``                 two lenses over the eyes with a bridge and arms (sunglasses), from the landmarks
textures
``solid``                   one colour (a third of the time the face's own mean colour: a flat
                            skin-coloured patch), faint noise
``noise``                   per-pixel uniform noise (the protocol's ``@noise``), Gaussian noise around
                            a colour, low-frequency blobs, or grey noise
``stripes``                 stripes (square or sine profile) or checks, any period, angle, colours
``gradient``                a linear ramp between two colours
``background``              a patch of non-face photo content (:func:`background_patches`: corners of
                            LFW's raw photos, away from the face)
``check``, ``floral``, ...  MaskTheFace's texture folders (``textures/<group>/``), tiled at any scale
``own``                     (MaskTheFace shapes only) the occluder's own picture
==========================  ===================================================================

Augmentation, so the detector cannot learn "black = hole" or "flat = hole": texture colours are
jittered, textured shapes get soft edges and shading, and the whole composite (clean faces too)
gets brightness / contrast / gamma / colour-temperature changes, blur, noise, JPEG compression, a
small affine jitter (alignment errors) and a mirror flip, the mask following the geometry. Clean
faces (shape ``clean``, an empty mask) teach it to say "nothing".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from idinpaint.imageio import check_image
from idinpaint.occlusion.maskthface import apply_maskthface
from idinpaint.occlusion.shapes import BASE_SHAPES, crop_points, jitter_landmarks, shape_mask
from idinpaint.occlusion.spec import (
    CLEAN,
    FILL_VALUES,
    MASKTHFACE,
    OCCLUDER_FILL,
    is_texture,
    parse_spec,
    require_generator,
    texture_family,
    weighted_specs,
)
from idinpaint.occlusion.textures import (  # noqa: F401  (re-exported: the composites' vocabulary in one place)
    BACKGROUND,
    OWN,
    PROCEDURAL_TEXTURES,
    TextureBank,
    background_patches,
    collect_backgrounds,
    face_box_from_landmarks,
    make_texture,
)

#: The training mix of the O-Detector: weighted specs of the grammar; a spec without a fill draws its
#: texture (``maskthface`` without a template: any template not held out).
DEFAULT_MIX = [[CLEAN, 0.12], [MASKTHFACE, 0.33], ["moved_region", 0.15], ["block", 0.15], ["free_form", 0.1],
               ["glasses", 0.15]]
#: Older names of shape families (a mix or a held-out list may still use them).
ALIASES = {"region": "moved_region"}
#: Chance that a MaskTheFace occluder keeps its own picture (else it is re-textured).
DEFAULT_OWN = 0.6


@dataclass(frozen=True)
class Composite:
    image: np.ndarray   # RGB uint8 (H, W, 3)
    mask: np.ndarray    # bool (H, W), True = occluded
    shape: str          # shape family (``clean`` for none)
    texture: str        # texture family (``own``, ``none`` for clean)


def _paste(face: np.ndarray, mask: np.ndarray, texture: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Texture into the shape with soft edges (sometimes) and shading; the mask is alpha > 0.5."""
    alpha = mask.astype(np.float32)
    if rng.random() < 0.5:
        alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.5, 1.5))
    fill = texture.astype(np.float32)
    if rng.random() < 0.5:  # light falling across the occluder
        size = face.shape[0]
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
        angle = rng.uniform(0, 2 * math.pi)
        shade = 1 + rng.uniform(-0.25, 0.25) * (math.cos(angle) * (xs - 0.5) + math.sin(angle) * (ys - 0.5)) * 2
        fill *= shade[..., None]
    out = face.astype(np.float32) * (1 - alpha[..., None]) + fill * alpha[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), alpha > 0.5


def _retexture_in_crop(occluded: np.ndarray, mask: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """The occluder re-coloured with ``texture``, keeping its shading: as
    :func:`~idinpaint.occlusion.maskthface.retexture` does on the template, but on the crop's
    pixels (100 times cheaper than re-texturing a full-size template for every draw)."""
    luminance = cv2.cvtColor(occluded, cv2.COLOR_RGB2GRAY).astype(np.float32)[mask]
    top = max(float(np.percentile(luminance, 95)), 1.0)
    shade = 0.3 + 0.7 * np.clip(luminance / top, 0.0, 1.0)
    out = occluded.copy()
    out[mask] = np.clip(texture[mask].astype(np.float32) * shade[:, None] + 0.5, 0, 255).astype(np.uint8)
    return out


def _maskthface(face, shape: str, texture: str, rng, landmarks, bank: TextureBank):
    if bank.root is None:
        raise ValueError(f"shape {shape!r} needs the MaskTheFace folder (see idinpaint.occlusion.maskthface)")
    template = shape.partition(":")[2]
    points = jitter_landmarks(crop_points(landmarks, face.shape[0]), rng)
    occluded, mask = apply_maskthface(face, landmarks=points, template=template, pose="auto", folder=bank.root)
    if texture != OWN and mask.any():
        occluded = _retexture_in_crop(occluded, mask, make_texture(texture, *face.shape[:2], rng, bank, face))
    if rng.random() < 0.7:  # colour of the occluder itself
        pixels = occluded[mask].astype(np.float32) * rng.uniform(0.7, 1.3, 3) + rng.uniform(-25, 25)
        occluded[mask] = np.clip(pixels + 0.5, 0, 255).astype(np.uint8)
    return occluded, mask


def _plain_fill(fill: str, size: int, rng) -> np.ndarray:
    if fill in FILL_VALUES:
        return np.full((size, size, 3), FILL_VALUES[fill], np.uint8)
    return rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)


def augment_photometric(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator):
    """Whole-crop changes a camera or an aligner makes; the mask follows the geometry."""
    out = image.astype(np.float32)
    if rng.random() < 0.8:
        out = out * rng.uniform(0.75, 1.25) + rng.uniform(-20, 20)
    if rng.random() < 0.5:
        out = out * rng.uniform(0.9, 1.1, 3)
    if rng.random() < 0.3:
        out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** rng.uniform(0.7, 1.4)
    if rng.random() < 0.05:
        grey = out @ np.array([0.299, 0.587, 0.114], np.float32)
        out = np.repeat(grey[..., None], 3, axis=2)
    if rng.random() < 0.15:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.0))
    if rng.random() < 0.2:
        out = out + rng.normal(0, rng.uniform(1, 6), out.shape)
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        quality = int(rng.integers(40, 96))
        ok, encoded = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        out = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]
    if rng.random() < 0.5:  # alignment error: a small similarity jitter
        size = out.shape[0]
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-8, 8), rng.uniform(0.9, 1.1))
        matrix[:, 2] += rng.uniform(-4, 4, 2)
        out = cv2.warpAffine(out, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        mask = cv2.warpAffine(mask.astype(np.uint8), matrix, (size, size), flags=cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_REFLECT) > 0
    if rng.random() < 0.5:
        out, mask = out[:, ::-1], mask[:, ::-1]
    return np.ascontiguousarray(out), np.ascontiguousarray(mask)


def compose(face: np.ndarray, shape: str, texture: str, rng: np.random.Generator, landmarks=None,
            bank: TextureBank | None = None, augment: bool = True) -> Composite:
    """Occlude ``face`` (an aligned crop) with one occluder of ``shape`` filled with ``texture``.

    ``shape``: ``clean`` (no occluder: the face as is, an empty mask), ``maskthface:<type>`` or one
    of :data:`BASE_SHAPES`; ``texture``: a texture family of ``bank`` or ``own`` (MaskTheFace
    shapes only). ``landmarks``: the crop's 5 points (default the template). ``augment``: the
    photometric / geometric augmentation of :func:`augment_photometric`.
    """
    rng = require_generator(rng)
    face = check_image(face, "face")
    bank = bank if bank is not None else TextureBank()
    size = face.shape[0]
    if face.shape[1] != size:
        raise ValueError(f"composites are made on square aligned crops, got {face.shape[1]}x{size}")
    if shape == CLEAN:
        image, mask, texture = face.copy(), np.zeros((size, size), dtype=bool), "none"
    elif shape.startswith(MASKTHFACE + ":"):
        image, mask = _maskthface(face, shape, texture, rng, landmarks, bank)
    else:
        if texture == OWN:
            raise ValueError(f"texture 'own' belongs to MaskTheFace shapes, not {shape!r}")
        base = shape_mask(shape, size, rng, landmarks)
        picture = (_plain_fill(texture, size, rng) if texture in FILL_VALUES or texture == "uniform_noise"
                   else make_texture(texture, size, size, rng, bank, face))
        if shape == "glasses" and texture == "solid" and rng.random() < 0.5:  # most sunglasses are dark
            picture = np.clip(picture.astype(np.int32) // 4, 0, 255).astype(np.uint8)
        image, mask = _paste(face, base, picture, rng)
    if augment:
        image, mask = augment_photometric(image, mask, rng)
    return Composite(image, mask, shape, texture)


def family_name(name: str) -> str:
    """A held-out or table name as a family: ``texture:floral`` -> ``floral``, ``region`` -> ``moved_region``."""
    return ALIASES.get(name, texture_family(name) if is_texture(name) else name)


def spec_of(shape: str, texture: str) -> str:
    """The grammar's spec of a (shape family, texture family) draw: ``block@texture:stripes``,
    ``maskthface:KN95@occluder``, ``clean``."""
    if shape == CLEAN:
        return CLEAN
    return f"{shape}@{OCCLUDER_FILL if texture == OWN else 'texture:' + texture}"


def families_of(spec) -> tuple[str, str]:
    """(shape family, texture family) of a spec drawn as a composite (:func:`spec_of` backwards);
    a plain fill (``black``, ``gray``, ``white``; ``noise`` as ``uniform_noise``) is its own texture family."""
    parsed = parse_spec(spec)
    if parsed.kind == CLEAN:
        return CLEAN, "none"
    shape = f"{MASKTHFACE}:{parsed.arg or 'surgical'}" if parsed.kind == MASKTHFACE else parsed.kind
    if shape not in BASE_SHAPES and not shape.startswith(MASKTHFACE + ":"):
        raise ValueError(f"{spec!r}: composites draw {', '.join(BASE_SHAPES)}, maskthface and clean, "
                         f"not {parsed.kind!r} (the protocol's exact holes are drawn by make_occlusion)")
    if parsed.fill == OCCLUDER_FILL:
        return shape, OWN
    if is_texture(parsed.fill):
        family = texture_family(parsed.fill)
        if family is None:
            raise ValueError(f"{spec!r}: a composite names its texture family (@texture:<family>)")
        return shape, family
    return shape, "uniform_noise" if parsed.fill == "noise" else parsed.fill


def compose_spec(face: np.ndarray, spec, rng: np.random.Generator, landmarks=None, bank: TextureBank | None = None,
                 augment: bool = True) -> Composite:
    """Draw a spec of the grammar as a natural-looking composite on ``face`` (see :func:`compose`)."""
    shape, texture = families_of(spec)
    return compose(face, shape, texture, rng, landmarks, bank, augment)


# --- training draws ----------------------------------------------------------------------------------

class CompositeSampler:
    """Training draws from a weighted list of specs (``mix``, default :data:`DEFAULT_MIX`): a spec by
    weight; a spec without a fill draws its texture uniformly (a MaskTheFace shape keeps its own
    picture with probability ``own``; ``maskthface`` without a template is split evenly over the
    templates), never a family in ``held_out``. ``held_out`` names shape families
    (``maskthface:KN95``, ``glasses``) or texture families (``floral`` or ``texture:floral``);
    unknown names raise ValueError listing the valid ones."""

    def __init__(self, mix=None, held_out: Sequence[str] = (), bank: TextureBank | None = None,
                 own: float = DEFAULT_OWN, augment: bool = True):
        self.bank = bank if bank is not None else TextureBank()
        held_out = [family_name(name) for name in held_out]
        self.held_out = tuple(dict.fromkeys(held_out))
        known = set(self.bank.families())
        unknown = [name for name in self.held_out if name not in known]
        if unknown:
            raise ValueError(f"held-out families {unknown} are not families here; valid: {', '.join(sorted(known))}")
        specs, weights = weighted_specs(DEFAULT_MIX if mix is None else mix, ALIASES)
        self.maskthface = [s for s in self.bank.shape_families() if s.startswith(MASKTHFACE) and s not in self.held_out]
        self.textures = [t for t in self.bank.texture_families() if t not in self.held_out]
        if not self.textures:
            raise ValueError("every texture family is held out: nothing left to train on")
        entries = []
        for spec, weight in zip(specs, weights):
            body, at, _ = spec.partition("@")
            kind = body.partition(":")[0]
            if kind not in (CLEAN, MASKTHFACE, *BASE_SHAPES):
                raise ValueError(f"mix: {spec!r}: composites draw {CLEAN}, {MASKTHFACE}[:<template>] and "
                                 f"{', '.join(BASE_SHAPES)}")
            texture = families_of(spec)[1] if at else None
            if body in self.held_out or texture in self.held_out or (body == MASKTHFACE and not self.maskthface):
                continue
            entries.append((body, texture, weight))
        if not entries:
            raise ValueError(f"no spec left to draw from (mix {specs}, held out {list(self.held_out)})")
        self.entries = [(body, texture) for body, texture, _ in entries]
        self.kinds = [body for body, _, _ in entries]
        self.weights = np.array([weight for _, _, weight in entries]) / sum(weight for _, _, weight in entries)
        self.own, self.augment = float(own), bool(augment)

    def draw_family(self, rng: np.random.Generator) -> tuple[str, str]:
        """(shape, texture) of the next training draw."""
        body, texture = self.entries[int(rng.choice(len(self.entries), p=self.weights))]
        if body == CLEAN:
            return CLEAN, "none"
        shape = self.maskthface[int(rng.integers(len(self.maskthface)))] if body == MASKTHFACE else body
        if texture is not None:
            return shape, texture
        if shape.startswith(MASKTHFACE) and rng.random() < self.own:
            return shape, OWN
        return shape, self.textures[int(rng.integers(len(self.textures)))]

    def draw_spec(self, rng: np.random.Generator) -> str:
        """The spec of the next training draw (``maskthface:KN95@occluder``, ``block@texture:stripes``)."""
        return spec_of(*self.draw_family(require_generator(rng)))

    def draw(self, face: np.ndarray, rng: np.random.Generator, landmarks=None) -> Composite:
        shape, texture = self.draw_family(require_generator(rng))
        return compose(face, shape, texture, rng, landmarks, self.bank, self.augment)

    def batch(self, faces: np.ndarray, rng: np.random.Generator, landmarks: Sequence | None = None):
        """Composites of a batch of crops: (images (N, H, W, 3), masks (N, H, W), [(shape, texture)])."""
        drawn = [self.draw(face, rng, None if landmarks is None else landmarks[i]) for i, face in enumerate(faces)]
        return (np.stack([c.image for c in drawn]), np.stack([c.mask for c in drawn]),
                [(c.shape, c.texture) for c in drawn])
