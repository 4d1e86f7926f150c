"""Is it a face? The realism metrics, the donor baseline, and their place in the protocol and report.

Synthetic crops (no LFW): the metrics are checked against values computed by hand, the chroma
spread against the three cases it must tell apart (a real patch ≈ 1, a blur < 1, a coloured
pattern > 1), and the donor filler against its contract (another person's pixels, deterministic)."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from test_protocol import SPEC, FakeRecognizer, aligned, isolated, make_pairs  # noqa: F401 (fixtures)

from idinpaint.data.lfw import pair_people
from idinpaint.evaluation.cache import realism_cache_file
from idinpaint.evaluation.protocol import evaluate_conditions
from idinpaint.evaluation.realism import REALISM_FIELDS, realism_metrics, summarize, to_lab
from idinpaint.evaluation.report import results_report
from idinpaint.evaluation.results import load_results
from idinpaint.fillers import DonorFiller, Filler, donor_filler, get_filler


def skin_like(seed: int, size: int = 112) -> np.ndarray:
    """A smooth, face-coloured image with some colour variation (like skin and face parts)."""
    rng = np.random.default_rng(seed)
    low = rng.normal(0, 1, (8, 8, 3)) * np.array([18.0, 12.0, 10.0]) + np.array([180.0, 130.0, 110.0])
    return np.clip(cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def hole(size: int = 112) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[30:70, 18:98] = True
    return mask


@pytest.mark.slow
def test_identical_fill_scores_perfectly():
    clean = skin_like(0)[None]
    m = realism_metrics(clean, clean, hole()[None])
    assert m["chroma_spread"][0] == pytest.approx(1.0)
    assert m["chroma_error"][0] == pytest.approx(0.0, abs=1e-6)
    assert m["hole_l1"][0] == 0.0 and m["hole_psnr"][0] == 100.0
    assert m["ssim"][0] == pytest.approx(1.0, abs=1e-5)


def test_hand_computed_values():
    clean = skin_like(1)[None]
    filled = clean.copy()
    mask = hole()[None]
    filled[0][mask[0]] = np.clip(filled[0][mask[0]].astype(int) + 10, 0, 255).astype(np.uint8)
    m = realism_metrics(filled, clean, mask)
    diff = (filled[0][mask[0]].astype(float) - clean[0][mask[0]]) / 255.0
    assert m["hole_l1"][0] == pytest.approx(np.abs(diff).mean())
    assert m["hole_psnr"][0] == pytest.approx(10 * math.log10(1 / (diff ** 2).mean()))
    lab_f, lab_c = to_lab(filled)[0][mask[0]], to_lab(clean)[0][mask[0]]
    spread = math.sqrt(lab_f[:, 1:].var(axis=0).sum()) / math.sqrt(lab_c[:, 1:].var(axis=0).sum())
    assert m["chroma_spread"][0] == pytest.approx(spread, rel=1e-5)
    assert m["chroma_error"][0] == pytest.approx(np.abs(lab_f[:, 1:] - lab_c[:, 1:]).sum(axis=1).mean(), rel=1e-5)


def test_chroma_spread_separates_a_real_patch_a_blur_and_a_coloured_pattern():
    clean = skin_like(2)
    mask = hole()
    other = skin_like(3)  # another "face": the donor case
    blur = cv2.GaussianBlur(clean, (0, 0), 8)
    yy, xx = np.mgrid[:112, :112]
    stripes = (np.sin(xx / 2.0)[..., None] * np.array([60, -60, 40]) + np.array([180, 130, 110]))
    pattern = np.clip(stripes, 0, 255).astype(np.uint8)
    fills = np.stack([np.where(mask[..., None], f, clean) for f in (other, blur, pattern)])
    spread = realism_metrics(fills, np.stack([clean] * 3), np.stack([mask] * 3))["chroma_spread"]
    assert 0.5 < spread[0] < 2.0  # a real patch: the same order as the clean one
    assert spread[1] < 0.6 * spread[0]  # a blur averages the colour away
    assert spread[2] > 3.0  # a coloured periodic pattern


def test_no_hole_gives_nan_and_summary_ignores_it():
    clean = np.stack([skin_like(4), skin_like(5)])
    masks = np.stack([np.zeros((112, 112), bool), hole()])
    m = realism_metrics(clean, clean, masks)
    assert math.isnan(m["chroma_spread"][0]) and math.isnan(m["hole_psnr"][0])
    s = summarize(m)
    assert s["chroma_spread"] == pytest.approx(1.0) and s["hole_l1"] == 0.0
    with pytest.raises(ValueError, match="do not match"):
        realism_metrics(clean, clean[:1], masks)


def test_donor_takes_another_persons_pixels_deterministically():
    faces = np.stack([skin_like(10 + i) for i in range(4)])
    filler = DonorFiller(faces, ["P1", "P1", "P2", "P3"], seed=0)
    # a crop of P1 never gets a P1 donor
    for k in range(20):
        assert filler.people[filler.donor_index(f"P1/P1_{k:04d}.png")] != "P1"
    target = skin_like(99)
    mask = hole()
    out = filler.fill_for(target[None], mask[None], ["P2/P2_0001.png"])[0]
    np.testing.assert_array_equal(out[~mask], target[~mask])  # only the hole changes
    donor = faces[filler.donor_index("P2/P2_0001.png")]
    inner = np.zeros_like(mask)
    inner[36:64, 24:92] = True  # away from the seam, Poisson keeps the donor's structure
    centred = lambda a: a[inner].astype(float) - a[inner].astype(float).mean(axis=0)  # noqa: E731
    assert np.corrcoef(centred(out).ravel(), centred(donor).ravel())[0, 1] > 0.9
    np.testing.assert_array_equal(out, filler.fill_for(target[None], mask[None], ["P2/P2_0001.png"])[0])
    with pytest.raises(ValueError, match="two people"):
        DonorFiller(faces[:2], ["P1", "P1"])
    assert "donor" in __import__("idinpaint.fillers", fromlist=["FILLERS"]).FILLERS


def test_protocol_rows_carry_realism_and_the_donor_is_drawn_from_non_pair_people(aligned, tmp_path):
    pairs = make_pairs()
    donor = donor_filler(aligned, pairs, count=3)
    assert not set(donor.people) & pair_people(pairs)
    out = tmp_path / "run"
    results = evaluate_conditions([FakeRecognizer()], [SPEC], ["telea", "donor"], aligned, pairs=pairs,
                                  progress=False, output_dir=out)
    assert not results.failures
    rows = {r["filler"]: r for r in results if r["occlusion"] != "clean"}
    assert set(rows) == {"none", "telea", "donor"}
    for row in rows.values():
        assert all(field in row for field in REALISM_FIELDS)
    assert rows["none"]["chroma_spread"] == pytest.approx(0.0, abs=1e-6)  # a black hole has no colour
    assert rows["donor"]["chroma_spread"] > rows["telea"]["chroma_spread"]  # a real patch vs a smooth fill
    assert rows["telea"]["hole_psnr"] > rows["none"]["hole_psnr"]
    cached = realism_cache_file(aligned, SPEC, get_filler("telea"))
    assert cached.is_file()
    # the saved run reloads with the columns, and the report shows them
    loaded = load_results(out)
    assert {r["filler"]: r["chroma_spread"] for r in loaded if r["occlusion"] != "clean"}["donor"] == pytest.approx(
        rows["donor"]["chroma_spread"])
    report = results_report(loaded, method="donor", baselines=("none", "telea"))
    assert "Is it a face? median chroma spread" in report and "hole PSNR" in report


@pytest.mark.slow
def test_realism_bars_and_gallery_with_ground_truth(aligned, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from idinpaint import figures
    from idinpaint.data.aligned import read_faces
    from idinpaint.evaluation.gallery import compare_fillers

    pairs = make_pairs()
    results = evaluate_conditions([FakeRecognizer()], [SPEC, "region:nose@black"], ["telea", "donor"], aligned,
                                  pairs=pairs, progress=False)
    written = figures.occluded_report_figures(results, "fake", folder=tmp_path)
    assert any(p.name == "realism_lfw_occluded_black.png" for p in written)
    faces = read_faces(aligned, ["Pair_A/Pair_A_0001.png"])
    compared = compare_fillers(faces, ["two_eyes"], [get_filler("telea"), donor_filler(aligned, pairs, count=3)],
                               relatives=["Pair_A/Pair_A_0001.png"], realism=True, identity=FakeRecognizer())
    fig = figures.filler_comparison(compared)
    axes = fig.axes
    assert axes[0].get_title() == "ground truth"
    assert "spread" in axes[2].get_xlabel() and "id cos" in axes[2].get_xlabel()


def test_periodicity_flags_a_luminance_pattern_that_the_chroma_spread_misses():
    from idinpaint.evaluation.realism import periodicity

    clean = skin_like(20)
    mask = hole()
    yy, xx = np.mgrid[:112, :112]
    stripes = np.clip(clean.astype(float) + 30 * np.sin(2 * np.pi * xx / 8.0)[..., None], 0, 255).astype(np.uint8)
    blur = cv2.GaussianBlur(clean, (0, 0), 6)
    rng = np.random.default_rng(0)
    texture = np.clip(clean.astype(float) + rng.normal(0, 12, clean.shape[:2])[..., None], 0, 255).astype(np.uint8)
    fills = {name: np.where(mask[..., None], image, clean) for name, image in
             (("stripes", stripes), ("blur", blur), ("texture", texture))}
    values = {name: periodicity(image, mask) for name, image in fills.items()}
    assert values["stripes"] > 0.8  # comes back at its 8-pixel period
    assert values["blur"] < 0.3 and values["texture"] < 0.3  # smooth, or detail that does not repeat
    spread = realism_metrics(np.stack([fills["stripes"]]), clean[None], mask[None])["chroma_spread"][0]
    assert spread < 1.25  # the same colours: the spread alone would call the stripes a face
    assert periodicity(clean, np.zeros_like(mask)) != periodicity(clean, np.zeros_like(mask))  # NaN: no hole


# --- the learned judge: classifier two-sample test ------------------------------------------------

C2ST_CROPS = 256  # one crop per person: about 20 s per judged condition on 2 cores


@pytest.fixture(scope="module")
def judged_crops(lfw_root, tmp_path_factory):
    """(relatives, faces): one real aligned LFW crop of each of 256 people (every k-th person in name
    order, their first photo), read from data/lfw-112 when it holds them, else aligned here."""
    from pathlib import Path

    from idinpaint.data.aligned import aligned_name, read_faces
    from idinpaint.preprocess import preprocess_folder

    people = sorted(p for p in (lfw_root / "raw").iterdir() if p.is_dir())
    chosen = [p for p in people[:: max(1, len(people) // C2ST_CROPS)] if any(p.glob("*.jpg"))][:C2ST_CROPS]
    files = [f"{p.name}/{sorted(p.glob('*.jpg'))[0].name}" for p in chosen]
    local = Path(__file__).resolve().parents[1] / "data" / "lfw-112"
    if all((local / aligned_name(f)).is_file() for f in files):
        root = local
    else:
        root = tmp_path_factory.mktemp("judged")
        preprocess_folder(lfw_root / "raw", root, files=files, progress=False)
    relatives = [aligned_name(f) for f in files if (root / aligned_name(f)).is_file()]
    assert len(relatives) >= 0.95 * C2ST_CROPS
    return relatives, read_faces(root, relatives)


def _eyes(n: int) -> np.ndarray:
    from idinpaint.occlusion import region_mask

    return np.repeat(region_mask("two_eyes")[None], n, axis=0)


@pytest.mark.slow
def test_c2st_cannot_tell_clean_hole_content_from_clean(judged_crops):
    from idinpaint.evaluation.realism import c2st

    relatives, faces = judged_crops
    judged = c2st(faces, faces, _eyes(len(faces)), relatives, seed=0)
    assert judged.low <= 0.5 <= judged.high, judged
    assert judged.n_real + judged.n_fill == len(faces) and min(judged.n_real, judged.n_fill) > 0.3 * len(faces)


@pytest.mark.slow
def test_c2st_always_tells_a_black_hole_from_real_content(judged_crops):
    from idinpaint.evaluation.realism import C2ST_FIELDS, c2st
    from idinpaint.occlusion import occlude

    relatives, faces = judged_crops
    masks = _eyes(len(faces))
    black = np.stack([occlude(face, mask, "black") for face, mask in zip(faces, masks)])
    judged = c2st(faces, black, masks, relatives, seed=0)
    assert judged.auc >= 0.99, judged
    assert judged.auc == max(judged.cnn, judged.features)  # the stronger judge is reported
    assert set(judged.fields()) == set(C2ST_FIELDS)


@pytest.mark.slow
def test_c2st_catches_a_blurred_copy_of_the_true_hole_content(judged_crops):
    from idinpaint.evaluation.realism import c2st

    relatives, faces = judged_crops
    masks = _eyes(len(faces))
    blurred = np.stack([np.where(mask[..., None], cv2.GaussianBlur(face, (0, 0), 2), face)
                        for face, mask in zip(faces, masks)])
    judged = c2st(faces, blurred, masks, relatives, seed=0)
    assert judged.auc > 0.75 and judged.low > 0.6, judged  # the true pixels, only softened: still caught


def test_delong_interval_matches_sklearn_and_a_pairwise_computation():
    from sklearn.metrics import roc_auc_score

    from idinpaint.evaluation.realism import delong_interval

    rng = np.random.default_rng(0)
    labels = rng.random(120) < 0.4
    scores = np.round(rng.normal(0, 1, 120) + 0.8 * labels, 1)  # rounded: ties count half
    auc, low, high = delong_interval(labels, scores)
    assert auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    # DeLong's variance written out pair by pair: psi(p, n) = 1 if p > n, 1/2 if equal, else 0
    pos, neg = scores[labels], scores[~labels]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    var = psi.mean(axis=1).var(ddof=1) / len(pos) + psi.mean(axis=0).var(ddof=1) / len(neg)
    assert (low, high) == pytest.approx((auc - 1.959964 * math.sqrt(var), auc + 1.959964 * math.sqrt(var)))
    # perfectly separated: AUC 1 with a zero-width interval; one class only: undefined
    assert delong_interval([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == (1.0, 1.0, 1.0)
    assert all(math.isnan(v) for v in delong_interval([1, 1, 1], [0.1, 0.2, 0.3]))
    # more samples of the same distributions: a narrower interval
    labels_big = rng.random(2000) < 0.4
    _, low_big, high_big = delong_interval(labels_big, rng.normal(0, 1, 2000) + 0.8 * labels_big)
    assert high_big - low_big < 0.5 * (high - low)


def test_person_split_puts_every_person_on_one_side_only():
    from idinpaint.evaluation.realism import person_split

    relatives = [f"Person_{p:03d}/Person_{p:03d}_{k:04d}.png" for p in range(60) for k in range(1, 1 + p % 4 + 1)]
    flat = [r.split("/")[1] for r in relatives]  # a flat folder: the person is the name up to _NNNN
    first = person_split(relatives, seed=0)
    np.testing.assert_array_equal(first, person_split(flat, seed=0))
    # a bare name is the person as a whole, not cut at its last underscore
    np.testing.assert_array_equal(person_split(["Aaron_Eckhart", "Zico_Smith"], seed=3),
                                  person_split(["Aaron_Eckhart_0001.png", "Zico_Smith_0002.png"], seed=3))
    side: dict[str, set] = {}
    for rel, is_first in zip(relatives, first):
        side.setdefault(rel.split("/")[0], set()).add(bool(is_first))
    assert all(len(sides) == 1 for sides in side.values())  # nobody on both sides
    people_first = sum(True in sides for sides in side.values())
    assert 15 < people_first < 45  # about half the people on each side
    np.testing.assert_array_equal(first, person_split(list(reversed(relatives)), seed=0)[::-1])  # order-free
    assert not np.array_equal(first, person_split(relatives, seed=1))  # the seed draws another split


def test_too_few_crops_give_nan_fields_and_the_draw_is_stable():
    from idinpaint.evaluation.realism import C2ST_FIELDS, TooFewToJudge, c2st, c2st_draw, c2st_fields

    faces = np.stack([skin_like(30 + i) for i in range(8)])
    masks = np.stack([hole()] * 8)
    with pytest.raises(ValueError, match="too few"):
        c2st(faces, faces, masks, [f"P{i}/P{i}_0001.png" for i in range(8)])
    fields = c2st_fields(faces, faces, masks, [f"P{i}/P{i}_0001.png" for i in range(8)])
    assert set(fields) == set(C2ST_FIELDS) and all(math.isnan(v) for v in fields.values())
    assert issubclass(TooFewToJudge, ValueError)
    relatives = [f"P{i}/P{i}_0001.png" for i in range(50)]
    drawn = c2st_draw(relatives, 20, seed=0)
    assert len(drawn) == 20 and drawn == [r for r in relatives if r in drawn]  # in the given order
    assert c2st_draw(list(reversed(relatives)), 20, seed=0) == list(reversed(drawn))
    assert set(c2st_draw(relatives[:30], 20, seed=0)) >= set(drawn) & set(relatives[:30])  # a subset keeps its draws
    assert c2st_draw(relatives, 20, seed=1) != drawn and c2st_draw(relatives, 100) == relatives


# --- the judge in the protocol: once per condition, cached, NaN when the run is too small ----------


class CountingFiller(Filler):
    """A network-like filler (its fills are kept in the filled-crop cache): the occluded crop plus a
    constant, counting the crops it fills."""

    name = "counting"
    cache_fills = True
    cache_tag = "counting-v1"

    def __init__(self):
        self.crops = 0

    def _fill(self, images, masks):
        self.crops += len(images)
        return np.clip(images.astype(int) + 60, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def many_people(tmp_path_factory):
    """40 synthetic people with one crop each: enough for both judges' 5 folds."""
    from test_protocol import make_folder

    root = tmp_path_factory.mktemp("people")
    make_folder(root, {f"Person_{k:02d}": 1 for k in range(40)}, seed=3)
    return root, [f"Person_{k:02d}/Person_{k:02d}_0001.png" for k in range(40)]


