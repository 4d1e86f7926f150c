"""The tools for adversarial training on few faces: DiffAugment, the hole window of the
discriminator, R1, the generator's EMA copy (validation, export, resume), snapshots and a stage
that grows over several runs."""
from __future__ import annotations

import json

import pytest
import torch

from idinpaint.losses import r1_penalty
from idinpaint.models.discriminator import MultiscaleDiscriminator
from idinpaint.training.augment import diff_augment, parse_policy, translation

from test_training import _overrides, _synthetic_faces

GAN = {"augment": "color,translation,cutout", "r1": 1.0, "r1_every": 1, "ema": 0.5}


def test_policy_names_are_checked():
    assert parse_policy("color, cutout") == ("color", "cutout")
    assert parse_policy(None) == ()
    with pytest.raises(ValueError, match="unknown transforms \\['rotate'\\]"):
        parse_policy("color,rotate")


def test_translation_moves_the_mask_with_the_image_and_augmentation_is_differentiable():
    torch.manual_seed(0)
    image = torch.full((4, 3, 32, 32), -1.0)
    mask = torch.zeros(4, 1, 32, 32)
    image[:, :, 10:14, 12:20] = 1.0
    mask[:, :, 10:14, 12:20] = 1.0
    moved, moved_mask = translation(image, mask)
    assert not torch.equal(moved_mask, mask.expand_as(moved_mask))  # some image moved (seeded)
    assert torch.equal(moved[:, :1] > 0, moved_mask > 0.5)  # the hole went where the pixels went
    x = image.clone().requires_grad_(True)
    out, _ = diff_augment(x, mask, "color,translation,cutout")
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_the_hole_window_is_centred_on_the_hole_and_judged_at_full_resolution():
    disc = MultiscaleDiscriminator(width=4, scales=2, layers=3, local=16)
    image = torch.randn(2, 3, 64, 64)
    mask = torch.zeros(2, 1, 64, 64)
    mask[0, :, 4:8, 4:8] = 1      # near the corner: the window is shifted inside the image
    mask[1, :, 40:44, 30:34] = 1
    windows = disc.hole_windows(torch.cat([image, mask], 1), mask)
    assert windows.shape == (2, 4, 16, 16)
    assert torch.equal(windows[0, :3], image[0, :, 0:16, 0:16])
    assert torch.equal(windows[1, :3], image[1, :, 33:49, 23:39])
    logits = disc(image, mask)
    assert len(logits) == 3 and logits[-1].shape[-1] == 2  # two scales + the window (16 / 2**3)
    with pytest.raises(ValueError, match="multiple of 8"):
        MultiscaleDiscriminator(width=4, scales=1, layers=3, local=12)


def test_r1_is_the_squared_input_gradient_of_the_real_logits():
    x = torch.randn(3, 2, 4, 4, requires_grad=True)
    w = torch.randn(2, 4, 4)
    logits = [(x * w).sum(dim=(1, 2, 3)), 2 * (x * w).sum(dim=(1, 2, 3))]   # d/dx = 3 w per image
    assert float(r1_penalty(logits, x)) == pytest.approx(float(9 * w.pow(2).sum()), rel=1e-5)


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return _synthetic_faces(tmp_path_factory.mktemp("faces"))


@pytest.fixture(scope="module")
def gan_run(faces, tmp_path_factory):
    from idinpaint.training.stages import run_training

    output = tmp_path_factory.mktemp("gan") / "run"
    stages = [{"name": "ca", "model": "ca", "steps": 2}]
    overrides = _overrides(faces, stages=stages, gan=GAN,
                           losses={"ca": {"adv": 0.3, "fm": 1.0}},
                           discriminator={"width": 8, "scales": 2, "layers": 3, "local": 32},
                           trainer={"snapshot_every": 1, "checkpoint_every": 1})
    summary = run_training(profile="smoke", output=output, overrides=overrides, log=lambda *_: None)
    return output, summary, overrides


def test_ema_generator_is_what_validation_and_the_inference_file_use(gan_run):
    from idinpaint.checkpoints import read_checkpoint

    output, summary, _ = gan_run
    assert summary["status"] == "done", summary.get("error")
    last = torch.load(output / "ca" / "last.ckpt", map_location="cpu", weights_only=True)
    state = last["state_dict"]
    ema = {k[len("ca_ema."):]: v for k, v in state.items() if k.startswith("ca_ema.")}
    live = {k[len("ca."):]: v for k, v in state.items() if k.startswith("ca.")}
    assert ema and set(ema) == set(live) and bool(state["ema_started"])
    assert any(not torch.equal(ema[k], live[k]) for k in ema)  # averaged, not a copy
    exported = read_checkpoint(output / "ca" / "inpainter.pt")["idinpaint"]["state_dicts"]["ca"]
    assert all(torch.equal(exported[k], ema[k]) for k in ema)


def test_snapshots_follow_the_batches(gan_run):
    from idinpaint.evaluation.curves import snapshot_files

    output, _, _ = gan_run
    assert [b for b, _ in snapshot_files(output, "ca")] == [1, 2]


