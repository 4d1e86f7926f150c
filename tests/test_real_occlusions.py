"""LFW's own occlusions: the shipped list loads and names only LFW crops, a malformed list is one line
naming the file, the O-Detector's evaluation never draws a listed photo as a face, and the table of
what a detector marks works on a tiny folder."""
from __future__ import annotations

import numpy as np
import pytest

from idinpaint.data.lfw import Pair
from idinpaint.data.real_occlusions import (
    KINDS,
    LFW_CROP_NAME,
    REAL_OCCLUSIONS_FILE,
    RealOcclusionsError,
    load_real_occlusions,
    really_occluded,
)
from idinpaint.evaluation.detector import (
    evaluation_crops,
    measure_real_occlusions,
    real_occlusion_crops,
    real_occlusions_markdown,
    real_occlusions_summary,
)
from idinpaint.imageio import write_rgb


def test_the_shipped_list_names_lfw_crops_of_known_kinds_with_as_many_clean_faces():
    listing = load_real_occlusions()
    assert 30 <= len(listing.occluded) <= 60 and len(listing.clean) == len(listing.occluded)
    assert set(listing.occluded.values()) <= set(KINDS) and len(set(listing.occluded.values())) >= 4
    for photo in [*listing.occluded, *listing.clean]:
        match = LFW_CROP_NAME.fullmatch(photo)
        assert match and photo.split("/")[1].startswith(match["person"] + "_"), photo
    assert not set(listing.occluded) & set(listing.clean)
    assert really_occluded() == frozenset(listing.occluded)
    assert listing.path == REAL_OCCLUSIONS_FILE and "Jack_Nicholson/Jack_Nicholson_0001.png" in listing.occluded


