"""Identity retention (evaluation/retention.py): the measure that picks designs on held-out
validation crops instead of the test pairs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_tsne import PoolingRecognizer  # 8x8 average-pooled pixels: a hole changes the embedding

from idinpaint.data.lfw import validation_crops
from idinpaint.evaluation.retention import identity_retention, paired_retention, retention_markdown
from idinpaint.fillers import Filler, get_filler

REPO = Path(__file__).resolve().parents[1]
LFW_112 = REPO / "data" / "lfw-112"


class OracleFiller(Filler):
    """Pastes the true pixels back (knows the clean faces): retention must come out as 1."""

    name = "oracle"

    def __init__(self, clean):
        self.clean = clean

    def _fill(self, images, masks):
        return self.clean


class RecordingFiller(Filler):
    name = "recording"

    def __init__(self):
        self.seen = []

    def _fill(self, images, masks):
        self.seen.append(images.copy())
        return images


@pytest.fixture
def faces():
    rng = np.random.default_rng(0)
    return rng.integers(30, 226, size=(5, 112, 112, 3), dtype=np.uint8)


@pytest.mark.slow
def test_retention_is_one_for_the_true_pixels_and_lower_for_the_occluded_face(faces):
    measured = identity_retention(PoolingRecognizer(), faces, {"none": get_filler("none"), "oracle": OracleFiller(faces)},
                                  regions=["two_eyes", "upper_face"])
    value = {(r["region"], r["filler"]): r["retention"] for r in measured["rows"]}
    assert value[("two_eyes", "oracle")] == pytest.approx(1.0, abs=1e-6)
    assert value[("upper_face", "none")] < value[("two_eyes", "none")] < 0.99  # the larger hole loses more
    assert all(r["n"] == 5 for r in measured["rows"])
    compared = paired_retention(measured["per_image"], "oracle", "none")
    assert compared["delta"] > 0 and compared["faces_better"] == 5 and compared["regions"] == ["two_eyes", "upper_face"]
    table = retention_markdown(measured["rows"], "t")
    assert "| upper_face |" in table and "**mean**" in table


def test_retention_paints_each_label_with_its_own_fill(faces):
    black, gray = RecordingFiller(), RecordingFiller()
    identity_retention(PoolingRecognizer(), faces, {"none": black, "gray:none": gray}, regions=["mouth"],
                       fills={"gray:none": "gray"})
    from idinpaint.occlusion import region_mask

    hole = region_mask("mouth")
    assert np.all(black.seen[0][:, hole] == 0) and np.all(gray.seen[0][:, hole] == 128)
    assert np.array_equal(black.seen[0][:, ~hole], faces[:, ~hole])


def test_retention_rejects_unaligned_images_and_unknown_regions(faces):
    with pytest.raises(ValueError, match="112, 112, 3"):
        identity_retention(PoolingRecognizer(), faces[:, :100], {"none": get_filler("none")})
    with pytest.raises(ValueError, match="unknown regions"):
        identity_retention(PoolingRecognizer(), faces, {"none": get_filler("none")}, regions=["ears"])
    with pytest.raises(KeyError, match="no retention"):
        paired_retention({}, "a", "b", ["mouth"])


@pytest.mark.slow
def test_validation_crops_are_the_training_splits_held_out_people(lfw_root):
    from idinpaint.data.lfw import identity_of, lfw_half_pairs, lfw_training_files, load_pairs, split_by_identity

    pairs = load_pairs()
    tree = LFW_112 if (LFW_112 / "AJ_Cook").is_dir() else lfw_root / "raw"
    for half in ("A", "B"):
        crops = validation_crops(half, 64, 0, tree)
        train, held = split_by_identity(lfw_training_files(half, tree, pairs), 64, 0)
        assert crops == held and len(crops) == 64
        people = {identity_of(c) for c in crops}
        evaluated = {identity_of(path) for p in lfw_half_pairs(pairs, half) for path in (p.first, p.second)}
        assert not people & evaluated
        assert not people & {identity_of(f) for f in train}


@pytest.mark.slow
def test_retention_figure_has_a_panel_per_recognizer_and_half_and_is_saved(faces, tmp_path):
    from idinpaint.figures import plot_identity_retention, save_figure

    measured = identity_retention(PoolingRecognizer(), faces, {"none": get_filler("none"), "oracle": OracleFiller(faces)},
                                  regions=["nose", "mouth"])
    rows = [{"recognizer": "pooling", "half": h, **r} for h in "AB" for r in measured["rows"]]
    fig = plot_identity_retention(rows, title="t")
    assert [ax.get_title() for ax in fig.axes] == ["pooling · half A", "pooling · half B"]
    assert len(fig.axes[0].patches) == 4  # 2 regions x 2 fillers
    paths = save_figure(fig, "retention_test", tmp_path)
    assert {p.suffix for p in paths} == {".png", ".pdf"} and all(p.stat().st_size > 0 for p in paths)


def test_margin_does_not_reward_a_fill_that_makes_everyone_look_alike(faces):
    class SameFaceFiller(Filler):
        name = "same"

        def _fill(self, images, masks):
            return np.repeat(faces[:1], len(images), axis=0)

    people = ["p0", "p1", "p2", "p3", "p4"]
    measured = identity_retention(PoolingRecognizer(), faces, {"none": get_filler("none"), "same": SameFaceFiller(),
                                  "oracle": OracleFiller(faces)}, regions=["upper_face"], identities=people)
    row = {r["filler"]: r for r in measured["rows"]}
    assert row["oracle"]["margin"] == pytest.approx(1.0 - row["oracle"]["impostor"])
    assert row["same"]["impostor"] > row["oracle"]["impostor"]  # everyone now shares one upper face
    assert row["oracle"]["margin"] > max(row["none"]["margin"], row["same"]["margin"])
    assert set(measured["per_image_margin"]) == set(measured["per_image"])
    with pytest.raises(ValueError, match="two people"):
        identity_retention(PoolingRecognizer(), faces, {"none": get_filler("none")}, regions=["mouth"], identities=["a"] * 5)


def test_half_fillers_parse_fill_and_blend_labels_and_refuse_a_blend_on_a_plain_filler(tmp_path):
    from idinpaint.evaluation.retention import half_fillers

    fillers, fills = half_fillers(["none", "gray:none", "telea"], "A")
    assert list(fillers) == ["none", "gray:none", "telea"] and fills == {"gray:none": "gray"}
    with pytest.raises(ValueError, match="only ca / ca_id take a /BLEND"):
        half_fillers(["telea/alpha"], "A")
    with pytest.raises(FileNotFoundError, match="no half-A model"):
        half_fillers(["ca_id"], "A", {"mine": tmp_path})


def test_half_fillers_ca_label_is_the_ca_inside_a_shipped_ca_id_file():
    from idinpaint.evaluation.retention import half_fillers

    fillers, _ = half_fillers(["ca/none", "ca_id"], "A")
    assert fillers["ca/none"].inpainter.fusor is None and fillers["ca/none"].blend == "none"
    assert fillers["ca_id"].inpainter.fusor is not None


@pytest.mark.slow
def test_rows_carry_realism_and_the_summary_puts_both_axes_side_by_side(faces):
    from idinpaint.evaluation.retention import summary_markdown, summary_rows

    measured = identity_retention(PoolingRecognizer(), faces, {"none": get_filler("none"), "oracle": OracleFiller(faces),
                                                               "telea": get_filler("telea")},
                                  regions=["two_eyes", "upper_face", "center_block"], identities=list("abcde"))
    rows = {(r["region"], r["filler"]): r for r in measured["rows"]}
    assert rows[("two_eyes", "oracle")]["chroma_spread"] == pytest.approx(1.0)
    assert rows[("two_eyes", "oracle")]["hole_psnr"] == 100.0
    assert rows[("two_eyes", "none")]["chroma_spread"] == pytest.approx(0.0, abs=1e-6)  # black: no colour
    summary = {s["filler"]: s for s in summary_rows([{"recognizer": "pool", **r} for r in measured["rows"]])}
    assert summary["oracle"]["chroma_spread_upper_face"] == pytest.approx(1.0)
    assert summary["oracle"]["pool_retention"] == pytest.approx(1.0, abs=1e-6)
    assert summary["telea"]["pool_margin"] < summary["oracle"]["pool_margin"]
    assert summary["telea"]["hole_psnr_hardest3"] > summary["none"]["hole_psnr_hardest3"]
    assert "| oracle |" in summary_markdown(list(summary.values()))


def test_one_filling_serves_every_recognizer(faces):
    from idinpaint.evaluation.retention import fill_regions

    class Other(PoolingRecognizer):
        name = "other"

    recording = RecordingFiller()
    fillers = {"none": get_filler("none"), "recording": recording}
    filled = fill_regions(faces, fillers, ["mouth", "nose"])
    assert len(recording.seen) == 2  # once per region
    shared = [identity_retention(r, faces, fillers, ["mouth", "nose"], filled=filled) for r in (PoolingRecognizer(), Other())]
    assert len(recording.seen) == 2  # the recognizers did not fill again
    alone = identity_retention(PoolingRecognizer(), faces, fillers, ["mouth", "nose"])
    assert len(recording.seen) == 4
    assert shared[0]["rows"] == alone["rows"]


@pytest.mark.slow
def test_rows_carry_the_c2st_judged_by_person_and_the_summary_shows_it_on_the_hardest_three():
    from idinpaint.evaluation.realism import C2ST_FIELDS
    from idinpaint.evaluation.retention import summary_markdown, summary_rows

    rng = np.random.default_rng(1)
    faces = rng.integers(60, 200, size=(40, 112, 112, 3), dtype=np.uint8)
    people = [f"Person_{k // 2:02d}" for k in range(40)]  # two crops each: a person is never on both sides
    measured = identity_retention(PoolingRecognizer(), faces, {"none": get_filler("none")}, regions=["two_eyes"],
                                  identities=people)
    row = measured["rows"][0]
    assert set(C2ST_FIELDS) <= set(row)
    assert row["c2st_auc"] >= 0.99 and row["c2st_n"] == 40  # a black hole is never real content
    few = identity_retention(PoolingRecognizer(), faces[:6], {"none": get_filler("none")}, regions=["two_eyes"],
                             identities=people[:6])
    assert np.isnan(few["rows"][0]["c2st_auc"])  # too few to judge: NaN, the retention is still measured
    assert not np.isnan(few["rows"][0]["retention"])
    summary = summary_rows([{"recognizer": "pool", **r} for r in measured["rows"]])[0]
    assert summary["c2st_two_eyes"] == pytest.approx(row["c2st_auc"]) and np.isnan(summary["c2st_upper_face"])
    assert "c2st two eyes" in summary_markdown([summary])
