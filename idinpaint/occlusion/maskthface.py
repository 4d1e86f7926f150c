"""Real face-mask occluders from MaskTheFace, warped onto a face from its 5 landmarks.

MaskTheFace (Aqeel Anwar, MIT; https://github.com/aqeel-anwar/MaskTheFace) ships RGBA mask
pictures (``templates/*.png``) and a ``masks.cfg`` that gives, per template, six anchor points in
template pixels. Looking at them plotted on the pictures: ``mask_a``, ``mask_b``, ``mask_c`` run
along the top edge (a = left end, b = top middle where the nose bridge goes, c = right end) and
``mask_d``, ``mask_e``, ``mask_f`` along the bottom (d = left side, e = the lowest point under the
chin, f = right side). In the ``_left`` / ``_right`` variants the mask is seen turned, with the
nose-bridge anchor b near the left / right end respectively.

MaskTheFace maps those anchors onto dlib 68-point landmarks. Here only the 5 ArcFace landmarks
exist, so the six face points are constructed geometrically from them (:func:`face_anchor_points`):
in a face frame whose "down" axis runs from the eye centre to the mouth centre (length ``h``) and
whose "across" axis is perpendicular to it (unit: the inter-ocular distance ``d``),

* b, the nose bridge, on the midline ``0.22 h`` below the eye centre (the nose tip is at ~0.5 h),
* a / c, the cheeks at the face contour, ``0.40 h`` below the eyes and ``1.0 d`` either side,
* d / f, the jaw, ``1.15 h`` below the eyes (just under the mouth) and ``0.9 d`` either side,
* e, under the chin, ``1.55 h`` below the eyes (the chin itself is at ~1.5 h).

On the ArcFace 112 template that puts b at (56, 60.6), a/c at (20.7, 68) / (91.1, 68),
d/f at (24.3, 98.4) / (87.6, 98.4) and e at (56.3, 114.7) (a little under the crop's bottom edge,
where the chin is on aligned crops). A head turn (yaw) is read from how far the nose tip sits off
the eye-mouth midline (:func:`estimate_yaw`, in inter-ocular units): the midline anchors follow the
nose and the far side of the face narrows, and with ``pose="auto"`` the ``_left`` / ``_right``
template is used beyond :data:`YAW_THRESHOLD`. A least-squares homography over all six pairs
(``cv2.findHomography``, method 0: deterministic) warps the template into the image.

The returned mask is the exact hole: warped alpha > 0.5. Inside it the pixels are the occluder's
own colour (not blended with the face, so nothing of the face leaks through the hole's edge);
outside it the image is untouched.
"""
from __future__ import annotations

import configparser
import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from idinpaint.align import ARCFACE_TEMPLATE, CROP_SIZE
from idinpaint.imageio import BadImageError, check_image, read_rgb
from idinpaint.paths import occluders_dir

MASKTHEFACE_URL = "https://github.com/aqeel-anwar/MaskTheFace"
ANCHOR_KEYS = ("mask_a", "mask_b", "mask_c", "mask_d", "mask_e", "mask_f")
POSES = ("frontal", "left", "right", "auto")
TEXTURE_SUFFIXES = (".png", ".jpg", ".jpeg")

#: |nose offset from the eye-mouth midline| / inter-ocular distance beyond which ``pose="auto"``
#: picks a turned template. Aligned frontal faces sit near 0 (the ArcFace template: 0.000).
YAW_THRESHOLD = 0.12

#: Face-point construction, see the module docstring: ``*_t`` are positions along the eye->mouth
#: axis in eye-mouth distances, ``*_half`` half-widths in inter-ocular distances.
FACE_GEOMETRY = {
    "bridge_t": 0.22,
    "top_t": 0.40,
    "top_half": 1.0,
    "jaw_t": 1.15,
    "jaw_half": 0.9,
    "chin_t": 1.55,
    "bridge_follow": 0.5,  # fraction of the nose's sideways offset the bridge follows
    "chin_follow": 0.3,    # ... and the chin
    "narrowing": 2.5,      # half-width change per unit of yaw (far side narrows, near side widens)
}


class OccludersMissingError(FileNotFoundError):
    """The MaskTheFace folder (masks.cfg + templates/) is not where it is expected."""


@dataclass(frozen=True)
class MaskTemplate:
    name: str
    rgba: np.ndarray     # (H, W, 4) uint8, RGB + alpha, read-only
    anchors: np.ndarray  # (6, 2) float64 (x, y) in template pixels, order a..f


def _folder(folder=None) -> Path:
    path = Path(folder) if folder is not None else occluders_dir()
    if not (path / "masks.cfg").is_file() or not (path / "templates").is_dir():
        raise OccludersMissingError(
            f"MaskTheFace occluders not found in {path} (need masks.cfg and templates/): get the "
            f"masks/ folder of {MASKTHEFACE_URL} and put it there or set IDINPAINT_OCCLUDERS to it"
        )
    return path