def test_a_finished_stage_grows_when_its_steps_are_raised(gan_run, tmp_path):
    import shutil

    from idinpaint.training.stages import run_training

    source, _, overrides = gan_run
    output = tmp_path / "grown"
    shutil.copytree(source, output)
    longer = dict(overrides, stages=[{"name": "ca", "model": "ca", "steps": 3}],
                  trainer={**overrides["trainer"], "snapshot_every": 2})   # 3 is off the grid: the end is kept
    summary = run_training(profile="smoke", output=output, overrides=longer, log=lambda *_: None)
    record = summary["stages"][0]
    assert record["resumed_from"] == str(output / "ca" / "last.ckpt")
    assert record["batches"] == 3 and record["batches_run"] == 1
    assert json.loads((output / "ca" / "stage.json").read_text())["status"] == "done"
    from idinpaint.evaluation.curves import snapshot_files

    assert [b for b, _ in snapshot_files(output, "ca")] == [1, 2, 3]


def test_a_fusor_stage_starts_from_the_averaged_ca(gan_run, faces, tmp_path):
    from idinpaint.training.modules import FusorModule
    from idinpaint.training.stages import _init_module, load_training_config

    output, _, overrides = gan_run
    config = load_training_config(profile="smoke", overrides=overrides)
    module = FusorModule(config, stage="f")
    _init_module(module, output / "ca" / "last.ckpt", log=lambda *_: None)
    state = torch.load(output / "ca" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    for key, value in module.ca.state_dict().items():
        assert torch.equal(value, state[f"ca_ema.{key}"])


class _ColourRecognizer:
    """A stand-in recognizer for the curves' plumbing: mean colour of 4 x 4 cells, L2-normalised."""

    name = "colour"

    def embed(self, images, **_):
        import numpy as np

        x = np.asarray(images, np.float32).reshape(len(images), 4, 28, 4, 28, 3).mean(axis=(2, 4)).reshape(len(images), -1)
        x -= x.mean(axis=1, keepdims=True)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_learning_curves_score_every_snapshot_once_and_resume_from_the_cache(gan_run, monkeypatch, tmp_path):
    import csv

    import numpy as np

    import idinpaint.evaluation.curves as curves
    from idinpaint.imageio import write_rgb

    output, _, _ = gan_run
    rng = np.random.default_rng(1)
    folder = tmp_path / "val"
    relatives = []
    for p in range(40):   # 40 people: enough for a 5-fold judge on each side of the split by person
        base = rng.integers(40, 220, size=(7, 7, 3))
        for i in range(1):
            image = np.clip(base + rng.integers(-15, 15, size=base.shape), 0, 255).repeat(16, 0).repeat(16, 1)
            rel = f"P{p}/P{p}_{i + 1:04d}.png"
            write_rgb(folder / rel, image.astype(np.uint8))
            relatives.append(rel)
    monkeypatch.setattr(curves, "validation_crops", lambda *a, **k: relatives)
    rows = curves.learning_curves(output, "ca", recognizer=_ColourRecognizer(), baselines=("telea",),
                                  regions=("two_eyes",), aligned_root=folder, log=lambda *_: None)
    assert [(r["label"], r["batches"], r["region"]) for r in rows] == [
        ("telea", "", "two_eyes"), ("telea", "", "mean"),
        ("ca", 1, "two_eyes"), ("ca", 1, "mean"), ("ca", 2, "two_eyes"), ("ca", 2, "mean")]
    assert all(0.0 <= r["c2st_auc"] <= 1.0 and np.isfinite(r["margin"]) for r in rows)
    with open(output / "ca" / "curves.csv") as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)
    assert curves.read_curves(output / "ca" / "curves.csv") == rows   # what notebook 02 reads back
    reading = curves.curves_reading(rows, "run")
    assert reading.startswith("**run**: from 1 to 2 batches the margin went ")
    assert f"{rows[3]['margin']:.4f} → {rows[5]['margin']:.4f} (telea {rows[1]['margin']:.4f})" in reading
    names = sorted(p.name for p in (output / "ca" / "curves").iterdir())   # each named by what it was made under
    assert [n.rsplit("_", 1)[0] for n in names] == ["step_000001", "step_000002"] and names[0].endswith(".json")
    assert [p.name.rsplit("_", 1)[0] for p in (output / "curves").iterdir()] == ["baseline_telea"]  # one for every stage

    def no_judging(*args, **kwargs):
        raise AssertionError("scored again instead of read from the cache")

    monkeypatch.setattr(curves, "c2st", no_judging)
    again = curves.learning_curves(output, "ca", recognizer=_ColourRecognizer(), baselines=("telea",),
                                   regions=("two_eyes",), aligned_root=folder, log=lambda *_: None)
    assert again == rows

    # the run grows a third snapshot; scoring every 2nd (the first and the last) keeps the second's rows
    import shutil

    output = shutil.copytree(output, tmp_path / "grown")   # the fixture's run is shared: grow a copy
    snapshots = output / "ca" / "snapshots"
    shutil.copy(snapshots / "step_000002.pt", snapshots / "step_000003.pt")
    monkeypatch.undo()
    monkeypatch.setattr(curves, "validation_crops", lambda *a, **k: relatives)
    scored = []
    monkeypatch.setattr(curves, "score_fillers", lambda fillers, *a, **k: scored.append(list(fillers))
                        or {name: {"two_eyes": rows[4], "mean": rows[5]} for name in fillers})
    grown = curves.learning_curves(output, "ca", recognizer=_ColourRecognizer(), baselines=("telea",), every=2,
                                   regions=("two_eyes",), aligned_root=folder, log=lambda *_: None)
    assert scored == [["ca"]]   # only the new snapshot was scored
    assert [r["batches"] for r in grown] == ["", "", 1, 1, 2, 2, 3, 3] and grown[:6] == rows


