"""The ``reference`` filler and the reference track's rules, on real LFW photos aligned by the real
pipeline: the fit and its refusal, the near-duplicate rule, coverage bookkeeping and the attack's
references (never the first image itself)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from idinpaint.data.lfw import Pair
from idinpaint.evaluation.reference import (
    NEAR_DUPLICATE_NCC,
    ReferencePlan,
    claimed_identity_references,
    coverage_table,
    crop_ncc,
    gallery_notes,
    near_duplicate,
    plan_filler,
    reference_plan,
)
from idinpaint.fillers import get_filler
from idinpaint.fillers.reference import (
    ReferenceFiller,
    ReferenceRefused,
    fit_reference,
    reference_fill,
    ring_mask,
)
from idinpaint.occlusion import occlude, region_mask

# Britney_Spears 0001/0002 are two shots of one sitting (grey NCC 0.94); 0003-0005 other days.
# Tom_Ridge: five photos; Hosni_Mubarak: another person.
FILES = [f"Britney_Spears/Britney_Spears_{i:04d}.jpg" for i in range(1, 6)] + \
        [f"Tom_Ridge/Tom_Ridge_{i:04d}.jpg" for i in range(1, 6)] + \
        ["Hosni_Mubarak/Hosni_Mubarak_0001.jpg", "Hosni_Mubarak/Hosni_Mubarak_0002.jpg"]


@pytest.fixture(scope="module")
def people(lfw_root, tmp_path_factory):
    """The photos above aligned by the real pipeline: (folder, {relative png: crop})."""
    from idinpaint.data.aligned import aligned_name, read_faces
    from idinpaint.preprocess import preprocess_folder

    folder = tmp_path_factory.mktemp("reference_aligned")
    report = preprocess_folder(lfw_root / "raw", folder, files=FILES, progress=False)
    assert not report.failures, report.failures
    names = [aligned_name(f) for f in FILES]
    return folder, dict(zip(names, read_faces(folder, names)))


def crop(people, name):
    return people[1][name]


def test_the_own_pixels_come_back_exactly_and_only_the_hole_changes(people):
    clean = crop(people, "Tom_Ridge/Tom_Ridge_0005.png")
    for region in ("two_eyes", "upper_face", "center_block"):
        mask = region_mask(region)
        occluded = occlude(clean, mask, "black")
        filled, fit = reference_fill(occluded, mask, clean)
        assert fit.ok and fit.ncc > 0.99
        assert np.array_equal(filled, clean), region  # self-paste: the true content, through the same blend
        others = np.stack([crop(people, f"Tom_Ridge/Tom_Ridge_{i:04d}.png") for i in (2, 3)])
        other = reference_fill(occluded, mask, others)[0]
        assert np.array_equal(other[~mask], occluded[~mask])
        assert (other[mask] != occluded[mask]).any()


def test_a_shifted_reference_is_fitted_back_on_the_ring(people):
    clean = crop(people, "Tom_Ridge/Tom_Ridge_0003.png")
    mask = region_mask("two_eyes")
    shifted = cv2.warpAffine(clean, np.float32([[1, 0, 3], [0, 1, -2]]), (112, 112), borderMode=cv2.BORDER_REPLICATE)
    fit = fit_reference(occlude(clean, mask, "black"), mask, shifted, motion="translation")
    assert fit.ok
    assert fit.warp[0, 2] == pytest.approx(3, abs=0.25) and fit.warp[1, 2] == pytest.approx(-2, abs=0.25)


def test_a_reference_that_does_not_fit_is_refused_in_one_line_and_the_caller_falls_back(people):
    probe = crop(people, "Tom_Ridge/Tom_Ridge_0005.png")
    mask = region_mask("two_eyes")
    occluded = occlude(probe, mask, "black")
    flat = np.full_like(probe, 128)                       # no face at all
    upside_down = np.ascontiguousarray(np.rot90(probe))     # a face on its side: the ring cannot match
    for bad in (flat, upside_down):
        fit = fit_reference(occluded, mask, bad)
        assert not fit.ok and fit.reason and "\n" not in fit.reason
    with pytest.raises(ReferenceRefused) as refused:
        reference_fill(occluded, mask, np.stack([flat, upside_down]))
    assert "\n" not in str(refused.value) and "2 photos" in str(refused.value)
    assert not fit_reference(occluded, mask, probe[:100, :100]).ok  # not an aligned crop

    telea = get_filler("telea")
    filler = ReferenceFiller(fallback=telea)
    good = crop(people, "Tom_Ridge/Tom_Ridge_0002.png")
    both = np.stack([occluded, occluded])
    out = filler.fill(both, np.stack([mask, mask]), references=[upside_down, np.stack([upside_down, good])])
    assert [f.ok for f in filler.fits] == [False, True]
    assert filler.fits[1].index == 1                      # the reference that fits, chosen by the ring
    assert np.array_equal(out[0], telea.fill(occluded, mask))
    with pytest.raises(ReferenceRefused, match="image 0"):
        ReferenceFiller().fill(occluded, mask, references=upside_down)


def test_with_several_references_the_best_ring_fit_is_chosen(people):
    probe = crop(people, "Tom_Ridge/Tom_Ridge_0005.png")
    mask = region_mask("two_eyes")
    refs = np.stack([crop(people, f"Tom_Ridge/Tom_Ridge_{i:04d}.png") for i in (1, 2, 3, 4)])
    _, fit = reference_fill(occlude(probe, mask, "black"), mask, refs)
    fits = [fit_reference(occlude(probe, mask, "black"), mask, r) for r in refs]
    assert fit.ok and fit.ncc == max(f.ncc for f in fits if f.ok)
    assert sum(f.ok for f in fits) >= 2 and not all(f.ok for f in fits)  # a real choice among fits and refusals
    assert ring_mask(mask).sum() > 0 and not (ring_mask(mask) & mask).any()


def test_near_duplicates_are_shots_of_one_sitting(people):
    a, b = crop(people, "Britney_Spears/Britney_Spears_0001.png"), crop(people, "Britney_Spears/Britney_Spears_0002.png")
    assert crop_ncc(a, b) >= NEAR_DUPLICATE_NCC and near_duplicate(a, b)
    assert not near_duplicate(a, crop(people, "Britney_Spears/Britney_Spears_0004.png"))
    assert not near_duplicate(crop(people, "Tom_Ridge/Tom_Ridge_0001.png"), crop(people, "Hosni_Mubarak/Hosni_Mubarak_0001.png"))


def test_the_reference_rule_excludes_pair_partners_and_near_duplicates_and_counts_coverage(people):
    folder, _ = people
    pairs = [Pair("Britney_Spears/Britney_Spears_0003.jpg", "Britney_Spears/Britney_Spears_0001.jpg", True, 0),
             Pair("Tom_Ridge/Tom_Ridge_0001.jpg", "Hosni_Mubarak/Hosni_Mubarak_0001.jpg", False, 0),
             Pair("Hosni_Mubarak/Hosni_Mubarak_0002.jpg", "Tom_Ridge/Tom_Ridge_0002.jpg", False, 1)]
    probes = ["Britney_Spears/Britney_Spears_0001.png", "Hosni_Mubarak/Hosni_Mubarak_0001.png",
              "Tom_Ridge/Tom_Ridge_0002.png"]
    plans = reference_plan(pairs, probes, folder)
    britney = plans["Britney_Spears/Britney_Spears_0001.png"]
    assert britney.paired == ["Britney_Spears/Britney_Spears_0003.png"]
    assert "Britney_Spears/Britney_Spears_0003.png" not in britney.references   # the photo it is compared with
    assert "Britney_Spears/Britney_Spears_0002.png" in britney.near_duplicates   # the same sitting
    assert "Britney_Spears/Britney_Spears_0001.png" not in britney.references
    assert set(britney.references) | set(britney.near_duplicates) == {
        f"Britney_Spears/Britney_Spears_{i:04d}.png" for i in (2, 4, 5)}
    # Hosni_Mubarak_0002 is paired with Tom_Ridge_0002, not with the probe Hosni_Mubarak_0001: a reference
    assert plans["Hosni_Mubarak/Hosni_Mubarak_0001.png"].references == ["Hosni_Mubarak/Hosni_Mubarak_0002.png"]
    tom = plans["Tom_Ridge/Tom_Ridge_0002.png"]
    assert "Tom_Ridge/Tom_Ridge_0002.png" not in tom.references and tom.covered
    table = coverage_table(plans)
    assert table["probes"] == 3 and table["covered"] == sum(p.covered for p in plans.values())
    assert table["near_duplicates_removed"] == sum(len(p.near_duplicates) for p in plans.values()) >= 1
    # a person with one photo only is reported as not covered, not dropped
    alone = reference_plan([], ["Hosni_Mubarak/Hosni_Mubarak_0001.png"], folder,
                           all_pairs=[Pair("Hosni_Mubarak/Hosni_Mubarak_0002.jpg", "Hosni_Mubarak/Hosni_Mubarak_0001.jpg", True, 0)])
    assert not alone["Hosni_Mubarak/Hosni_Mubarak_0001.png"].covered
    assert coverage_table(alone) == {"probes": 1, "covered": 0, "no_other_photo": 1, "only_near_duplicates": 0,
                                     "near_duplicates_removed": 0, "partners_unchecked": 0}


def test_a_partner_missing_from_a_subset_of_crops_is_never_a_reference_and_is_reported_unchecked(people):
    folder, _ = people  # Britney_Spears_0006 is not aligned here, as most partners are not in the smoke crops
    pairs = [Pair("Britney_Spears/Britney_Spears_0006.jpg", "Britney_Spears/Britney_Spears_0003.jpg", True, 0)]
    plan = reference_plan(pairs, ["Britney_Spears/Britney_Spears_0003.png"], folder)["Britney_Spears/Britney_Spears_0003.png"]
    assert plan.unchecked == ["Britney_Spears/Britney_Spears_0006.png"]
    assert plan.covered and "Britney_Spears/Britney_Spears_0006.png" not in plan.references
    assert coverage_table({plan.probe: plan})["partners_unchecked"] == 1


def test_the_attack_fills_from_the_claimed_person_but_never_from_the_first_image_itself(people):
    folder, _ = people
    pair = Pair("Britney_Spears/Britney_Spears_0001.jpg", "Tom_Ridge/Tom_Ridge_0001.jpg", False, 0)
    refs = claimed_identity_references(pair, folder)
    assert refs and all(r.startswith("Britney_Spears/") for r in refs)
    assert "Britney_Spears/Britney_Spears_0001.png" not in refs                 # the first image itself
    assert "Britney_Spears/Britney_Spears_0002.png" not in refs                 # nor a near-duplicate of it
    probe = crop(people, "Tom_Ridge/Tom_Ridge_0001.png")
    mask = region_mask("two_eyes")
    filler = plan_filler("claimed", folder, {"Tom_Ridge/Tom_Ridge_0001.png": refs}, fallback=get_filler("telea"))
    out = filler.fill_for(occlude(probe, mask, "black")[None], mask[None], ["Tom_Ridge/Tom_Ridge_0001.png"])[0]
    assert np.array_equal(out[~mask], occlude(probe, mask, "black")[~mask])
    assert "claimed" in repr(filler)  # the plan is part of the evaluation cache key


def test_a_gallery_says_why_its_reference_column_shows_no_fill(people, tmp_path):
    from idinpaint.imageio import write_rgb

    tom = "Tom_Ridge/Tom_Ridge_0005.png"
    for name, face in ((tom, crop(people, tom)), ("Flat/Flat_0001.png", np.full((112, 112, 3), 128, np.uint8))):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        write_rgb(tmp_path / name, face)
    plans = {tom: ReferencePlan(tom, references=[tom])}                    # its own pixels: fits
    assert gallery_notes(plans, [tom], ["two_eyes", "mouth"], tmp_path) == ["", ""]
    plans = {tom: ReferencePlan(tom, references=["Flat/Flat_0001.png"])}   # no face: refused
    (note,) = gallery_notes(plans, [tom], ["two_eyes"], tmp_path)
    assert note.startswith("no fill: ")
    assert gallery_notes({tom: ReferencePlan(tom)}, [tom], ["two_eyes"], tmp_path)[0].startswith("no reference photo")
    assert gallery_notes({}, [tom], ["two_eyes"], tmp_path)[0].startswith("no reference photo")
