"""The O-Detector: seeded composites, held-out families, metrics on toy masks, a tiny training that
learns, the weights-only file format with one-line errors, and LFW-half routing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from idinpaint.checkpoints import CheckpointError
from idinpaint.config import load_training_config
from idinpaint.detection import Detector, LFWHalvesDetector, get_detector, load_detector, postprocess, save_detector
from idinpaint.evaluation.detector import evaluate_detector, example_tiles, generalisation_markdown
from idinpaint.models import get_model
from idinpaint.occlusion.metrics import mask_metrics, summarize_metrics
from conftest import TINY_DETECTOR_STEPS
from idinpaint.occlusion.composites import (
    CLEAN,
    OWN,
    CompositeSampler,
    TextureBank,
    background_patches,
    compose,
    make_texture,
)

torch.set_num_threads(1)
HELD_OUT = ["maskthface:KN95", "floral", "glasses"]


def _face(seed: int = 0) -> np.ndarray:
    """A face-like crop: skin-coloured disc, dark eyes and mouth on a gradient background."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:112, 0:112]
    face = np.stack([xs, ys, 112 - xs], axis=-1).astype(np.float32)
    disc = (xs - 56) ** 2 / 40 ** 2 + (ys - 62) ** 2 / 52 ** 2 < 1
    face[disc] = (205, 160, 130)
    for x, y in ((38, 52), (74, 52)):
        face[(xs - x) ** 2 + (ys - y) ** 2 < 25] = (40, 30, 30)
    face[88:95, 42:71] = (150, 60, 60)
    return np.clip(face + rng.normal(0, 3, face.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def bank():
    photo = np.random.default_rng(1).integers(0, 256, (250, 250, 3), dtype=np.uint8)
    return TextureBank(backgrounds=background_patches(photo, (80, 60, 90, 130), np.random.default_rng(2), count=4))


# --- composites -------------------------------------------------------------------------------------

def test_composites_are_seeded_and_deterministic(bank):
    sampler = CompositeSampler(bank=bank)
    faces = np.stack([_face(i) for i in range(6)])
    first = sampler.batch(faces, np.random.default_rng(5))
    again = sampler.batch(faces, np.random.default_rng(5))
    other = sampler.batch(faces, np.random.default_rng(6))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert first[2] == again[2]
    assert not np.array_equal(first[0], other[0])
    assert first[1].dtype == bool and first[1].shape == (6, 112, 112)


def test_every_family_composes_and_its_mask_covers_what_changed(bank):
    face = _face()
    assert {"maskthface:KN95", "floral", "background", "stripes", "glasses"} <= set(bank.families())
    for shape in bank.shape_families():
        texture = OWN if shape.startswith("maskthface") else "solid"
        made = compose(face, shape, texture, np.random.default_rng(3), bank=bank, augment=False)
        _check_mask_covers_change(face, made, shape)
    for texture in bank.texture_families():
        made = compose(face, "block", texture, np.random.default_rng(4), bank=bank, augment=False)
        _check_mask_covers_change(face, made, texture)
    retextured = compose(face, "maskthface:surgical", "stripes", np.random.default_rng(5), bank=bank, augment=False)
    _check_mask_covers_change(face, retextured, "surgical re-textured")


def _check_mask_covers_change(face, made, what):
    import cv2

    assert made.mask.any(), what
    changed = (made.image != face).any(axis=-1)
    near = cv2.dilate(made.mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0  # soft edges reach a few px out
    assert not (changed & ~near).any(), f"{what}: pixels changed away from the occluder"
    assert changed[made.mask].mean() > 0.5, f"{what}: most of the occluder's pixels must differ from the face"


def test_a_clean_composite_has_an_empty_mask(bank):
    made = compose(_face(), CLEAN, "none", np.random.default_rng(0), bank=bank, augment=True)
    assert not made.mask.any() and made.shape == CLEAN


def test_held_out_families_never_appear_in_training_draws(bank):
    sampler = CompositeSampler(held_out=HELD_OUT, bank=bank)
    rng = np.random.default_rng(0)
    drawn = [sampler.draw_family(rng) for _ in range(3000)]
    shapes, textures = {s for s, _ in drawn}, {t for _, t in drawn}
    assert not (shapes | textures) & set(HELD_OUT)
    # everything else is drawn: MaskTheFace types, own pictures and re-textures, clean faces
    assert {"maskthface:surgical", "maskthface:gas", "moved_region", "block", "free_form", CLEAN} <= shapes
    assert {OWN, "solid", "noise", "stripes", "gradient", "background", "check"} <= textures
    retextured = {t for s, t in drawn if s.startswith("maskthface")}
    assert "floral" not in retextured and len(retextured) > 3


def test_unknown_held_out_family_is_refused(bank):
    with pytest.raises(ValueError, match="not families here"):
        CompositeSampler(held_out=["maskthface:nosuch"], bank=bank)
    with pytest.raises(ValueError, match="unknown texture family"):
        make_texture("tartan", 8, 8, np.random.default_rng(0), bank)


def test_background_patches_stay_clear_of_the_face():
    photo = np.zeros((250, 250, 3), np.uint8)
    photo[50:210, 70:180] = 255  # the "face": exactly the box below
    patches = background_patches(photo, (70, 50, 110, 160), np.random.default_rng(0), count=20, sizes=(20, 30),
                                 margin=0.0, tries=400)
    assert len(patches) >= 5
    assert all(p.shape[0] == p.shape[1] and 20 <= p.shape[0] <= 30 for p in patches)
    assert all((p == 0).all() for p in patches)


# --- metrics ----------------------------------------------------------------------------------------

def test_metrics_on_toy_masks():
    truth = np.zeros((3, 4, 4), bool)
    pred = np.zeros((3, 4, 4), bool)
    truth[0, :2, :] = True       # 8 px
    pred[0, :2, :2] = True       # 4 px, all inside: IoU 4/8, Dice 8/12
    pred[1, 0, 0] = True         # a false alarm of 1 px on an empty truth: IoU 0
    metrics = mask_metrics(pred, truth)  # image 2: both empty -> IoU 1
    np.testing.assert_allclose(metrics["iou"], [0.5, 0.0, 1.0])
    np.testing.assert_allclose(metrics["dice"], [2 / 3, 0.0, 1.0])
    np.testing.assert_allclose(metrics["area"], [4 / 16, 1 / 16, 0])
    row = summarize_metrics(metrics)
    assert row["n"] == 3
    assert row["precision"] == pytest.approx(4 / 5)   # pooled: 4 right of 5 predicted
    assert row["recall"] == pytest.approx(4 / 8)
    assert row["iou"] == pytest.approx(0.5)
    assert row["false_alarm_rate"] == pytest.approx(2 / 3)  # areas over 1 % of the image
    empty = summarize_metrics(mask_metrics(np.zeros((2, 4, 4), bool), np.zeros((2, 4, 4), bool)))
    assert np.isnan(empty["precision"]) and np.isnan(empty["recall"]) and empty["pred_area"] == 0
    with pytest.raises(ValueError, match="differ in shape"):
        mask_metrics(pred, truth[:2])


def test_postprocess_thresholds_drops_specks_and_dilates():
    prob = np.zeros((20, 20), np.float32)
    prob[5:10, 5:10] = 0.9   # 25 px part: kept
    prob[15, 15] = 0.9       # a speck: dropped
    prob[0, 19] = 0.4        # under the threshold
    mask = postprocess(prob, threshold=0.5, min_area=4, dilate=0)
    assert mask.sum() == 25 and not mask[15, 15] and not mask[0, 19]
    grown = postprocess(prob, threshold=0.5, min_area=4, dilate=1)
    assert grown.sum() == 49 and grown[4:11, 4:11].all()
    assert postprocess(np.zeros((2, 8, 8)), 0.5).shape == (2, 8, 8)


# --- the network and its file ---------------------------------------------------------------------

def _biased_detector(bias: float, tmp_path: Path, name: str) -> Path:
    model = get_model("detector", widths=[4, 8, 8], refine=0)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.head.bias.fill_(bias)  # every pixel: sigmoid(bias)
    return save_detector(model, {"widths": [4, 8, 8], "refine": 0}, tmp_path / name, half="A")


def test_network_shapes_and_fused_inference_match():
    model = get_model("detector", widths=[4, 8, 16], refine=4)
    x = torch.rand(2, 3, 112, 112) * 2 - 1
    model.train()
    model(x).sum().backward()  # batch-norm statistics move a little
    model.eval()
    with torch.no_grad():
        expected = torch.sigmoid(model(x))[:, 0].numpy()
    detector = Detector(model, {"mask": {}})
    crops = np.clip((x.permute(0, 2, 3, 1).numpy() + 1) * 127.5, 0, 255).round().astype(np.uint8)
    with torch.no_grad():
        exact = torch.sigmoid(model(torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 127.5 - 1))[:, 0].numpy()
    np.testing.assert_allclose(detector.probabilities(crops), exact, atol=1e-4)
    assert expected.shape == (2, 112, 112)
    with pytest.raises(ValueError, match="multiples of 8"):
        model(torch.zeros(1, 3, 100, 100))


def test_checkpoint_round_trip_is_weights_only(tmp_path):
    path = _biased_detector(5.0, tmp_path, "odetector.pt")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert payload["idinpaint"]["kind"] == "detector" and payload["idinpaint"]["half"] == "A"
    detector = load_detector(path)
    masks = detector.masks(np.zeros((3, 112, 112, 3), np.uint8))
    assert masks.shape == (3, 112, 112) and masks.all()
    assert path.stat().st_size < 5 * 2 ** 20
    assert detector.sha256 in detector.fingerprint


@pytest.mark.parametrize("broken, message", [
    (b"", "not a loadable weights-only checkpoint"),
    (b"not a torch file at all", "not a loadable weights-only checkpoint"),
])
def test_a_broken_file_is_one_line(tmp_path, broken, message):
    path = tmp_path / "odetector.pt"
    path.write_bytes(broken)
    with pytest.raises(CheckpointError, match=message) as err:
        load_detector(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_a_wrong_kind_or_truncated_file_is_one_line(tmp_path):
    other = tmp_path / "inpainter.pt"
    torch.save({"idinpaint": {"format": 1, "kind": "ca", "models": {}, "state_dicts": {}}}, other)
    with pytest.raises(CheckpointError, match="not an O-Detector"):
        load_detector(other)
    good = _biased_detector(1.0, tmp_path, "good.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError) as err:
        load_detector(truncated)
    assert "\n" not in str(err.value) and "truncated.pt" in str(err.value)
    payload = torch.load(good, weights_only=True)
    payload["idinpaint"]["models"]["detector"]["widths"] = [8, 8, 8]
    torch.save(payload, tmp_path / "misfit.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_detector(tmp_path / "misfit.pt")


def test_missing_shipped_pair_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="idinpaint detector train"):
        get_detector(folder=tmp_path)


def test_detector_recipes_are_training_recipes_of_the_one_file():
    from idinpaint.training.stages import STAGE_MODULES, DetectorModule

    smoke, cpu = load_training_config(profile="detector_smoke"), load_training_config(profile="detector_cpu")
    assert cpu["detector"]["composites"]["held_out"] == ["maskthface:KN95", "texture:floral"]
    assert cpu["trainer"]["max_minutes"] and smoke["stages"][0]["steps"] < cpu["stages"][0]["steps"]
    assert [s["model"] for s in cpu["stages"]] == ["detector"] and STAGE_MODULES["detector"] is DetectorModule
    assert load_training_config(profile="detector_smoke", overrides={"stages": {"detector": {"steps": 7}}}
                                )["stages"][0]["steps"] == 7
    with pytest.raises(ValueError, match="unknown recipe"):
        load_training_config(recipe="detector_nosuch")
    with pytest.raises(ValueError, match="stages are detector"):
        load_training_config(profile="detector_smoke", overrides={"stages": {"nosuch": {"steps": 7}}})


def test_lfw_halves_route_each_crop_to_the_model_that_never_saw_the_person(lfw_root, tmp_path):
    from idinpaint.data.lfw import lfw_half_people, load_pairs

    pairs = load_pairs(lfw_root)
    routed = LFWHalvesDetector({"A": load_detector(_biased_detector(8.0, tmp_path, "a.pt")),
                                "B": load_detector(_biased_detector(-8.0, tmp_path, "b.pt"))}, pairs=pairs)
    person_a, person_b = sorted(lfw_half_people(pairs, "A"))[0], sorted(lfw_half_people(pairs, "B"))[0]
    crops = np.zeros((2, 112, 112, 3), np.uint8)
    masks = routed.predict_for(crops, [f"{person_a}/{person_a}_0001.png", f"{person_b}/{person_b}_0001.png"])
    assert masks[0].all() and not masks[1].any()
    with pytest.raises(ValueError, match="default_half"):
        routed.predict_for(crops[:1], ["Nobody_In_Lfw/Nobody_In_Lfw_0001.png"])


# --- a tiny training -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(tiny_detector_run):
    """(config, result) of the O-Detector trained on the smoke crops (tests/conftest.py)."""
    return tiny_detector_run


@pytest.mark.slow
def test_a_tiny_training_lowers_the_loss_and_writes_a_card(tiny_run, lfw_root):
    import json

    from idinpaint.data.lfw import identity_of, lfw_half_people, load_pairs

    from idinpaint.losses import detector_loss
    from idinpaint.models.detector import crops_to_tensor
    from idinpaint.training.detector import make_sampler, training_data

    config, result = tiny_run
    checkpoint = Path(result["checkpoint"])
    assert checkpoint.name == "odetector_smoke_halfA.pt" and result["bytes"] < 5 * 2 ** 20
    card = json.loads(checkpoint.with_suffix(".json").read_text())
    assert card["kind"] == "detector" and card["held_out_families"] == ["maskthface:KN95", "floral"]
    assert card["runs"][0]["stages"][0]["batches"] == TINY_DETECTOR_STEPS
    record = json.loads((Path(result["run_dir"]) / "run.json").read_text())["stages"][0]
    assert record["training_crops"] == 64 and record["background_patches"] > 0 and record["model"] == "detector"
    # it learned: the loss on fresh composites of the training faces is well below the untrained network's
    data = training_data(config, "A", lfw_root)
    images, masks, _ = make_sampler(config, data["bank"]).batch(data["faces"][:32], np.random.default_rng(5),
                                                                 data["landmarks"][:32])
    x, target = crops_to_tensor(images), torch.from_numpy(masks[:, None].astype(np.float32))
    torch.manual_seed(0)
    untrained = get_model("detector", widths=[8, 16, 16], refine=4).eval()
    with torch.no_grad():
        before = float(detector_loss(untrained(x), target)[0])
        after = float(detector_loss(load_detector(checkpoint).net(x), target)[0])
    assert after < 0.85 * before, (before, after)
    # identity-disjoint: the half-A detector trained on nobody of half A's pairs

    trained = {identity_of(f) for f in training_data(config, "A", lfw_root)["files"]}
    assert not trained & lfw_half_people(load_pairs(lfw_root), "A")


@pytest.mark.slow
def test_the_generalisation_table_has_every_family(tiny_run, lfw_root):
    config, result = tiny_run
    detector = load_detector(result["checkpoint"])
    table = evaluate_detector(detector, config, halves=["A"], lfw_root=lfw_root, faces=3, progress=False)
    families = {row["family"]: row for row in table["rows"]}
    assert {"maskthface:KN95", "floral", "glasses", "background", CLEAN} <= set(families)
    assert families["maskthface:KN95"]["held_out"] and not families["maskthface:surgical"]["held_out"]
    assert families[CLEAN]["true_area"] == 0 and 0 <= families[CLEAN]["pred_area"] <= 1
    assert all(row["n"] == 3 for row in table["rows"])
    text = generalisation_markdown(table["rows"])
    assert "| maskthface:KN95 | shape | **yes** |" in text and "Clean faces (n = 3)" in text
    tiles, titles = example_tiles(table["examples"], ["shape:maskthface:KN95"])
    assert len(tiles) == 6 and titles[2].startswith("prediction")


@pytest.mark.slow
def test_the_detector_commands_train_a_pair_and_write_the_table(lfw_root, smoke_crops, tmp_path, capsys):
    import json

    from idinpaint.cli import main

    runs, pair = tmp_path / "runs", tmp_path / "pair"
    code = main(["detector", "train", "--recipe", "smoke", "--output", str(runs), "--export-dir", str(pair),
                 "--aligned", str(smoke_crops), "--set", "stages.detector.steps=3", "data.batch_size=4", "detector.faces=12",
                 "detector.background_photos=2", "detector.network.widths=[4,8,8]", "trainer.num_threads=1"])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in pair.glob("*.pt")) == ["odetector_smoke_halfA.pt", "odetector_smoke_halfB.pt"]
    assert (runs / "halfB" / "run.json").is_file() and (runs / "halfB" / "detector" / "odetector.pt").is_file()
    code = main(["detector", "evaluate", "--recipe", "smoke", "--detector-dir", str(pair), "--faces", "2",
                 "--aligned", str(smoke_crops),
                 "--output", str(tmp_path / "table"), "--figures", str(tmp_path / "figures")])
    out = capsys.readouterr().out
    assert code == 0 and "| maskthface:KN95 | shape | **yes** |" in out
    rows = json.loads((tmp_path / "table" / "generalisation_smoke.json").read_text())["rows"]
    assert {row["family"] for row in rows} >= {"floral", "clean", "glasses"} and all(row["n"] == 4 for row in rows)
    assert (tmp_path / "figures" / "detector_examples_smoke.png").is_file()
    code = main(["detector", "train", "--recipe", "smoke", "--set", "detector.composites.held_out=[tartan]",
                 "--aligned", str(smoke_crops), "--output", str(tmp_path / "bad"), "--halves", "A"])
    assert code == 2 and "tartan" in capsys.readouterr().err


# --- the protocol with predicted masks ------------------------------------------------------------

def test_the_cache_key_holds_the_mask_source():
    from idinpaint.evaluation.cache import condition_cache_file, filled_cache_dir, realism_cache_file
    from idinpaint.fillers import NoneFiller, OpenCVFiller

    class Masks:  # only its fingerprint enters the key
        fingerprint = "odetector:abc:threshold=0.5"

    telea, none = OpenCVFiller("telea"), NoneFiller()
    spec = "maskthface:surgical"
    oracle = condition_cache_file("sface", "/data/lfw-112", spec, telea)
    predicted = condition_cache_file("sface", "/data/lfw-112", spec, telea, detector=Masks())
    assert oracle != predicted and "_predicted_" in predicted.name and "_predicted" not in oracle.name
    other = type("Other", (), {"fingerprint": "odetector:def:threshold=0.5"})()
    assert predicted != condition_cache_file("sface", "/data/lfw-112", spec, telea, detector=other)
    # `none` leaves the occluded crop as it is, whatever the mask: one entry for both sources
    assert condition_cache_file("sface", "/data/lfw-112", spec, none) == \
        condition_cache_file("sface", "/data/lfw-112", spec, none, detector=Masks())
    assert realism_cache_file("/d", spec, telea) != realism_cache_file("/d", spec, telea, detector=Masks())
    assert filled_cache_dir("/d", spec, telea) != filled_cache_dir("/d", spec, telea, detector=Masks())


@pytest.mark.slow
def test_the_protocol_scores_fillers_with_predicted_masks(tiny_run, lfw_root, smoke_crops, tmp_path, monkeypatch):
    from idinpaint.data.lfw import load_pairs, subset_pairs
    from idinpaint.evaluation.protocol import evaluate_conditions

    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / "cache"))
    config, result = tiny_run
    one = load_detector(result["checkpoint"])
    pairs = subset_pairs(load_pairs(lfw_root), 1)
    detector = LFWHalvesDetector({"A": one, "B": one}, pairs=pairs)
    specs = ["maskthface:surgical", "region:center_block@noise"]
    runs = {}
    for masks in ("oracle", "predicted"):
        runs[masks] = evaluate_conditions(["sface"], specs, ["telea"], smoke_crops, pairs=pairs, lfw_root=lfw_root,
                                          progress=False, include_clean=False, masks=masks, detector=detector,
                                          output_dir=tmp_path / masks, stem=f"run_{masks}", c2st=False)
    for masks, results in runs.items():
        rows = {(r["occlusion"], r["filler"]): r for r in results}
        assert not results.failures, results.failures
        assert set(rows) == {(s, f) for s in ["maskthface:surgical@occluder", "region:center_block@noise"]
                             for f in ("none", "telea")}
    oracle, predicted = (runs[m].scores for m in ("oracle", "predicted"))
    for spec in ("maskthface:surgical@occluder", "region:center_block@noise"):
        none_key = f"sface|{spec}|none"
        np.testing.assert_array_equal(oracle[none_key], predicted[none_key])  # `none` ignores the mask
    telea_keys = [k for k in oracle if k.endswith("|telea")]
    assert any(not np.allclose(oracle[k], predicted[k]) for k in telea_keys), "predicted masks change the fill"
    assert list((tmp_path / "cache" / "embeddings").glob("*_telea_predicted_*.npz"))
    with pytest.raises(ValueError, match="masks must be one of"):
        evaluate_conditions(["sface"], specs, ["telea"], smoke_crops, pairs=pairs, masks="guessed")


def test_protocol_mask_quality_scores_the_protocols_own_holes(lfw_root, smoke_crops, tmp_path):
    from idinpaint.data.aligned import aligned_name
    from idinpaint.data.lfw import load_pairs, subset_pairs
    from idinpaint.evaluation.detector import protocol_mask_quality, protocol_masks_markdown
    from idinpaint.occlusion import region_mask

    pairs = subset_pairs(load_pairs(lfw_root), 1)
    seconds = {aligned_name(p.second) for p in pairs}
    everything, nothing = (load_detector(_biased_detector(b, tmp_path, f"{b}.pt")) for b in (8.0, -8.0))
    specs = ["region:center_block@texture", "maskthface:surgical"]
    rows = protocol_mask_quality(everything, specs, smoke_crops, pairs=pairs, progress=False)
    assert [r["spec"] for r in rows] == ["region:center_block@texture", "maskthface:surgical@occluder"]
    block = rows[0]
    assert block["n"] == len(seconds) and block["recall"] == 1.0 and block["pred_area"] == 1.0
    assert block["iou"] == pytest.approx(region_mask("center_block").mean(), abs=1e-3)  # the hole / the crop
    assert 0.1 < rows[1]["true_area"] < 0.5 and rows[1]["iou"] == pytest.approx(rows[1]["true_area"], abs=1e-3)
    missed = protocol_mask_quality(nothing, specs[:1], smoke_crops, pairs=pairs, progress=False)[0]
    assert missed["iou"] == 0 and missed["recall"] == 0 and missed["pred_area"] == 0
    text = protocol_masks_markdown(rows)
    assert "| region:center_block@texture | " in text and f"| {len(seconds)} |" in text


@pytest.mark.parametrize("argv,message", [
    (["--specs", "region:nose@bogus"], "--specs: 'region:nose@bogus': unknown fill 'bogus'"),
    (["--specs", "region:nose@texture:9x"], "texture group must be a name"),
    (["--specs"], "expected at least one argument"),
])
def test_the_protocol_masks_command_refuses_bad_specs_in_one_line(argv, message, capsys):
    from idinpaint.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["detector", "protocol", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and message in err[-1]