def test_curve_scores_are_cached_under_their_key_and_an_older_cache_is_kept(tmp_path):
    import json

    import idinpaint.evaluation.curves as curves
    from idinpaint.evaluation.cache import keyed_file

    key, scores = {"crops": 4, "half": "A"}, {"mean": {"margin": 0.1}}
    (tmp_path / "step_000001.json").write_text(json.dumps({"key": key, "scores": scores}))   # key inside: older
    assert curves._saved(tmp_path, "step_000001", {**key, "crops": 5}) is None
    assert curves._saved(tmp_path, "step_000001", key) == scores
    assert [p.name for p in tmp_path.iterdir()] == [keyed_file(tmp_path, "step_000001", key).name]
    assert curves._cached(tmp_path, "step_000001", key, lambda: {"computed": True}) == scores


def test_the_snapshot_gallery_shows_ground_truth_baselines_and_first_to_last_snapshot(gan_run, monkeypatch, tmp_path):
    import numpy as np

    import idinpaint.evaluation.curves as curves
    from idinpaint.figures import snapshot_gallery_figure
    from idinpaint.imageio import write_rgb

    output, _, _ = gan_run
    folder = tmp_path / "val"
    relatives = [f"P{p}/P{p}_{i:04d}.png" for p in range(3) for i in (1, 2)]
    rng = np.random.default_rng(2)
    for rel in relatives:
        write_rgb(folder / rel, rng.integers(0, 255, size=(112, 112, 3)).astype(np.uint8))
    monkeypatch.setattr(curves, "validation_crops", lambda *a, **k: relatives)
    picked, images = curves.gallery_faces(output, faces=2, aligned_root=folder)
    assert picked == ["P0/P0_0001.png", "P1/P1_0001.png"] and images.shape == (2, 112, 112, 3)  # one per person
    labels, fillers = curves.gallery_fillers(output, "ca", snapshots=3, baselines=("telea",), aligned_root=folder)
    assert labels == ["telea", "ca @ 1", "ca @ 2"]  # only two snapshots: first and last, once each
    assert labels[1:] == [f"ca @ {b}" for b, _ in curves.snapshot_files(output, "ca")]
    shown = curves.snapshot_gallery(output, "ca", faces=2, baselines=("telea",), aligned_root=folder,
                                    recognizer=_ColourRecognizer())
    assert shown.columns[2:] == labels and len(shown.rows) == 2 * 2  # two faces at the two default regions
    written = snapshot_gallery_figure(shown, output, "ca", tmp_path / "figs")
    assert sorted(p.name for p in written) == ["gallery_run_ca.pdf", "gallery_run_ca.png"]
    assert all(p.stat().st_size > 1000 for p in written)


def test_the_curves_figure_draws_the_run_on_the_frontier_beside_its_references(tmp_path):
    import matplotlib.pyplot as plt

    from idinpaint.figures import learning_curves_figure

    def row(label, batches, region, auc, margin):
        return {"label": label, "batches": batches, "region": region, "c2st_auc": auc, "c2st_low": auc - 0.01,
                "c2st_high": min(1.0, auc + 0.01), "margin": margin, "margin_se": 0.001, "retention": 0.9}

    rows = [row("telea", "", "two_eyes", 1.0, 0.07), row("telea", "", "mean", 1.0, 0.07)]
    for batches, auc, margin in ((250, 0.99, 0.065), (500, 0.97, 0.068), (750, 0.95, 0.071)):
        rows += [row("ca_gan", batches, "two_eyes", auc, margin), row("ca_gan", batches, "mean", auc, margin)]
    fig = learning_curves_figure(rows, recognizer="dlib_torch", name="curves_try", folder=tmp_path)
    frontier = fig.axes[2]
    path = frontier.collections[0].get_offsets()   # one dot per snapshot, in training order
    assert [tuple(p) for p in path] == [(0.99, 0.065), (0.97, 0.068), (0.95, 0.071)]
    assert [t.get_text() for t in frontier.get_legend().get_texts()] == ["telea"]
    assert "dlib_torch" in frontier.get_ylabel() and "dlib_torch" in fig.axes[1].get_ylabel()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves_try.pdf", "curves_try.png"]
    plt.close(fig)
