"""The frontier: each fill between *is it a face* (C2ST AUC) and *is it this person* (accuracy), drawn
and read from protocol rows; the headline and realism tables carry the C2ST AUC.

Synthetic rows (no LFW, no models): the numbers are made up so that the expected reading is known."""
from __future__ import annotations

import math

import numpy as np
import pytest

from idinpaint.evaluation.report import frontier_means, frontier_points, frontier_reading, headline_table, results_report
from idinpaint.evaluation.results import OccludedResults, Row

REGIONS = ("two_eyes", "upper_face", "center_block")
#: filler -> (C2ST AUC, dlib accuracy, SFace accuracy), the same on each region but for a per-region offset
MADE_UP = {"none": (1.00, 0.86, 0.95), "telea": (0.93, 0.88, 0.93), "donor": (0.62, 0.80, 0.90),
           "mean_face": (0.97, 0.84, 0.92), "ca": (0.95, 0.87, 0.94), "ca_id": (0.99, 0.89, 0.96),
           "recipe_x": (0.70, 0.88, 0.94)}


def made_up_rows() -> OccludedResults:
    rows = []
    for rec, k in (("dlib", 1), ("sface", 2)):
        clean = Row.empty(rec, "clean", "none")
        clean.accuracy = 0.99
        rows.append(clean)
        for offset, region in enumerate(REGIONS):
            for filler, values in MADE_UP.items():
                row = Row.empty(rec, f"region:{region}@black", filler)
                row.accuracy = values[k] - 0.01 * offset
                row.similarity_gap, row.chroma_spread = 0.3, 1.0
                row.c2st_auc = values[0] - (0.01 * offset if values[0] < 1 else 0.0)
                row.c2st_low, row.c2st_high = max(0.5, row.c2st_auc - 0.03), min(1.0, row.c2st_auc + 0.03)
                rows.append(row)
            gray = Row.empty(rec, f"region:{region}@gray", "none")
            gray.accuracy, gray.similarity_gap, gray.chroma_spread = 0.87, 0.3, 0.0
            gray.c2st_auc, gray.c2st_low, gray.c2st_high = 0.999, 0.99, 1.0
            rows.append(gray)
    return OccludedResults(rows)


def test_frontier_points_name_the_occluded_face_by_its_fill_and_share_the_c2st_between_recognizers():
    frontier = frontier_points(made_up_rows())
    assert frontier["labels"][:2] == ["black", "gray"] and "none" not in frontier["labels"]
    assert set(frontier["labels"]) == {"black", "gray", *[f for f in MADE_UP if f != "none"]}
    assert frontier["clean"] == {"dlib": 0.99, "sface": 0.99}
    point = frontier["points"][("telea", "upper_face")]
    assert point["c2st_auc"] == pytest.approx(0.92) and point["dlib"] == pytest.approx(0.87)
    assert point["sface"] == pytest.approx(0.92)
    means = frontier_means(frontier)
    assert means["donor"]["c2st_auc"] == pytest.approx(0.61) and means["donor"]["regions"] == 3


def test_frontier_reading_is_computed_from_the_rows():
    rows = made_up_rows()
    text = frontier_reading(rows)
    means = frontier_means(frontier_points(rows))
    for label, m in means.items():
        assert f"**{label}**: C2ST AUC {m['c2st_auc']:.3f}" in text
    # on dlib: donor is the hardest to tell from real content, ca_id the most accurate; recipe_x beats
    # every fill but donor on realism and is as accurate as telea: all three are on the frontier, telea is not
    assert "the frontier (no other fill both harder to tell from real content and more accurate) is " \
           "**donor**, **recipe_x**, **ca_id**." in text
    assert "Hardest to tell from real content: **donor**" in text and "most accurate: **ca_id**" in text
    # the reading follows the numbers: make telea the most accurate and it joins the frontier
    for row in rows:
        if row.filler == "telea" and row.recognizer == "dlib":
            row.accuracy = 0.95
    assert "most accurate: **telea**" in frontier_reading(rows)
    empty = [Row.from_mapping({**r, "c2st_auc": None}) for r in rows]
    assert "no frontier" in frontier_reading(empty)


