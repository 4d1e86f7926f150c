"""The recognisers' same/different thresholds: one calibration path (the scores of `evaluate lfw`), the
shipped file `recover` reads by default, and one-line errors for a broken file."""
from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from idinpaint import runinfo
from idinpaint.evaluation.thresholds import (
    SHIPPED_THRESHOLDS,
    load_thresholds,
    threshold_entry,
    write_thresholds,
)
from idinpaint.paths import REPO_ROOT

#: Where the scores of `evaluate lfw` are computed: an uncommitted change there would make the shipped
#: numbers irreproducible from the commit the file names.
SCORING_CODE = ("idinpaint/evaluation/", "idinpaint/recognizers/", "idinpaint/data/", "idinpaint/align.py",
                "idinpaint/preprocess.py", "config/")


def _strings(value):
    """Every string in a JSON value, keys included."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def _machine_paths(stored: dict, *places) -> list[str]:
    """The strings of a file's provenance that name a path of the machine that made it."""
    return [text for text in _strings({k: v for k, v in stored.items() if k != "thresholds"})
            if os.path.isabs(text) or any(str(place) in text for place in places)]


def test_the_threshold_splits_same_from_different_where_most_pairs_are_right():
    scores = np.array([0.1, 0.2, 0.3, 0.55, 0.6, 0.7, 0.15])
    labels = np.array([False, False, False, True, True, True, True])  # one same pair scores low
    entry = threshold_entry(scores, labels)
    assert 0.3 < entry["threshold"] < 0.55
    assert entry["accuracy"] == pytest.approx(6 / 7, abs=1e-4) and entry["pairs"] == 7


def test_a_written_file_loads_back_with_where_it_came_from(tmp_path):
    path = write_thresholds(tmp_path / "t.json", {"sface": {"threshold": 0.31, "accuracy": 0.99, "pairs": 6000},
                                                  "dlib": {"threshold": 0.93, "accuracy": 0.98, "pairs": 6000}},
                            "data/lfw-112")
    stored = json.loads(path.read_text())
    assert stored["git_sha"] and stored["argv"]  # the commit and the command that made it
    table, source = load_thresholds(path)
    assert table == {"sface": 0.31, "dlib": 0.93, "dlib_torch": 0.93} and "6,000" in source  # the same network


def test_a_written_file_names_no_path_of_the_machine_that_made_it(tmp_path, monkeypatch):
    target = tmp_path / "thresholds.json"
    monkeypatch.setattr("sys.argv", ["/home/someone/idinpaint/.venv/bin/idinpaint", "evaluate", "lfw", "--aligned",
                                     str(REPO_ROOT / "data" / "lfw-112"), "--thresholds-file", str(target)])
    monkeypatch.setattr(runinfo, "git_sha", lambda: "a" * 40 + "-dirty")
    monkeypatch.setattr(runinfo, "uncommitted_files", lambda: ["idinpaint/recover.py"])
    entries = {"sface": {"threshold": 0.31, "accuracy": 0.99, "pairs": 6000}}
    stored = json.loads(write_thresholds(target, entries, REPO_ROOT / "data" / "lfw-112").read_text())
    assert stored["config"] == {"aligned": "data/lfw-112"}  # inside the repository: relative to it
    assert stored["argv"] == ["idinpaint", "evaluate", "lfw", "--aligned", "data/lfw-112", "--thresholds-file",
                              "thresholds.json"]  # outside it: only the name
    assert stored["git_sha"] == "a" * 40 and stored["uncommitted_changes"] == ["idinpaint/recover.py"]
    assert not _machine_paths(stored, tmp_path, REPO_ROOT, "/home/someone")

    elsewhere = tmp_path / "my crops"
    stored = json.loads(write_thresholds(target, entries, elsewhere).read_text())
    assert stored["config"] == {"aligned": "my crops"} and not _machine_paths(stored, tmp_path, REPO_ROOT)


def test_a_missing_file_means_cosines_only_and_a_broken_one_is_one_line(tmp_path):
    table, why = load_thresholds(tmp_path / "none.json")
    assert table == {} and "cosines only" in why and "--calibrate" in why
    broken = tmp_path / "broken.json"
    broken.write_text('{"thresholds": {"sface": 0.3}}')
    with pytest.raises(ValueError, match="not a thresholds file") as err:
        load_thresholds(broken)
    assert str(broken) in str(err.value) and "\n" not in str(err.value)


def test_the_shipped_thresholds_cover_both_recognisers_on_all_pairs():
    if not SHIPPED_THRESHOLDS.is_file():
        pytest.fail(f"{SHIPPED_THRESHOLDS} is missing: `recover` would verify with cosines only")
    stored = json.loads(SHIPPED_THRESHOLDS.read_text())
    assert set(stored["thresholds"]) == {"sface", "dlib"}
    for name, entry in stored["thresholds"].items():
        assert entry["pairs"] == 6000 and 0.97 < entry["accuracy"] <= 1.0, name
        assert -1.0 < entry["threshold"] < 1.0, name


