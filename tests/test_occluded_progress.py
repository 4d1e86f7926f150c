"""`evaluate occluded` says what it does: its --help names the default fillers and how to add CA and
CA + ID; a Ctrl-C says how many conditions of all were done, then how far the running one got; a
re-run says how many conditions it reuses from the cache. On the synthetic folder and fake recognizer
of test_protocol (no model weights, no LFW)."""
from __future__ import annotations

import os
import re
import signal
import time

import numpy as np
import pytest
from test_protocol import FREE_PEOPLE, PAIR_PEOPLE, SPEC, FakeRecognizer, make_folder, make_pairs

from idinpaint.cli import main
from idinpaint.evaluation.cache import condition_cache_file
from idinpaint.evaluation.embeddings import load_embedding_cache
from idinpaint.evaluation.protocol import evaluate_conditions
from idinpaint.fillers import get_filler
from idinpaint.progress import handle_interrupts, interrupt_line

SPECS = [SPEC, "region:nose@black"]
FILLERS = ["none", "telea"]
#: a clean row, then 2 occlusions x 2 fillers
CONDITIONS = 5


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
    root = tmp_path_factory.mktemp("aligned")
    make_folder(root, {**{p: 3 for p in PAIR_PEOPLE}, **{p: 2 for p in FREE_PEOPLE}})
    return root


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("IDINPAINT_RESULTS", str(tmp_path / "results"))
    # SSIM (torchmetrics: seconds to import, most of a condition here) is not what these tests are about
    monkeypatch.setattr("idinpaint.evaluation.realism.ssim_batch", lambda filled, clean: np.full(len(filled), np.nan))
    return tmp_path / "cache"


class Interrupting(FakeRecognizer):
    """Sends this process a SIGINT, as a terminal's Ctrl-C does, once the telea condition of the first
    occlusion has cached some crops (mid-condition, between two chunks)."""

    def __init__(self, aligned):
        super().__init__()
        self.telea_cache = condition_cache_file("fake", aligned, SPEC, get_filler("telea"))

    def _embed_batch(self, images):
        if load_embedding_cache(self.telea_cache):
            os.kill(os.getpid(), signal.SIGINT)
        return super()._embed_batch(images)


def _run(aligned, recognizer=None):
    return evaluate_conditions([recognizer or FakeRecognizer()], SPECS, FILLERS, aligned, pairs=make_pairs(),
                               progress=True, chunk=2, c2st=False)


def test_help_names_the_default_fillers_and_how_to_add_ca_and_ca_id(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one line per option: the text is checked, not its wrapping
    with pytest.raises(SystemExit):
        main(["evaluate", "occluded", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: none telea mean_face;" in text
    assert "Add CA and CA + ID, the shipped inpainters, with --fillers none telea mean_face ca ca_id" in text
    assert "By default the fillers are none, telea and mean_face; CA and CA + ID run with --fillers none telea " \
           "mean_face ca ca_id" in text


def test_ctrl_c_says_how_many_conditions_were_done_and_a_rerun_what_it_reuses(aligned, cache, capsys):
    with handle_interrupts():  # the first run, on an empty cache
        with pytest.raises(KeyboardInterrupt):
            _run(aligned, Interrupting(aligned))
        line = interrupt_line()
    first = capsys.readouterr().out
    assert "reusing" not in first, "a first run has nothing to reuse"
    unique = len({p.second for p in make_pairs()})
    assert re.fullmatch(rf"interrupted after 2 of {CONDITIONS} conditions, then \d+ of {unique} img "
                        rf"\(condition {re.escape(SPEC)} \+ telea\); run the same command again to resume", line), line

    resumed = FakeRecognizer()
    results = _run(aligned, resumed)
    assert not results.failures and len(results) == CONDITIONS
    said = [row for row in capsys.readouterr().out.splitlines() if row.startswith("reusing")]
    assert said == [f"reusing 2 of {CONDITIONS} conditions from the cache in {cache}, and 1 more in part; "
                    f"3 to compute"], said

    again = FakeRecognizer()
    _run(aligned, again)
    said = [row for row in capsys.readouterr().out.splitlines() if row.startswith("reusing")]
    assert said == [f"reusing {CONDITIONS} of {CONDITIONS} conditions from the cache in {cache}; 0 to compute"]
    assert again.images == 0, "a run whose conditions are all cached embeds nothing"


def test_without_an_overall_count_the_line_is_the_innermost_bar_as_before():
    from idinpaint.progress import progress_bar

    with handle_interrupts():
        bar = progress_bar(total=40, desc="align", unit="img")
        bar.update(7)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises here at the latest
        line = interrupt_line()
        bar.close()
    assert line == "interrupted after 7 of 40 img (align); run the same command again to resume"
