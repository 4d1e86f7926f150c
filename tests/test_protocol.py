"""The occluded-LFW protocol: only second images occluded, deterministic pixels, resumable cache,
recovery ratio, failing conditions recorded, mean face fitted on non-pair identities only.

Runs on a small synthetic aligned folder and a tiny fake recognizer (no model weights, no LFW)."""
from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from idinpaint.data.aligned import read_faces
from idinpaint.data.lfw import Pair, pair_people, unpaired_crops
from idinpaint.evaluation.embeddings import cache_file, load_embedding_cache
from idinpaint.evaluation.protocol import _add_recovery, evaluate_conditions
from idinpaint.evaluation.results import Row, condition_key, load_results
from idinpaint.evaluation.verification import balanced_subfolds, cosine_scores, recovery_ratio
from idinpaint.fillers import Filler, fit_mean_face, get_filler
from idinpaint.imageio import write_rgb
from idinpaint.occlusion import CLEAN, occlude_faces, occlusion_seed, region_box
from idinpaint.recognizers.base import Recognizer

PAIR_PEOPLE = [f"Pair_{c}" for c in "ABCDEF"]
FREE_PEOPLE = [f"Free_{c}" for c in "GHIJK"]
SPEC = "region:two_eyes@black"


class FakeRecognizer(Recognizer):
    """Deterministic 192-d embedding (8x8 RGB average pooling); counts what it embeds."""

    name = "fake"
    dim = 192

    def __init__(self, fail_after: int | None = None):
        self.calls = 0
        self.images = 0
        self.batches: list[np.ndarray] = []
        self.fail_after = fail_after

    def _embed_batch(self, images):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("simulated crash")
        self.calls += 1
        self.images += len(images)
        self.batches.append(images.copy())
        pooled = images.astype(np.float32).reshape(len(images), 8, 14, 8, 14, 3).mean(axis=(2, 4))
        return pooled.reshape(len(images), -1) - 128.0


class BrokenFiller(Filler):
    name = "broken"

    def _fill(self, images, masks):
        raise RuntimeError("this filler always fails")