def test_the_shipped_thresholds_name_a_commit_and_no_path_of_the_machine_that_made_them():
    stored = json.loads(SHIPPED_THRESHOLDS.read_text())
    assert re.fullmatch(r"[0-9a-f]{40}", stored["git_sha"]), f"not a commit one can check out: {stored['git_sha']}"
    assert not _machine_paths(stored, "/work/", "/home/"), "the shipped file names a path of the machine that made it"
    assert stored["config"]["aligned"] == "data/lfw-112"
    touched = [f for f in stored.get("uncommitted_changes", []) if f.startswith(SCORING_CODE)]
    assert not touched, f"made with uncommitted changes to the scoring code: {touched}"


# --- recalibrating on request -------------------------------------------------------------------------

@pytest.fixture
def tiny_lfw(tmp_path):
    """A pairs.txt of 2 folds x (4 same + 4 different) and its synthetic aligned crops."""
    from test_protocol import FREE_PEOPLE, PAIR_PEOPLE, make_folder, make_pairs

    root, aligned = tmp_path / "lfw", tmp_path / "aligned"
    root.mkdir()
    lines = ["2 4"]
    for pair in make_pairs():
        (a, i), (b, j) = ((p.split("/")[0], int(p.rsplit("_", 1)[1][:4])) for p in (pair.first, pair.second))
        lines.append(f"{a} {i} {j}" if pair.same else f"{a} {i} {b} {j}")
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    make_folder(aligned, {**{p: 3 for p in PAIR_PEOPLE}, **{p: 2 for p in FREE_PEOPLE}})
    make_folder(root / "raw", {PAIR_PEOPLE[0]: 1})  # a non-empty raw/ (the registry checks it is there)
    return root, aligned


def test_a_calibration_says_what_it_does_and_how_long_then_is_cached(tiny_lfw, tmp_path, monkeypatch):
    from idinpaint.evaluation.thresholds import announce_calibration, calibrate, crops_to_embed

    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / "cache"))
    root, aligned = tiny_lfw
    assert crops_to_embed(["sface"], aligned, root) == {"sface": 18}  # every distinct image of the pairs
    line = announce_calibration(["sface"], aligned, root)
    assert line.startswith("calibrating the same/different thresholds of sface on the 16 clean LFW pairs")
    assert "sface 18 crops" in line and "resumes" in line
    entry = calibrate(["sface"], aligned, root, progress=False)["sface"]
    assert entry["pairs"] == 16 and 0.5 <= entry["accuracy"] <= 1.0 and -1 < entry["threshold"] < 1
    assert crops_to_embed(["sface"], aligned, root) == {"sface": 0}, "a second calibration embeds nothing"
    assert "seconds (embeddings cached)" in announce_calibration(["sface"], aligned, root)


# --- the docs quote the shipped numbers -----------------------------------------------------------

TROUBLESHOOTING = REPO_ROOT / "docs" / "troubleshooting.md"
#: Markdown a reader takes thresholds from: the advice when the file is missing, and the tables.
QUOTING = [TROUBLESHOOTING, REPO_ROOT / "README.md", REPO_ROOT / "checkpoints" / "README.md",
           *sorted((REPO_ROOT / "docs").glob("*.md"))]
#: `--thresholds sface=0.3311 dlib=0.9064`, and "SFace 0.3311" / "| dlib ResNet | 0.9064 |" in prose and tables
QUOTED = (re.compile(r"\b(sface|dlib|dlib_torch)=(-?\d+\.\d+)"),
          re.compile(r"\b(SFace|dlib)(?: ResNet)?(?: \|)? (0\.\d{4})\b"))


def quoted_thresholds(text: str) -> list[tuple[str, str]]:
    """(recogniser, the number as written) for every threshold the text quotes."""
    return [(name.lower(), value) for pattern in QUOTED for name, value in pattern.findall(text)]


def test_a_quoted_threshold_is_found_in_prose_tables_and_options():
    text = ("give `--thresholds sface=0.3311 dlib=0.6`\n| SFace | 0.3311 | 99.43 % |\n| dlib ResNet | 0.9064 |\n"
            "SFace 0.3311 (99.43 %), dlib 0.9064 (98.92 %); dlib chips | 0.7 | 0.6")
    assert quoted_thresholds(text) == [("sface", "0.3311"), ("dlib", "0.6"), ("sface", "0.3311"),
                                       ("dlib", "0.9064"), ("sface", "0.3311"), ("dlib", "0.9064")]


def test_the_docs_quote_the_shipped_thresholds():
    shipped, _ = load_thresholds(SHIPPED_THRESHOLDS)
    advice = quoted_thresholds(TROUBLESHOOTING.read_text())
    assert {name for name, _ in advice} >= {"sface", "dlib"}, "troubleshooting gives both thresholds by hand"
    wrong = []
    for path in dict.fromkeys(QUOTING):
        for name, value in quoted_thresholds(path.read_text()):
            digits = len(value.split(".")[1])
            if abs(float(value) - shipped[name]) > 0.5 * 10 ** -digits:
                wrong.append(f"{path.relative_to(REPO_ROOT)}: {name} {value} (shipped {shipped[name]})")
    assert not wrong, "thresholds that are not the shipped ones: " + "; ".join(wrong)
