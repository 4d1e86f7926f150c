"""``recover --reference``: the hole filled from another photo of the same person, written as
``<stem>_reference.png`` and named the one to look at; a reference with no face, or one both
recognisers find unlike the visible face, is reported in one line and the other fills are still
written; the ranking of the fills comes from what the recognisers said, never counting the fill made
of the reference's own pixels."""
from __future__ import annotations

import numpy as np
import pytest

from idinpaint.recover import rank_fills

PERSON = "Akhmed_Zakayev"


def test_the_ranking_is_what_the_recognisers_said_and_leaves_out_the_reference_fill():
    verification = {
        "sface": {"threshold": 0.33, "occluded": {"cosine": 0.50, "same": True}, "reference": {"cosine": 0.99, "same": True},
                  "telea": {"cosine": 0.40, "same": True}, "ca_id": {"cosine": 0.45, "same": True}},
        "dlib": {"threshold": 0.90, "occluded": {"cosine": 0.91, "same": True}, "reference": {"cosine": 0.99, "same": True},
                 "telea": {"cosine": 0.93, "same": True}, "ca_id": {"cosine": 0.92, "same": True}},
    }
    ranking = rank_fills(verification)
    assert [v for v, _, _ in ranking["ranks"]["sface"]] == ["occluded", "ca_id", "telea"]
    assert [v for v, _, _ in ranking["ranks"]["dlib"]] == ["telea", "ca_id", "occluded"]
    # ca_id: sface #2, dlib #2 (mean 2); telea: #3 and #1 (mean 2): the tie goes to the higher mean cosine
    assert ranking["pick"] == "ca_id"
    assert "sface #2 of 3" in ranking["why"] and "occluded photo itself scores higher with sface" in ranking["why"]


@pytest.fixture(scope="module")
def occluded_photo(lfw_root, tmp_path_factory):
    """A real LFW photo with a KN95 mask put on in photo space (its true mask too), and its folder."""
    from idinpaint.align import locate
    from idinpaint.imageio import read_rgb, write_rgb
    from idinpaint.occlusion import apply_maskthface

    photo = read_rgb(lfw_root / "raw" / PERSON / f"{PERSON}_0003.jpg")
    occluded, truth = apply_maskthface(photo, landmarks=locate(photo).landmarks, template="KN95", pose="auto")
    folder = tmp_path_factory.mktemp("recover_reference")
    path = folder / f"{PERSON}_0003.png"
    write_rgb(path, occluded)
    return path, occluded, truth


@pytest.mark.slow
def test_a_reference_of_the_same_person_fills_the_hole_with_real_pixels(occluded_photo, lfw_root, tmp_path):
    from idinpaint.imageio import read_rgb
    from idinpaint.recover import recover_file

    path, occluded, truth = occluded_photo
    recovery, report, written = recover_file(path, tmp_path, lfw_root / "raw" / PERSON / f"{PERSON}_0001.jpg",
                                             half="A", say=lambda line: None)
    assert report["for_viewing"] == "reference" and written["reference"].endswith(f"{PERSON}_0003_reference.png")
    filled = read_rgb(written["reference"])
    changed = (filled != occluded).any(axis=-1)
    assert changed.any() and not (changed & ~recovery.mask).any()          # only the hole changes
    hole = recovery.mask & truth
    # real pixels of the person where the mask was: far from the KN95's white, unlike the occluded photo
    assert filled[hole].mean() < occluded[hole].mean() - 40
    assert report["reference_fill"]["fit"].startswith("ring fit") and "reference_problem" not in report
    versions = report["verification"]["sface"]
    assert {"occluded", "reference", "telea", "ca", "ca_id"} <= set(versions)
    assert all(v != "reference" for rows in report["ranking"]["ranks"].values() for v, _, _ in rows)
    assert report["ranking"]["pick"] in {"telea", "ca", "ca_id"}


@pytest.mark.slow
def test_a_reference_without_a_face_or_of_another_person_is_reported_and_the_other_fills_written(
        occluded_photo, lfw_root, tmp_path):
    from idinpaint.imageio import write_rgb
    from idinpaint.recover import recover_file

    path, _, _ = occluded_photo
    blank = tmp_path / "blank.png"
    write_rgb(blank, np.full((160, 120, 3), 128, np.uint8))
    _, report, written = recover_file(path, tmp_path / "blank", blank, half="A", say=lambda line: None)
    assert "no face detected" in report["reference_problem"] and "\n" not in report["reference_problem"]
    assert "reference" not in written and {"telea", "ca", "ca_id"} <= set(written)
    assert "verification" not in report

    stranger = lfw_root / "raw" / "Hosni_Mubarak" / "Hosni_Mubarak_0001.jpg"
    _, report, written = recover_file(path, tmp_path / "stranger", stranger, half="A", say=lambda line: None)
    assert "unlike the visible part" in report["reference_problem"] and "\n" not in report["reference_problem"]
    assert "reference" not in written and {"telea", "ca", "ca_id"} <= set(written)
    assert report["for_viewing"] == "telea"
    for name, result in report["verification"].items():   # still verified against the stranger: "different"
        assert result["occluded"]["same"] is False, name