@pytest.mark.parametrize("text, reason", [
    ("occluded:\n  hand: [Bob_Hope/Bob_Hope_1.png]\nclean: []\n", "is not an LFW crop name"),
    ("occluded:\n  hand: [Bob_Hope/Ann_Lee_0001.png]\nclean: []\n", "is not an LFW crop name"),
    ("occluded:\n  scarf: [Bob_Hope/Bob_Hope_0001.png]\nclean: []\n", "unknown kind 'scarf'"),
    ("occluded:\n  hand: [Bob_Hope/Bob_Hope_0001.png]\nclean: [Bob_Hope/Bob_Hope_0001.png]\n", "listed twice"),
    ("occluded:\n  hand: [Bob_Hope/Bob_Hope_0001.png]\n  hat: [Bob_Hope/Bob_Hope_0001.png]\nclean: []\n",
     "listed twice"),
    ("clean: []\n", "needs an `occluded` mapping"),
    ("occluded: [\n", "not YAML"),
])
def test_a_malformed_list_is_one_line_naming_the_file(tmp_path, text, reason):
    path = tmp_path / "list.yaml"
    path.write_text(text)
    with pytest.raises(RealOcclusionsError) as caught:
        load_real_occlusions(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and reason in message and "\n" not in message


def test_a_missing_list_is_one_line(tmp_path):
    with pytest.raises(RealOcclusionsError, match="cannot be read"):
        load_real_occlusions(tmp_path / "nowhere.yaml")


def _crop(folder, photo, value: int = 128) -> None:
    write_rgb(folder / photo, np.full((112, 112, 3), value, np.uint8))


def test_the_evaluation_never_draws_a_listed_photo(tmp_path):
    listed = sorted(really_occluded())[0]
    person = listed.split("/")[0]
    others = [f"{person}/{person}_{n:04d}.png" for n in range(1, 6) if f"{person}/{person}_{n:04d}.png" != listed]
    for photo in [listed, *others[:3], "Ann_Lee/Ann_Lee_0001.png"]:
        _crop(tmp_path, photo)
    pairs = [Pair(f"{person}/{person}_0001.jpg", "Ann_Lee/Ann_Lee_0001.jpg", False, 0)]
    for seed in range(5):
        drawn = evaluation_crops("A", 10, tmp_path, pairs, seed=seed)
        assert listed not in drawn and set(others[:3]) <= set(drawn) and "Ann_Lee/Ann_Lee_0001.png" in drawn
    assert listed in evaluation_crops("A", 10, tmp_path, pairs, exclude=())  # the default is what excludes it


class _Marks:
    """A stand-in detector: marks the top ``rows`` rows of every crop brighter than 100."""

    def __init__(self, rows: int):
        self.rows = rows

    def predict_for(self, crops, relatives):
        assert len(crops) == len(relatives)
        masks = np.zeros(crops.shape[:3], dtype=bool)
        masks[crops[:, 0, 0, 0] > 100, : self.rows] = True
        return masks


def test_the_real_occlusion_table_on_a_tiny_folder(tmp_path):
    listing_path = tmp_path / "list.yaml"
    listing_path.write_text("occluded:\n  sunglasses: [Ann_Lee/Ann_Lee_0001.png, Bob_Hope/Bob_Hope_0002.png]\n"
                            "  hand: [Cy_Young/Cy_Young_0001.png]\n"
                            "clean: [Dee_Dee/Dee_Dee_0001.png, Eve_Arden/Eve_Arden_0003.png,"
                            " Fay_Wray/Fay_Wray_0001.png]\n")
    listing = load_real_occlusions(listing_path)
    folder = tmp_path / "aligned"
    for photo, value in [("Ann_Lee/Ann_Lee_0001.png", 200), ("Bob_Hope/Bob_Hope_0002.png", 200),
                         ("Cy_Young/Cy_Young_0001.png", 50), ("Dee_Dee/Dee_Dee_0001.png", 50),
                         ("Eve_Arden/Eve_Arden_0003.png", 200)]:
        _crop(folder, photo, value)
    measured = measure_real_occlusions(_Marks(rows=14), folder, listing, chunk=2)  # 14 of 112 rows: 12.5 %
    assert measured["missing"] == ["Fay_Wray/Fay_Wray_0001.png"]
    assert [row["kind"] for row in measured["rows"]] == ["sunglasses", "sunglasses", "hand", "clean", "clean"]
    assert {row["photo"]: row["marked"] for row in measured["rows"]} == {
        "Cy_Young/Cy_Young_0001.png": 0.0, "Ann_Lee/Ann_Lee_0001.png": 0.125, "Bob_Hope/Bob_Hope_0002.png": 0.125,
        "Dee_Dee/Dee_Dee_0001.png": 0.0, "Eve_Arden/Eve_Arden_0003.png": 0.125}
    assert measured["images"].shape == (5, 112, 112, 3) and measured["masks"].shape == (5, 112, 112)
    lines = real_occlusions_summary(measured["rows"])
    summary = {row["kind"]: row for row in lines}
    assert list(summary) == ["sunglasses", "hand", "all occluded", "clean"]
    assert (summary["all occluded"]["n"], summary["all occluded"]["found"]) == (3, 2)
    assert (summary["clean"]["n"], summary["clean"]["found"], summary["clean"]["over_1pct"]) == (2, 1, 1)
    assert summary["sunglasses"]["median"] == 0.125 and summary["hand"]["max"] == 0.0
    text = real_occlusions_markdown(lines).splitlines()
    assert len(text) == 6 and text[-1] == "| **clean** | 2 | 1 | 1 | 6.2 % | 6.2 % | 12.5 % |"
    listing_path.write_text("occluded:\n  hand: [Cy_Young/Cy_Young_0001.png]\nclean: [Dee_Dee/Dee_Dee_0001.png]\n")
    assert real_occlusion_crops(folder, listing=load_real_occlusions(listing_path)) == folder  # all there: no aligning


def test_leaving_a_photo_out_keeps_the_others_turn(tmp_path):
    people = [f"Person_{letter}" for letter in "ABCDEFGH"]
    for person in people:
        _crop(tmp_path, f"{person}/{person}_0001.png")
    pairs = [Pair(f"{a}/{a}_0001.jpg", f"{b}/{b}_0001.jpg", False, 0) for a, b in zip(people[::2], people[1::2])]
    for seed in range(4):
        before = evaluation_crops("A", 4, tmp_path, pairs, seed=seed, exclude=())
        after = evaluation_crops("A", 4, tmp_path, pairs, seed=seed, exclude=[before[0]])
        assert len(after) == 4 and before[0] not in after and len(set(before) - set(after)) == 1