def _parse_point(text: str, where: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"{where}: expected 'x, y', got {text!r}") from None
    return x, y


@functools.lru_cache(maxsize=8)
def _config(folder: str) -> dict[str, tuple[Path, tuple[tuple[float, float], ...]]]:
    """Section name -> (template file, six anchors) for every section that names a template."""
    parser = configparser.ConfigParser(comment_prefixes=(";", "#"), inline_comment_prefixes=(";",),
                                       strict=False, interpolation=None)
    parser.optionxform = str  # keep key case
    cfg = Path(folder) / "masks.cfg"
    parser.read(cfg, encoding="utf-8")
    entries = {}
    for section in parser.sections():
        items = parser[section]
        if "template" not in items:
            continue  # 'empty' / 'inpaint' sections of MaskTheFace carry no picture
        missing = [key for key in ANCHOR_KEYS if key not in items]
        if missing:
            raise ValueError(f"{cfg} [{section}]: missing anchors {missing}")
        relative = Path(items["template"].strip())
        if relative.parts and relative.parts[0] == "masks":  # paths are written relative to masks/
            relative = Path(*relative.parts[1:])
        anchors = tuple(_parse_point(items[key], f"{cfg} [{section}] {key}") for key in ANCHOR_KEYS)
        entries[section] = (Path(folder) / relative, anchors)
    return entries


def _is_variant(name: str) -> bool:
    return name.endswith("_left") or name.endswith("_right")


def list_templates(include_variants: bool = True, folder=None) -> list[str]:
    """Template names in masks.cfg order (``surgical``, ``surgical_left``, ...); frontal only if asked."""
    names = list(_config(str(_folder(folder))))
    return names if include_variants else [n for n in names if not _is_variant(n)]


@functools.lru_cache(maxsize=64)
def _load(folder: str, name: str) -> MaskTemplate:
    entries = _config(folder)
    if name not in entries:
        raise ValueError(f"unknown MaskTheFace template {name!r}; valid: {', '.join(entries)}")
    path, anchors = entries[name]
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise BadImageError(path, "template missing or unreadable")
    if raw.ndim != 3 or raw.shape[2] != 4 or raw.dtype != np.uint8:
        raise BadImageError(path, f"template must be 8-bit RGBA, got {raw.dtype} {raw.shape}")
    rgba = cv2.cvtColor(raw, cv2.COLOR_BGRA2RGBA)
    rgba.setflags(write=False)
    points = np.array(anchors, dtype=np.float64)
    points.setflags(write=False)
    return MaskTemplate(name=name, rgba=rgba, anchors=points)


def load_template(name: str, folder=None) -> MaskTemplate:
    """The RGBA picture and anchors of template ``name`` (cached; arrays are read-only)."""
    return _load(str(_folder(folder)), name)


def list_textures(folder=None) -> list[str]:
    """Texture names under ``textures/`` as ``group/file`` without suffix, e.g. ``check/check_1``."""
    root = _folder(folder) / "textures"
    if not root.is_dir():
        return []
    files = [p for p in root.rglob("*") if p.suffix.lower() in TEXTURE_SUFFIXES and p.is_file()]
    return sorted(str(p.relative_to(root).with_suffix("")) for p in files)


@functools.lru_cache(maxsize=32)
def _load_texture(folder: str, name: str) -> np.ndarray:
    root = Path(folder) / "textures"
    candidates = [root / name] + [root / f"{name}{s}" for s in TEXTURE_SUFFIXES]
    for path in candidates:
        if path.is_file():
            texture = read_rgb(path)
            texture.setflags(write=False)
            return texture
    raise ValueError(f"unknown texture {name!r} in {root}; valid: {', '.join(list_textures(folder))}")