@pytest.mark.slow
def test_c2st_condition_is_judged_once_kept_as_json_and_reuses_the_filled_crops(many_people, monkeypatch):
    from idinpaint.evaluation import cache
    from idinpaint.evaluation.cache import c2st_cache_file, c2st_condition, realism_condition
    from idinpaint.evaluation.realism import C2ST_FIELDS, c2st_draw

    root, relatives = many_people
    black = c2st_condition(root, relatives, SPEC, get_filler("none"), progress=False)
    assert set(black) == set(C2ST_FIELDS)
    assert black["c2st_auc"] >= 0.99 and black["c2st_n"] == 40  # a black hole is never real content
    assert c2st_cache_file(root, SPEC, get_filler("none"), relatives=relatives).is_file()
    filler = CountingFiller()
    realism_condition(root, relatives, SPEC, filler, progress=False)
    assert filler.crops == 40
    judged = c2st_condition(root, relatives, SPEC, filler, progress=False, max_crops=30)
    assert filler.crops == 40  # the judge read the fills the realism pass left in the filled-crop cache
    assert judged["c2st_n"] == 30 and 0.0 <= judged["c2st_low"] <= judged["c2st_auc"] <= judged["c2st_high"] <= 1.0
    stored = c2st_cache_file(root, SPEC, filler, relatives=c2st_draw(relatives, 30))
    assert stored.is_file() and stored != c2st_cache_file(root, SPEC, filler, relatives=relatives)

    def no_judging(*args, **kwargs):
        raise AssertionError("judged again")

    monkeypatch.setattr(cache, "c2st_fields", no_judging)
    assert c2st_condition(root, relatives, SPEC, filler, progress=False, max_crops=30) == pytest.approx(judged)
    with pytest.raises(AssertionError, match="judged again"):  # another set of crops is judged anew
        c2st_condition(root, relatives[:35], SPEC, filler, progress=False, max_crops=30)


def test_protocol_rows_carry_c2st_fields_nan_when_too_few_crops_and_old_runs_still_load(aligned, tmp_path):
    import json

    from idinpaint.evaluation.realism import C2ST_FIELDS
    from idinpaint.evaluation.results import Row

    out = tmp_path / "run"
    results = evaluate_conditions([FakeRecognizer()], [SPEC], ["telea"], aligned, pairs=make_pairs(),
                                  progress=False, output_dir=out)
    assert not results.failures  # 12 crops are too few to judge: NaN, and the run goes on
    for row in results:
        assert all(math.isnan(float(row[field])) for field in C2ST_FIELDS)
    payload = json.loads((out / "lfw_occluded.json").read_text())
    assert all(row["c2st_auc"] is None for row in payload["rows"])
    # a run written before the judge existed: no c2st columns at all
    old = [{k: v for k, v in row.items() if not k.startswith("c2st")} for row in payload["rows"]]
    (out / "lfw_occluded.json").write_text(json.dumps({**payload, "rows": old}))
    loaded = load_results(out)
    assert len(loaded) == len(results) and all(math.isnan(row.c2st_auc) for row in loaded)
    assert math.isnan(Row.from_mapping({"recognizer": "fake", "c2st_auc": None}).c2st_auc)