def person_image(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    noise = rng.normal(0, 6, base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def make_folder(root, people_images: dict[str, int], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for person, count in people_images.items():
        base = cv2.resize(rng.uniform(30, 225, (7, 7, 3)), (112, 112), interpolation=cv2.INTER_CUBIC)
        for k in range(1, count + 1):
            write_rgb(root / person / f"{person}_{k:04d}.png", person_image(rng, base))


def make_pairs() -> list[Pair]:
    """2 folds x (4 same + 4 different) over the Pair_* people (source-style .jpg paths, as pairs.txt gives)."""
    pairs = []
    for fold in range(2):
        people = PAIR_PEOPLE[3 * fold:3 * fold + 3]
        same = [(people[0], 1, 2), (people[1], 1, 3), (people[2], 2, 3), (people[0], 3, 1)]
        for name, i, j in same:
            pairs.append(Pair(f"{name}/{name}_{i:04d}.jpg", f"{name}/{name}_{j:04d}.jpg", True, fold))
        different = [(people[0], 1, people[1], 2), (people[1], 2, people[2], 1), (people[2], 3, people[0], 2),
                     (people[1], 1, people[0], 3)]
        for a, i, b, j in different:
            pairs.append(Pair(f"{a}/{a}_{i:04d}.jpg", f"{b}/{b}_{j:04d}.jpg", False, fold))
    return pairs


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
    root = tmp_path_factory.mktemp("aligned")
    make_folder(root, {**{p: 3 for p in PAIR_PEOPLE}, **{p: 2 for p in FREE_PEOPLE}})
    return root


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("IDINPAINT_RESULTS", str(tmp_path / "results"))


def rel(path: str) -> str:
    return path.replace(".jpg", ".png")


@pytest.mark.slow
def test_only_second_images_are_occluded(aligned):
    pairs = make_pairs()
    fake = FakeRecognizer()
    results = evaluate_conditions([fake], [SPEC], ["none"], aligned, pairs=pairs, progress=False)
    first = [rel(p.first) for p in pairs]
    second = [rel(p.second) for p in pairs]
    reference = FakeRecognizer()
    clean_first = reference.embed(read_faces(aligned, first))
    clean_second = reference.embed(read_faces(aligned, second))
    occluded, masks = occlude_faces(SPEC, read_faces(aligned, second), second)
    x1, y1, x2, y2 = region_box("two_eyes")
    assert masks[:, y1:y2, x1:x2].all() and masks.sum() == len(second) * (x2 - x1) * (y2 - y1)
    occluded_second = reference.embed(occluded)

    # first-image embeddings are the clean ones (and were cached by the clean folder's cache)
    cached = load_embedding_cache(cache_file("fake", aligned))
    np.testing.assert_allclose(np.stack([cached[r] for r in first]), clean_first, atol=1e-6)
    np.testing.assert_allclose(results.scores[condition_key("fake", CLEAN, "none")],
                               cosine_scores(clean_first, clean_second), atol=1e-5)
    scores = results.scores[condition_key("fake", SPEC, "none")]
    np.testing.assert_allclose(scores, cosine_scores(clean_first, occluded_second), atol=1e-5)
    assert not np.allclose(scores, cosine_scores(clean_first, clean_second))
    # every image the recognizer saw with the eyes blacked out is a second image, never a first one
    seen = np.concatenate(fake.batches)
    blacked = seen[(seen[:, y1:y2, x1:x2] == 0).all(axis=(1, 2, 3))]
    assert len(blacked) == len(set(second))
    rows = {r["condition"]: r for r in results}
    assert rows[condition_key("fake", SPEC, "none")]["pairs"] == len(pairs)
    assert rows[condition_key("fake", CLEAN, "none")]["region"] == CLEAN


def test_occluded_pixels_are_deterministic(aligned):
    paths = ["Pair_A/Pair_A_0001.png", "Pair_B/Pair_B_0002.png", "Pair_C/Pair_C_0003.png"]
    for spec in ("random_block:40@noise", "free_form@gray", "random_part@white"):
        a = occlude_faces(spec, read_faces(aligned, paths), paths)
        b = occlude_faces(spec, read_faces(aligned, paths), paths)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    # the seed depends on spec and path (written-out defaults give the same seed), not on call order
    assert occlusion_seed("region:nose", "x/y.png") == occlusion_seed("region:nose@black", "x/y.png")
    assert occlusion_seed("random_block", "x/y.png") != occlusion_seed("random_block", "x/z.png")
    single = occlude_faces("random_block:40@noise", read_faces(aligned, paths[1:2]), paths[1:2])
    batch = occlude_faces("random_block:40@noise", read_faces(aligned, paths), paths)
    np.testing.assert_array_equal(single[0][0], batch[0][1])


def test_rerun_embeds_nothing_and_interrupted_run_resumes(aligned):
    pairs = make_pairs()
    seconds = {rel(p.second) for p in pairs}
    flaky = FakeRecognizer(fail_after=None)
    # a first run that dies after the clean pass plus 2 chunks of 3 occluded crops
    clean_calls = FakeRecognizer()
    evaluate_conditions([clean_calls], [], ["none"], aligned, pairs=pairs, progress=False)
    flaky.fail_after = 2
    crashed = evaluate_conditions([flaky], [SPEC], ["none"], aligned, pairs=pairs, progress=False, chunk=3)
    assert "simulated crash" in crashed.failures[0]["error"]
    assert flaky.images == 6

    resumed = FakeRecognizer()
    results = evaluate_conditions([resumed], [SPEC], ["none"], aligned, pairs=pairs, progress=False, chunk=3)
    assert not results.failures
    assert resumed.images == len(seconds) - 6  # only what the crash left undone
    again = FakeRecognizer()
    repeat = evaluate_conditions([again], [SPEC], ["none", "telea"], aligned, pairs=pairs, progress=False)
    telea_images = again.images
    assert telea_images == len(seconds)  # telea is a new condition; none is cached
    third = FakeRecognizer()
    evaluate_conditions([third], [SPEC], ["none", "telea"], aligned, pairs=pairs, progress=False)
    assert third.calls == 0 and third.images == 0
    key = condition_key("fake", SPEC, "none")
    np.testing.assert_allclose(repeat.scores[key], results.scores[key], atol=1e-6)


def test_recovery_ratio_maths(aligned):
    assert recovery_ratio(0.96, 0.90, 0.99) == pytest.approx(2 / 3)
    assert recovery_ratio(0.90, 0.90, 0.99) == 0.0
    assert recovery_ratio(0.99, 0.90, 0.99) == pytest.approx(1.0)
    assert recovery_ratio(0.85, 0.90, 0.99) == pytest.approx(-5 / 9)
    assert math.isnan(recovery_ratio(0.9, 0.9, 0.9))
    rows = [Row(recognizer="r", occlusion=CLEAN, filler="none", accuracy=0.99),
            Row(recognizer="r", occlusion=SPEC, filler="none", accuracy=0.90),
            Row(recognizer="r", occlusion=SPEC, filler="telea", accuracy=0.96),
            Row(recognizer="r", occlusion=SPEC, filler="broken", error="boom")]
    _add_recovery(rows)
    assert rows[2]["recovery_ratio"] == pytest.approx(2 / 3)
    assert rows[2]["acc_occluded"] == 0.90 and rows[2]["acc_clean"] == 0.99
    assert rows[1]["recovery_ratio"] == 0.0
    assert math.isnan(rows[3]["recovery_ratio"])

    results = evaluate_conditions([FakeRecognizer()], [SPEC], ["telea"], aligned, pairs=make_pairs(), progress=False)
    assert [r["filler"] for r in results] == ["none", "none", "telea"]  # clean, occluded baseline added, telea
    row = results[2]
    assert row["acc_occluded"] == results[1]["accuracy"]
    expected = recovery_ratio(row["accuracy"], results[1]["accuracy"], results[0]["accuracy"])
    assert row["recovery_ratio"] == pytest.approx(expected, nan_ok=True)
    assert row["acc_clean"] == results[0]["accuracy"]


@pytest.mark.slow
def test_failing_condition_is_recorded_and_the_run_goes_on(aligned, tmp_path):
    out = tmp_path / "out"
    results = evaluate_conditions([FakeRecognizer()], [SPEC, "region:mouth@gray"], ["none", BrokenFiller(), "telea"],
                                  aligned, pairs=make_pairs(), progress=False, output_dir=out, stem="run")
    assert len(results) == 1 + 2 * 3
    failed = results.failures
    assert [r["filler"] for r in failed] == ["broken", "broken"]
    assert all("this filler always fails" in r["error"] for r in failed)
    assert all(math.isnan(r["accuracy"]) for r in failed)
    good = [r for r in results if not r["error"]]
    assert len(good) == 5 and all(0 <= r["accuracy"] <= 1 for r in good)
    payload = json.loads((out / "run.json").read_text())
    assert len(payload["failures"]) == 2 and payload["git_sha"]
    csv_lines = (out / "run.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(results) and csv_lines[0].startswith("recognizer,occlusion,region,fill,filler")
    loaded = load_results(out, "run")
    assert set(loaded.scores) == {r["condition"] for r in good}
    for key, scores in results.scores.items():
        np.testing.assert_allclose(loaded.scores[key], scores)
    # a recognizer that cannot even be built is recorded on every one of its rows
    unbuildable = evaluate_conditions(["no_such_recognizer"], [SPEC], ["none"], aligned, pairs=make_pairs(),
                                      progress=False)
    assert unbuildable and all(r["error"] for r in unbuildable)


def test_mean_face_is_fitted_on_non_pair_identities_only(aligned, tmp_path):
    pairs = make_pairs()
    files = unpaired_crops(aligned, pairs, count=3, seed=0)
    assert len(files) == 3 and len({f.split("/")[0] for f in files}) == 3
    assert not {f.split("/")[0] for f in files} & pair_people(pairs)
    assert files == unpaired_crops(aligned, pairs, count=3, seed=0)  # deterministic
    # fewer free people than asked for: crops drawn from all of theirs, still none of the pair people
    many = unpaired_crops(aligned, pairs, count=8, seed=0)
    assert len(many) == 8 and not {f.split("/")[0] for f in many} & pair_people(pairs)

    filler = fit_mean_face(aligned, pairs, count=3)
    assert filler.training_files == files
    np.testing.assert_allclose(filler.mean, read_faces(aligned, files).astype(np.float64).mean(axis=0), atol=1e-3)
    cached = sorted((tmp_path / "cache").glob("mean_face_*.npy"))
    assert len(cached) == 1 and cached[0].with_suffix(".json").is_file()
    np.testing.assert_array_equal(fit_mean_face(aligned, pairs, count=3).mean, filler.mean)
    # the evaluation builds mean_face the same way (from the pairs it is given)
    results = evaluate_conditions([FakeRecognizer()], [SPEC], ["mean_face"], aligned, pairs=pairs, progress=False)
    assert not results.failures and results[-1]["filler"] == "mean_face"


def test_single_fold_uses_balanced_subfolds(aligned):
    labels = np.array([True] * 20 + [False] * 20)
    ids = balanced_subfolds(labels)
    for k in range(10):
        assert labels[ids == k].sum() == 2 and (~labels[ids == k]).sum() == 2
    results = evaluate_conditions([FakeRecognizer()], [SPEC], ["none"], aligned, pairs=make_pairs(), folds=[2],
                                  progress=False)
    assert {r["protocol"] for r in results} == {"subfolds"} and results[0]["pairs"] == 8
    both = evaluate_conditions([FakeRecognizer()], [SPEC], ["none"], aligned, pairs=make_pairs(), progress=False)
    assert {r["protocol"] for r in both} == {"10-fold"}


def test_bad_arguments_fail_fast(aligned):
    with pytest.raises(ValueError, match="unknown occlusion kind"):
        evaluate_conditions([FakeRecognizer()], ["nonsense:x"], ["none"], aligned, pairs=make_pairs(), progress=False)
    with pytest.raises(ValueError, match="unknown filler"):
        evaluate_conditions([FakeRecognizer()], [SPEC], ["no_such_filler"], aligned, pairs=make_pairs(), progress=False)
    assert get_filler("telea").name == "telea"


@pytest.mark.slow
def test_baseline_only_fills_skip_fillers_and_report_figures(aligned, tmp_path):
    from idinpaint.figures import occluded_report_figures

    regions = ["two_eyes", "nose", "mouth"]
    specs = [f"region:{r}@black" for r in regions] + [f"region:{r}@gray" for r in regions]
    results = evaluate_conditions([FakeRecognizer()], specs, ["none", "telea"], aligned, pairs=make_pairs(),
                                  progress=False, baseline_only=[f"region:{r}@gray" for r in regions])
    combos = {(r["occlusion"], r["filler"]) for r in results}
    assert ("region:nose@gray", "none") in combos and ("region:nose@gray", "telea") not in combos
    assert ("region:nose@black", "telea") in combos
    written = occluded_report_figures(results, "fake", "_test", tmp_path)
    names = {p.name for p in written}
    assert names == {"roc_lfw_occluded_fake_black_test.png", "radar_lfw_occluded_fake_test.png",
                     "similarity_gap_lfw_occluded_fake_black_test.png", "realism_lfw_occluded_black_test.png"}
    assert all(p.with_suffix(".pdf").is_file() for p in written)


@pytest.mark.slow
def test_markdown_table_rows_means_and_missing_cells(aligned):
    from idinpaint.evaluation.report import markdown_table

    specs = ["region:two_eyes@black", "region:nose@black", "region:nose@gray"]
    results = evaluate_conditions([FakeRecognizer()], specs, ["none", "telea"], aligned, pairs=make_pairs(),
                                  progress=False, baseline_only=["region:nose@gray"])
    text = markdown_table(results, "fake")
    lines = text.splitlines()
    assert lines[0] == "| region | occluded (black) | occluded (gray) | telea |"
    two_eyes = next(line for line in lines if line.startswith("| two_eyes"))
    assert two_eyes.split("|")[3].strip() == "–"  # no gray run for two_eyes
    row = next(r for r in results if r["occlusion"] == "region:nose@black" and r["filler"] == "telea")
    assert f"{100 * row['accuracy']:.2f}" in next(line for line in lines if line.startswith("| nose"))
    mean_line = next(line for line in lines if line.startswith("| **mean**"))
    assert mean_line.split("|")[3].strip() == "–"  # gray is incomplete: no mean
    assert "Clean:" in text


@pytest.mark.slow
def test_paired_comparisons_and_significance_table(aligned):
    from idinpaint.evaluation.report import paired_comparisons, significance_table
    from idinpaint.evaluation.verification import paired_fold_test

    specs = ["region:two_eyes@black", "region:nose@black"]
    results = evaluate_conditions([FakeRecognizer()], specs, ["none", "telea"], aligned, pairs=make_pairs(),
                                  progress=False)
    comparisons = paired_comparisons(results, "fake", "telea", "none")
    assert list(comparisons) == ["two_eyes", "nose", "mean"]
    key = lambda filler: f"fake|region:nose@black|{filler}"  # noqa: E731
    direct = paired_fold_test(results.scores[key("telea")], results.scores[key("none")], results.labels, results.folds)
    assert comparisons["nose"].fold_differences == pytest.approx(direct.fold_differences)
    # The mean's per-fold differences are the regions' per-fold differences averaged.
    expected = np.mean([comparisons[r].fold_differences for r in ("two_eyes", "nose")], axis=0)
    assert comparisons["mean"].fold_differences == pytest.approx(expected)
    # A method against itself: no difference, p = 1.
    assert paired_comparisons(results, "fake", "none", "none")["mean"].p_value == 1.0
    text = significance_table(results, "fake", "telea", ("none",))
    assert text.splitlines()[0] == "| region | vs occluded (black): Δ points | folds better | p |"
    assert text.splitlines()[-1].startswith("| **mean** |")
    assert paired_comparisons(results, "fake", "ca_id", "none") == {}  # not scored: nothing to compare
    # a baseline on another fill: the gray-filled face (only nose has it, so the mean is nose's)
    gray = evaluate_conditions([FakeRecognizer()], specs + ["region:nose@gray"], ["none", "telea"], aligned,
                               pairs=make_pairs(), progress=False, baseline_only=["region:nose@gray"])
    against_gray = paired_comparisons(gray, "fake", "telea", "none", baseline_fill="gray")
    assert list(against_gray) == ["nose", "mean"]
    direct = paired_fold_test(gray.scores[key("telea")], gray.scores["fake|region:nose@gray|none"], gray.labels, gray.folds)
    assert against_gray["nose"].fold_differences == pytest.approx(direct.fold_differences)
    header = significance_table(gray, "fake", "telea", ("none", "gray:none")).splitlines()[0]
    assert "vs occluded (black)" in header and "vs occluded (gray)" in header
    # a baseline that was never scored gets no column
    assert "gray" not in significance_table(results, "fake", "telea", ("none", "gray:none")).splitlines()[0]


@pytest.mark.slow
def test_evaluate_report_cli_prints_the_readme_tables_of_saved_runs(aligned, tmp_path, capsys):
    from idinpaint.cli import main
    from idinpaint.evaluation.results import write_results

    specs = ["region:two_eyes@black", "region:nose@black"]
    results = evaluate_conditions([FakeRecognizer()], specs, ["none", "telea", "mean_face"], aligned,
                                  pairs=make_pairs(), progress=False)
    write_results(results, tmp_path, "run")
    assert main(["evaluate", "report", str(tmp_path / "run"), "--method", "telea", "--baselines", "none",
                 "--output", str(tmp_path / "report.md")]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "**fake: accuracy (%)**" in text and "**Headline**" in text and "**fake: telea minus each baseline**" in text
    headline = [line.split("|")[2].strip() for line in text.splitlines() if line.startswith("| fake |")]
    assert headline == ["occluded", "telea", "mean_face"]  # baseline first, then the fillers in a fixed order
    assert main(["evaluate", "report", str(tmp_path / "missing")]) == 2
    assert "missing.json: no such saved run" in capsys.readouterr().err
    # two runs of one filler name, compared: the first run's telea renamed
    capsys.readouterr()
    assert main(["evaluate", "report", f"{tmp_path / 'run'}:telea=telea_v1", str(tmp_path / "run"), "--method",
                 "telea", "--baselines", "telea_v1"]) == 0
    table = capsys.readouterr().out.split("**fake: telea minus each baseline**")[1]
    mean = next(line for line in table.splitlines() if line.startswith("| **mean** |"))
    delta, better, p_value = (cell.strip() for cell in mean.split("|")[2:5])
    assert delta == "+0.00" and better.startswith("0/") and p_value == "1.000"  # the same scores: p = 1
    assert main(["evaluate", "report", f"{tmp_path / 'run'}:ca_id=x"]) == 2
    assert "no filler 'ca_id' in this run" in capsys.readouterr().err
    assert main(["evaluate", "report", f"{tmp_path / 'run'}:telea"]) == 2
    assert "is not OLD=NEW" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_report_draws_each_recognizers_figures_of_the_combined_runs(aligned, tmp_path, capsys):
    from idinpaint.cli import main
    from idinpaint.evaluation.results import recognizer_results, write_results

    specs = ["region:two_eyes@black", "region:nose@black", "region:mouth@black"]
    results = evaluate_conditions([FakeRecognizer()], specs, ["none", "telea"], aligned, pairs=make_pairs(), progress=False)
    write_results(results, tmp_path, "run")
    assert len(recognizer_results(results, "fake")) == len(results) and not recognizer_results(results, "other")
    assert main(["evaluate", "report", str(tmp_path / "run"), "--method", "telea", "--baselines", "none",
                 "--figures", str(tmp_path / "figs")]) == 0
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    for stem in ("radar_lfw_occluded_fake", "roc_lfw_occluded_fake_black", "similarity_gap_lfw_occluded_fake_black"):
        assert f"{stem}.png" in names and f"{stem}.pdf" in names


class ShiftedMasks:
    """A stand-in O-Detector that misses: it marks a band above the eyes, whatever the crop."""

    fingerprint = "shifted-band"

    def predict_for(self, crops, relatives=None):
        masks = np.zeros(np.asarray(crops).shape[:3], dtype=bool)
        masks[:, 8:30, 16:96] = True
        return masks


@pytest.mark.slow
def test_the_mask_cost_table_pairs_each_filler_with_itself_under_both_masks(aligned, tmp_path, capsys):
    from idinpaint.cli import main
    from idinpaint.evaluation.report import _fold_accuracies, mask_cost_table
    from idinpaint.evaluation.results import write_results

    specs = ["region:two_eyes@black", "region:mouth@black"]
    runs = {masks: evaluate_conditions([FakeRecognizer()], specs, ["none", "telea"], aligned, pairs=make_pairs(),
                                       progress=False, masks=masks, detector=ShiftedMasks())
            for masks in ("oracle", "predicted")}
    key = "fake|region:mouth@black|telea"
    assert not np.allclose(runs["oracle"].scores[key], runs["predicted"].scores[key])  # the missed hole shows
    lines = mask_cost_table(runs["oracle"], runs["predicted"], "fake").splitlines()
    assert lines[0].startswith("| occlusion | occluded | filler | oracle mask | predicted mask | Δ points")
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in lines[2:]]
    assert [(c[0], c[2]) for c in cells] == [("region:two_eyes@black", "telea"), ("region:mouth@black", "telea"),
                                             ("**mean of 2**", "telea")]
    none_row = next(r for r in runs["oracle"] if r.condition == "fake|region:mouth@black|none")
    assert cells[1][1] == f"{100 * none_row.accuracy:.2f}"  # the occluded face, the same under both masks
    mouth = next(line for line in lines if line.startswith("| region:mouth@black |")).split("|")
    oracle_row = next(r for r in runs["oracle"] if r.condition == key)
    predicted_row = next(r for r in runs["predicted"] if r.condition == key)
    assert mouth[4].strip() == f"{100 * oracle_row.accuracy:.2f}" and mouth[5].strip() == f"{100 * predicted_row.accuracy:.2f}"
    fold_delta = (_fold_accuracies(runs["predicted"], predicted_row) - _fold_accuracies(runs["oracle"], oracle_row)).mean()
    assert mouth[6].strip() == f"{100 * fold_delta:+.2f}"
    # a run against itself costs nothing
    same = mask_cost_table(runs["oracle"], runs["oracle"], "fake")
    assert all(line.split("|")[6].strip().strip("*") == "+0.00" for line in same.splitlines()[2:])
    # through the CLI, and refused when the two runs score different pairs
    for masks, results in runs.items():
        write_results(results, tmp_path, f"run_{masks}")
    capsys.readouterr()
    assert main(["evaluate", "report", str(tmp_path / "run_oracle"), "--predicted", str(tmp_path / "run_predicted"),
                 "--method", "telea", "--baselines", "none"]) == 0
    out = capsys.readouterr().out
    assert "**fake: predicted minus oracle mask**" in out and "| **mean of 2** | | telea |" in out
    fewer = evaluate_conditions([FakeRecognizer()], specs, ["none", "telea"], aligned, pairs=make_pairs()[:8],
                                progress=False)
    with pytest.raises(ValueError, match="same pairs"):
        mask_cost_table(runs["oracle"], fewer, "fake")
