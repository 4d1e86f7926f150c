"""Networks: shapes at 112, contextual attention semantics, AIF blend masks, exact compositing, gradients."""
from __future__ import annotations

import pytest
import torch

from idinpaint.models import (
    AIFBlock,
    AttributeEncoder,
    CAGenerator,
    ContextualAttention,
    Fusor,
    MultiscaleDiscriminator,
    count_parameters,
    get_model,
)

torch.set_num_threads(1)


def _hole(n=2, size=112, box=(30, 70, 20, 90)):
    mask = torch.zeros(n, 1, size, size)
    y0, y1, x0, x1 = box
    mask[:, :, y0:y1, x0:x1] = 1
    return mask


def _all_params_have_gradients(module: torch.nn.Module) -> None:
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        assert p.grad is not None, f"no gradient reached {name}"
        assert torch.isfinite(p.grad).all(), f"non-finite gradient in {name}"
        assert p.grad.abs().sum() > 0, f"zero gradient in {name}"


# --- contextual attention -----------------------------------------------------------------------

def test_contextual_attention_passes_foreground_outside_the_hole():
    torch.manual_seed(0)
    f, b = torch.randn(2, 8, 28, 28), torch.randn(2, 8, 28, 28)
    mask = _hole(2, 28, (8, 16, 6, 20))
    out, attention = ContextualAttention()(f, b, mask)
    assert out.shape == f.shape and attention.shape == (2, 14 * 14, 14, 14)
    assert torch.equal(out[mask.expand_as(out) == 0], f[mask.expand_as(f) == 0])
    assert not torch.equal(out[mask.expand_as(out) == 1], f[mask.expand_as(f) == 1])


def test_contextual_attention_never_chooses_hole_patches_and_copies_background():
    torch.manual_seed(1)
    features = torch.randn(1, 8, 32, 32)
    # The hole holds an exact copy of a background region, so each hole position has two perfect
    # matches: itself (a hole patch, which must not be chosen) and the background original.
    features[:, :, 16:24, 16:24] = features[:, :, 0:8, 0:8]
    mask = _hole(1, 32, (16, 24, 16, 24))
    layer = ContextualAttention(rate=2, scale=50.0, fuse=False)
    out, attention = layer(features, features, mask)
    # background patches touching the hole (3x3 on the 16x16 grid around grid cells 8..11) get 0
    touching = torch.zeros(16, 16, dtype=torch.bool)
    touching[7:13, 7:13] = True
    assert attention[0].view(16, 16, 16, 16)[touching].abs().max() == 0
    # interior hole queries (grid 9..10) choose the background original (grid 1..2)
    for qy in (9, 10):
        for qx in (9, 10):
            best = int(attention[0, :, qy, qx].argmax())
            assert divmod(best, 16) == (qy - 8, qx - 8)
    # and the reconstruction inside the hole copies the background pixels
    torch.testing.assert_close(out[..., 18:22, 18:22], features[..., 2:6, 2:6], atol=0.05, rtol=0)


def test_contextual_attention_fills_the_hole_only_from_background_values():
    background = torch.full((1, 4, 24, 24), 0.7)
    mask = _hole(1, 24, (6, 14, 8, 18))
    background[mask.expand_as(background) == 1] = torch.randn(int(mask.sum()) * 4) * 5
    out, attention = ContextualAttention(fuse=True)(background, background, mask)
    torch.testing.assert_close(out, torch.full_like(out, 0.7), atol=1e-5, rtol=0)
    hole_queries = attention[0, :, 4, 5]  # a query inside the hole on the 12x12 grid
    assert abs(float(hole_queries.sum()) - 1.0) < 1e-5


def test_contextual_attention_without_any_valid_patch_gives_zeros_not_nan():
    f = torch.randn(1, 4, 16, 16)
    out, _ = ContextualAttention()(f, f, torch.ones(1, 1, 16, 16))
    assert torch.isfinite(out).all() and out.abs().max() == 0


# --- CA -------------------------------------------------------------------------------------------

def test_ca_shapes_at_112_and_hole_content_is_ignored():
    torch.manual_seed(0)
    ca = CAGenerator(width=4, dilations=(2, 4)).eval()
    image, mask = torch.rand(2, 3, 112, 112) * 2 - 1, _hole()
    coarse, refined = ca(image, mask)
    assert coarse.shape == refined.shape == (2, 3, 112, 112)
    assert coarse.abs().max() <= 1 and refined.abs().max() <= 1
    other = image.clone()
    other[mask.expand_as(other) == 1] = -1  # a different occluder in the hole
    torch.testing.assert_close(ca(other, mask)[1], refined)
    with pytest.raises(ValueError, match="multiples of 8"):
        ca(torch.zeros(1, 3, 100, 100), torch.zeros(1, 1, 100, 100))


def test_ca_gradients_reach_every_parameter():
    torch.manual_seed(0)
    ca = CAGenerator(width=4, dilations=(2,))
    coarse, refined = ca(torch.rand(2, 3, 112, 112) * 2 - 1, _hole())
    (coarse.square().mean() + refined.square().mean()).backward()
    _all_params_have_gradients(ca)


# --- Fusor ----------------------------------------------------------------------------------------

def test_attribute_encoder_levels_from_7_to_112():
    levels = AttributeEncoder(width=4)(torch.zeros(2, 3, 112, 112), torch.zeros(2, 1, 112, 112))
    assert [tuple(z.shape[-2:]) for z in levels] == [(7, 7), (14, 14), (28, 28), (56, 56), (112, 112)]