def retexture(rgba: np.ndarray, texture: np.ndarray, repeats: float = 2.0) -> np.ndarray:
    """Re-colour an RGBA occluder with an RGB texture, keeping its shading and its alpha.

    The texture is resized so it repeats ``repeats`` times across the template's width, tiled to
    cover it, and multiplied by the template's luminance normalised to its 95th percentile inside
    the occluder (so a black cloth mask still shows its folds), floored at 0.3 so dark areas do not
    go black.
    """
    height, width = rgba.shape[:2]
    texture = np.asarray(texture)
    if texture.dtype != np.uint8 or texture.ndim != 3 or texture.shape[2] != 3:
        raise ValueError(f"texture must be RGB uint8 (H, W, 3), got {texture.dtype} {texture.shape}")
    tile_w = max(1, int(round(width / repeats)))
    tile_h = max(1, int(round(texture.shape[0] * tile_w / texture.shape[1])))
    tile = cv2.resize(texture, (tile_w, tile_h), interpolation=cv2.INTER_AREA)
    reps = (-(-height // tile_h), -(-width // tile_w), 1)
    pattern = np.tile(tile, reps)[:height, :width].astype(np.float32)
    luminance = cv2.cvtColor(np.ascontiguousarray(rgba[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    inside = rgba[..., 3] > 127
    top = float(np.percentile(luminance[inside], 95)) if inside.any() else 255.0
    shade = np.clip(luminance / max(top, 1.0), 0.0, 1.0)
    shade = 0.3 + 0.7 * shade
    out = np.empty_like(rgba)
    out[..., :3] = np.clip(pattern * shade[..., None] + 0.5, 0, 255).astype(np.uint8)
    out[..., 3] = rgba[..., 3]
    return out


# --- geometry --------------------------------------------------------------------------------

def _check_landmarks(landmarks) -> np.ndarray:
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        raise ValueError(f"landmarks must be 5 finite (x, y) points in ARCFACE_TEMPLATE order, got shape {points.shape}")
    return points


def _face_frame(landmarks: np.ndarray):
    eye_left, eye_right, nose, mouth_left, mouth_right = landmarks
    eye_centre = (eye_left + eye_right) / 2
    mouth_centre = (mouth_left + mouth_right) / 2
    down = mouth_centre - eye_centre
    height = float(np.hypot(*down))
    interocular = float(np.hypot(*(eye_right - eye_left)))
    if height < 1e-6 or interocular < 1e-6:
        raise ValueError("landmarks are degenerate (eyes or eye-to-mouth distance collapse to a point)")
    down /= height
    across = np.array([down[1], -down[0]])  # image right when the face is upright
    if float(across @ (eye_right - eye_left)) < 0:
        raise ValueError("landmarks are mirrored: eye_left must be the eye on the image's left, as in ARCFACE_TEMPLATE")
    return eye_centre, down, across, height, interocular


def estimate_yaw(landmarks) -> float:
    """Nose-tip offset from the eye-mouth midline in inter-ocular distances (> 0: nose to image right)."""
    points = _check_landmarks(landmarks)
    eye_centre, _, across, _, interocular = _face_frame(points)
    return float((points[2] - eye_centre) @ across) / interocular


def face_anchor_points(landmarks=ARCFACE_TEMPLATE) -> np.ndarray:
    """The six face points (6, 2) that template anchors a..f are mapped to (see module docstring)."""
    points = _check_landmarks(landmarks)
    eye_centre, down, across, height, interocular = _face_frame(points)
    g = FACE_GEOMETRY
    yaw = estimate_yaw(points)
    left_scale = float(np.clip(1 + g["narrowing"] * yaw, 0.2, 1.8))   # nose to the right: left side widens
    right_scale = float(np.clip(1 - g["narrowing"] * yaw, 0.2, 1.8))

    def at(t: float, sideways: float) -> np.ndarray:
        return eye_centre + t * height * down + sideways * interocular * across

    bridge = g["bridge_follow"] * yaw
    chin = g["chin_follow"] * yaw
    return np.array([
        at(g["top_t"], bridge - g["top_half"] * left_scale),   # a
        at(g["bridge_t"], bridge),                              # b
        at(g["top_t"], bridge + g["top_half"] * right_scale),  # c
        at(g["jaw_t"], chin - g["jaw_half"] * left_scale),     # d
        at(g["chin_t"], chin),                                  # e
        at(g["jaw_t"], chin + g["jaw_half"] * right_scale),    # f
    ])


def resolve_template(template: str, landmarks, pose: str = "frontal", folder=None) -> str:
    """Template name for ``template`` (a base name like ``cloth`` or a full one like ``cloth_left``) and ``pose``."""
    if pose not in POSES:
        raise ValueError(f"unknown pose {pose!r}; valid: {', '.join(POSES)}")
    names = list_templates(folder=folder)
    if template not in names:
        raise ValueError(f"unknown MaskTheFace template {template!r}; valid: {', '.join(names)}")
    if _is_variant(template) or pose == "frontal":
        return template
    if pose == "auto":
        yaw = estimate_yaw(landmarks)
        if abs(yaw) <= YAW_THRESHOLD:
            return template
        pose = "left" if yaw < 0 else "right"  # _left pictures have the nose bridge (b) at the left end
    variant = f"{template}_{pose}"
    return variant if variant in names else template


def _default_landmarks(shape) -> np.ndarray:
    height, width = shape[:2]
    return ARCFACE_TEMPLATE * np.array([width / CROP_SIZE, height / CROP_SIZE])


@functools.lru_cache(maxsize=64)
def _prepared(folder: str, name: str, texture: str | None, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(premultiplied float32 RGBA, anchors) of a template, optionally textured, resized to ``width``."""
    base = _load(folder, name)
    rgba = base.rgba if texture is None else retexture(base.rgba, _load_texture(folder, texture))
    return _premultiply(rgba, base.anchors, width)


def _premultiply(rgba: np.ndarray, anchors: np.ndarray, width: int):
    height, full_width = rgba.shape[:2]
    if width < full_width:  # shrink with area averaging first; warpPerspective alone would alias
        new_height = max(1, int(round(height * width / full_width)))
        scale = np.array([width / full_width, new_height / height])
        rgba = cv2.resize(rgba, (width, new_height), interpolation=cv2.INTER_AREA)
        anchors = (anchors + 0.5) * scale - 0.5  # cv2.resize maps pixel centres this way
    values = rgba.astype(np.float32) / 255.0
    values[..., :3] *= values[..., 3:4]
    anchors = np.array(anchors, dtype=np.float64)
    values.setflags(write=False)
    anchors.setflags(write=False)
    return values, anchors


def _working_width(template_width: int, source: np.ndarray, target: np.ndarray) -> int:
    """Template width at which it is at most ~2x the size it will have in the image (multiple of 16)."""
    spread = np.linalg.norm(target - target.mean(0), axis=1).sum()
    base = np.linalg.norm(source - source.mean(0), axis=1).sum()
    scale = spread / max(base, 1e-9)
    width = int(np.ceil(2 * scale * template_width / 16.0)) * 16
    return int(min(template_width, max(16, width)))


def warp_occluder(rgba_premultiplied: np.ndarray, anchors: np.ndarray, face_points: np.ndarray,
                  shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Warp a premultiplied RGBA float template so ``anchors`` land on ``face_points``.

    Returns (colour float32 (H, W, 3) in [0, 1], alpha float32 (H, W)).
    """
    homography, _ = cv2.findHomography(anchors.astype(np.float64), face_points.astype(np.float64), 0)
    if homography is None:
        raise ValueError("could not fit a homography between template anchors and face points")
    height, width = shape
    warped = cv2.warpPerspective(rgba_premultiplied, homography, (width, height), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    alpha = np.clip(warped[..., 3], 0.0, 1.0)
    colour = warped[..., :3] / np.maximum(alpha, 1e-6)[..., None]
    return np.clip(colour, 0.0, 1.0), alpha


def apply_maskthface(
    image: np.ndarray,
    landmarks=None,
    template: str = "surgical",
    pose: str = "frontal",
    texture: str | np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    folder=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Put a MaskTheFace occluder on the face. Returns (occluded RGB uint8, bool mask, True = hole).

    ``landmarks`` default to :data:`ARCFACE_TEMPLATE` scaled to the image (an aligned crop).
    ``template`` is a base name (``surgical``, ``N95``, ``KN95``, ``cloth``, ``gas``,
    ``surgical_blue``, ``surgical_green``), ``random`` (a base name drawn with ``rng``) or a full
    variant name; ``pose`` is ``frontal`` (default), ``left``, ``right`` or ``auto`` (from
    :func:`estimate_yaw`). ``texture`` re-colours the occluder (meant for ``cloth``): a name from
    :func:`list_textures`, ``random`` (drawn with ``rng``) or an RGB uint8 array.
    """
    image = check_image(image)
    root = str(_folder(folder))
    points = _default_landmarks(image.shape) if landmarks is None else _check_landmarks(landmarks)
    if template == "random" or (isinstance(texture, str) and texture == "random"):
        if not isinstance(rng, np.random.Generator):
            raise ValueError("template='random' / texture='random' need rng=numpy.random.default_rng(seed)")
    if template == "random":
        bases = list_templates(include_variants=False, folder=root)
        template = bases[int(rng.integers(len(bases)))]
    name = resolve_template(template, points, pose, folder=root)
    if isinstance(texture, str) and texture == "random":
        textures = list_textures(root)
        if not textures:
            raise ValueError(f"no textures found under {Path(root) / 'textures'}")
        texture = textures[int(rng.integers(len(textures)))]

    face_points = face_anchor_points(points)
    base = _load(root, name)
    width = _working_width(base.rgba.shape[1], base.anchors, face_points)
    if texture is None or isinstance(texture, str):
        premultiplied, anchors = _prepared(root, name, texture, width)
    else:
        premultiplied, anchors = _premultiply(retexture(base.rgba, texture), base.anchors, width)
    colour, alpha = warp_occluder(premultiplied, anchors, face_points, image.shape[:2])
    mask = alpha > 0.5
    occluded = image.copy()
    occluded[mask] = np.clip(colour[mask] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return occluded, mask
