"""Notebook 09's library: a cosine is never printed beside a verdict it contradicts, the default pair
is picked by its stated rule, and the validation people and their pairs follow the reference rule."""
from __future__ import annotations

import numpy as np
import pytest

from idinpaint.data.lfw import Pair
from idinpaint.evaluation.tryit import (
    Judged,
    number_digits,
    person_pair,
    pick_rule,
    try_pairs,
    validation_pairs,
    validation_people,
)
from idinpaint.imageio import write_rgb


@pytest.mark.parametrize("cosine, threshold, digits", [
    (0.9058, 0.9064, 4),        # plainly below
    (0.9064, 0.9064, 4),        # on the threshold: same, printed equal
    (0.906372, 0.9064, 5),      # different, but 4 decimals would print 0.9064
    (0.9063999, 0.9064, 7),     # different until the 7th decimal
    (0.90642, 0.90644, 5),      # a threshold of more decimals: both printed with 5
])
def test_a_cosine_is_printed_with_enough_decimals_to_agree_with_its_verdict(cosine, threshold, digits):
    assert number_digits([cosine], threshold) == digits
    shown = float(f"{cosine:.{digits}f}") >= float(f"{threshold:.{digits}f}")
    assert shown == (cosine >= threshold)


def test_judged_prints_one_number_format_per_recogniser_beside_its_verdict():
    judged = Judged({"dlib": {"clean": [0.95], "hole (black)": [0.906372], "CA": [0.9058]},
                     "SFace": {"clean": [0.7], "hole (black)": [0.4], "CA": [0.2]}},
                    {"dlib": 0.9064, "SFace": 0.3311})
    assert judged.text("dlib", "hole (black)") == "0.90637 different"
    assert judged.text("dlib", "CA") == "0.90580 different"
    assert judged.threshold("dlib") == "0.90640" and judged.threshold("SFace") == "0.3311"
    assert judged.title("clean") == "dlib 0.95000 same\nSFace 0.7000 same"
    assert judged.rows()[2] == {"version": "CA", "dlib cosine": "0.90580", "dlib says": "different",
                                "SFace cosine": "0.2000", "SFace says": "different"}
    assert Judged({"x": {"clean": [0.5]}}, {"x": None}).text("x", "clean") == "0.5000"


def test_the_rule_takes_the_first_split_pair_else_the_widest_straddle():
    fills = ["Telea", "CA", "CA + ID"]
    cosines = {"clean": np.array([0.95, 0.95, 0.95]), "hole (black)": np.array([0.91, 0.88, 0.88]),
               "Telea": np.array([0.92, 0.87, 0.89]), "CA": np.array([0.92, 0.87, 0.92]),
               "CA + ID": np.array([0.90, 0.87, 0.93])}
    index, why = pick_rule(cosines, 0.9064, fills)
    assert index == 2 and "first" in why  # 0: its hole is same; 1: every fill different
    cosines["CA + ID"][2] = cosines["CA"][2] = 0.88  # nobody splits now
    index, why = pick_rule(cosines, 0.9064, fills)
    assert index == 0 and "straddle" in why


def _write(folder, relative, face):
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    write_rgb(path, face)


@pytest.fixture
def crops(tmp_path):
    """Ann: 0002 a near-duplicate of 0001, 0004 of 0003; Bob: three photos, one in a View-2 pair; Cy: one."""
    rng = np.random.default_rng(0)
    faces = {}
    for name in ["Ann_0001", "Ann_0003", "Ann_0005", "Bob_0001", "Bob_0002", "Bob_0003", "Cy_0001"]:
        faces[name] = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    faces["Ann_0002"] = np.clip(faces["Ann_0001"].astype(int) + rng.integers(-5, 6, (112, 112, 3)), 0, 255).astype(np.uint8)
    faces["Ann_0004"] = np.clip(faces["Ann_0003"].astype(int) + rng.integers(-5, 6, (112, 112, 3)), 0, 255).astype(np.uint8)
    for name, face in faces.items():
        _write(tmp_path, f"{name.split('_')[0]}/{name}.png", face)
    return tmp_path


def test_a_persons_pair_skips_near_duplicates_and_its_references_follow_the_rule(crops):
    pair = person_pair("Ann", crops)
    assert (pair.first, pair.second) == ("Ann/Ann_0001.png", "Ann/Ann_0003.png")  # 0002: the same sitting as 0001
    view2 = [Pair("Ann/Ann_0005.jpg", "Cy/Cy_0001.jpg", False, 0)]
    (shown,) = try_pairs([pair], crops, view2)
    assert shown.probe == "Ann/Ann_0003.png" and shown.gallery == "Ann/Ann_0001.png"
    assert shown.references == ["Ann/Ann_0005.png"]  # never 0001 (compared with), 0002 nor 0004 (near-duplicates)
    assert person_pair("Cy", crops) is None


def test_validation_people_are_outside_the_subset_or_held_out(crops):
    view2 = [Pair("Ann/Ann_0001.jpg", "Ann/Ann_0003.jpg", True, 0), Pair("Bob/Bob_0001.jpg", "Cy/Cy_0001.jpg", False, 5)]
    assert validation_people(crops, view2[:1], view2) == ["Bob"]       # Ann is in the subset, Cy has one photo
    assert validation_people(crops, view2, view2, held_out=["Ann/Ann_0005.png"]) == ["Ann"]
    (bob,) = validation_pairs(crops, view2[:1], view2)
    assert (bob.person, bob.gallery, bob.probe, bob.references) == ("Bob", "Bob/Bob_0001.png", "Bob/Bob_0002.png",
                                                                     ["Bob/Bob_0003.png"])