def test_aif_blend_mask_is_n_1_h_w_on_a_non_square_input():
    torch.manual_seed(0)
    block = AIFBlock(channels=8, att_channels=5, id_dim=16)
    out, blend = block(torch.randn(2, 8, 6, 10), torch.randn(2, 5, 6, 10), torch.randn(2, 16))
    assert out.shape == (2, 8, 6, 10)
    assert blend.shape == (2, 1, 6, 10)  # a H/W swap would give (2, 1, 10, 6)
    assert ((blend > 0) & (blend < 1)).all()


def test_fusor_non_square_blend_masks_and_exact_composite():
    torch.manual_seed(0)
    fusor = Fusor(enc_width=4, gen_width=4, att_kernel=1).eval()
    prior = torch.rand(2, 3, 112, 96) * 2 - 1
    mask = torch.zeros(2, 1, 112, 96)
    mask[:, :, 20:60, 10:80] = 1
    z_id = torch.nn.functional.normalize(torch.randn(2, 128), dim=1)
    out, generated, z_att = fusor(prior, mask, z_id)
    assert out.shape == generated.shape == prior.shape
    for level, block in enumerate(fusor.generator.blocks):
        height, width = z_att[level].shape[-2:]
        assert height != width
        for blend in block.last_blend_masks:
            assert blend.shape == (2, 1, height, width)
    keep = mask.expand_as(out) == 0
    assert torch.equal(out[keep], prior[keep])  # bit-exact outside the hole
    assert torch.equal(out[~keep], generated[~keep])


def test_fusor_output_equals_input_outside_mask_at_112_and_gradients_flow():
    torch.manual_seed(0)
    fusor = Fusor(enc_width=4, gen_width=4)
    prior, mask = torch.rand(2, 3, 112, 112) * 2 - 1, _hole()
    z_id = torch.nn.functional.normalize(torch.randn(2, 128), dim=1)
    out, generated, z_att = fusor(prior, mask, z_id)
    keep = mask.expand_as(out) == 0
    assert torch.equal(out[keep], prior[keep])
    (out.square().mean() + 0.1 * generated.square().mean()).backward()
    _all_params_have_gradients(fusor)
    with pytest.raises(ValueError, match="z_id"):
        fusor(prior, mask, torch.zeros(2, 64))


# --- discriminator and factory ---------------------------------------------------------------------

def test_multiscale_discriminator_outputs_and_gradients():
    disc = MultiscaleDiscriminator(width=8, scales=3, layers=3)
    image, mask = torch.rand(2, 3, 112, 112), _hole()
    outputs = disc(image, mask)
    assert [tuple(o.shape) for o in outputs] == [(2, 1, 14, 14), (2, 1, 7, 7), (2, 1, 3, 3)]
    sum(o.mean() for o in outputs).backward()
    _all_params_have_gradients(disc)
    with pytest.raises(ValueError, match="mask"):
        disc(image)
    assert len(MultiscaleDiscriminator(width=8, scales=2)(image, mask)) == 2


def test_get_model_factory_and_errors():
    assert isinstance(get_model("ca", width=4, dilations=[2]), CAGenerator)
    assert count_parameters(get_model("fusor", enc_width=4, gen_width=4)) > 0
    with pytest.raises(ValueError, match="unknown model"):
        get_model("deepfill")
    with pytest.raises(ValueError, match="unknown config keys"):
        get_model("ca", widht=4)


def test_residual_fusor_starts_as_the_prior_and_learns_its_gain():
    torch.manual_seed(0)
    fusor = Fusor(enc_width=4, gen_width=4, residual=True)
    prior, mask = torch.rand(2, 3, 112, 112) * 2 - 1, _hole()
    out, generated, _ = fusor(prior, mask, torch.nn.functional.normalize(torch.randn(2, 128), dim=1))
    assert torch.equal(out, prior)
    (out - 0.3).square().mean().backward()
    assert fusor.residual_gain.grad is not None and fusor.residual_gain.grad.abs() > 0


def test_band_limited_luma_residual_keeps_colour_and_fine_detail_of_the_prior():
    torch.manual_seed(0)
    fusor = Fusor(enc_width=4, gen_width=4, residual=True, band_limit=4, luma_only=True)
    assert fusor.config["band_limit"] == 4 and fusor.config["luma_only"] is True
    residual = torch.randn(2, 3, 112, 112)
    shaped = fusor.shape_residual(residual)
    # one value for all channels: a brightness change, no colour of its own
    assert torch.allclose(shaped[:, 0], shaped[:, 1]) and torch.allclose(shaped[:, 1], shaped[:, 2])
    # band-limited: nothing finer than the pooling grid survives (a checkerboard vanishes)
    checker = ((torch.arange(112)[:, None] + torch.arange(112)[None]) % 2).float().expand(1, 3, 112, 112) * 2 - 1
    assert fusor.shape_residual(checker).abs().max() < 1e-6
    # the plain residual Fusor's config (and so older files' cache keys) is unchanged
    assert "band_limit" not in Fusor(enc_width=4, gen_width=4, residual=True).config
    with pytest.raises(ValueError, match="need residual"):
        Fusor(enc_width=4, gen_width=4, band_limit=4)