def test_frontier_figure_draws_both_recognizers_and_is_saved_as_png_and_pdf(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from idinpaint import figures

    fig = figures.frontier_figure(made_up_rows())
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["dlib", "sface"]
    low, high = axes[0].get_xlim()
    assert low > high and high <= 0.5 < low  # 1 (always told apart) on the left, 0.5 on the right
    paths = figures.save_figure(fig, "frontier", tmp_path)
    assert [p.name for p in paths] == ["frontier.png", "frontier.pdf"] and all(p.stat().st_size > 0 for p in paths)
    written = figures.report_figures(made_up_rows(), tmp_path / "report")
    assert (tmp_path / "report" / "frontier.png").is_file() and (tmp_path / "report" / "frontier.pdf").is_file()
    assert any(p.name == "frontier.png" for p in written)
    with pytest.raises(ValueError, match="C2ST"):
        figures.frontier_figure([Row.from_mapping({**r, "c2st_auc": None}) for r in made_up_rows()])


def test_headline_and_realism_tables_carry_the_c2st_auc_of_the_hardest_three():
    rows = made_up_rows()
    table = headline_table(rows)
    assert "C2ST AUC (two_eyes / upper_face / center_block)" in table.splitlines()[0]
    telea = next(line for line in table.splitlines() if "| dlib | telea |" in line)
    assert "0.930 / 0.920 / 0.910" in telea
    report = results_report(rows, method="ca_id", baselines=("none", "telea"))
    assert "Is it a face? C2ST AUC" in report
    old = OccludedResults([Row.from_mapping({k: v for k, v in r.items() if not k.startswith("c2st")}) for r in rows])
    assert "Is it a face? C2ST AUC" not in results_report(old, method="ca_id", baselines=("none",))
    assert all(math.isnan(r.c2st_auc) for r in old) and np.isfinite(rows[1].c2st_auc)


@pytest.mark.slow
def test_evaluate_report_prints_the_c2st_column_and_draws_the_frontier(tmp_path, capsys):
    from idinpaint.cli import main
    from idinpaint.evaluation.results import write_results

    write_results(made_up_rows(), tmp_path, "run")
    assert main(["evaluate", "report", str(tmp_path / "run"), "--baselines", "none", "telea",
                 "--figures", str(tmp_path / "figures")]) == 0
    assert "C2ST AUC (two_eyes / upper_face / center_block)" in capsys.readouterr().out
    assert (tmp_path / "figures" / "frontier.png").is_file() and (tmp_path / "figures" / "frontier.pdf").is_file()


def test_a_report_of_a_subset_of_the_folds_names_its_figures_by_the_folds(tmp_path):
    """Combining runs of some folds must not overwrite the full protocol's figures of the same names."""
    from idinpaint.evaluation.runners import runs_suffix
    from idinpaint import figures

    assert runs_suffix(["results/x/lfw_occluded_sface-dlib"]) == ""
    assert runs_suffix(["results/x/lfw_occluded_sface-dlib_folds1-10"]) == "_folds1-10"
    assert runs_suffix(["a/lfw_occluded_dlib_folds1_predicted", "b/lfw_occluded_sface_folds1"]) == "_folds1_predicted"
    written = figures.report_figures(made_up_rows(), tmp_path, suffix="_folds1-10")
    names = {p.name for p in tmp_path.iterdir()}
    assert "frontier_folds1-10.png" in names and "frontier.png" not in names
    assert written and all(p.stem.endswith("_folds1-10") for p in written)


def test_save_frontier_writes_nothing_for_rows_without_a_c2st(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from idinpaint import figures

    unjudged = [Row.from_mapping({**r, "c2st_auc": None}) for r in made_up_rows()]
    assert figures.save_frontier(unjudged, "frontier", tmp_path) == [] and not list(tmp_path.iterdir())
    paths = figures.save_frontier(made_up_rows(), "frontier_x", tmp_path)
    assert [p.name for p in paths] == ["frontier_x.png", "frontier_x.pdf"]
