"""Any notebook, any order: a notebook makes the small inputs it needs through the library (the smoke
profile's aligned crops) or stops at its first cell with one line naming what to run first; the runner
reports that line, not papermill's banner, and where the executed copy is."""
from __future__ import annotations

import json

import pytest

from idinpaint.notebooks import failure_line, run_notebooks
from idinpaint.paths import NotReadyError, require_input


def test_the_failure_line_is_the_cells_exception_not_the_banner():
    class CellError(Exception):  # what papermill raises: the banner in str(), the cell's error in ename/evalue
        ename, evalue = "NotReadyError", "results/x.json: not there yet; run notebook 04 first"

    banner = "\n" + "-" * 75 + "\nException encountered at \"In [2]\":\n"
    assert failure_line(CellError(banner)) == "NotReadyError: results/x.json: not there yet; run notebook 04 first"
    assert failure_line(RuntimeError(banner + "kernel died")) == 'Exception encountered at "In [2]":'
    assert failure_line(ValueError("x" * 300), 50).endswith("...")


def test_a_missing_input_is_one_line_in_a_notebook_too(tmp_path):
    with pytest.raises(NotReadyError, match="run notebook 04_verification_roc first") as err:
        require_input(tmp_path / "scores.json", "notebook 04_verification_roc")
    assert err.value._render_traceback_() == [f"NotReadyError: {err.value}"]  # what IPython shows
    assert require_input(tmp_path, "x") == tmp_path


@pytest.mark.slow
def test_notebook_07_alone_stops_at_once_naming_notebook_04(lfw_root, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("IDINPAINT_RESULTS", str(tmp_path / "results"))  # no saved scores here
    code = run_notebooks(profile="smoke", only=["07"], output_dir=tmp_path / "run")
    out, err = capfd.readouterr()
    assert code == 1
    executed = tmp_path / "run" / "07_paper_figures.ipynb"
    line = next(line for line in err.splitlines() if line.startswith("07_paper_figures.ipynb: "))
    assert "NotReadyError: " in line and "lfw_occluded_smoke.json" in line, line
    assert "run notebook 04_verification_roc with profile smoke first" in line and str(executed) in line
    assert "FAILED: NotReadyError:" in out and "-----" not in out
    cells = json.loads(executed.read_text())["cells"]
    errors = [(i, o) for i, c in enumerate(cells) for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert len(errors) == 1 and len(errors[0][1]["traceback"]) == 1, "one line, no traceback"
    first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code" and "parameters" not in
                      c["metadata"].get("tags", []) and "injected-parameters" not in c["metadata"].get("tags", []))
    assert errors[0][0] == first_code, "it stops at its first cell"


@pytest.mark.slow
def test_notebook_01_alone_makes_the_smoke_crops_it_needs(lfw_root, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("IDINPAINT_RESULTS", str(tmp_path / "results"))
    aligned = tmp_path / "aligned"  # empty: as on a fresh clone before notebook 00
    code = run_notebooks(profile="smoke", only=["01"], output_dir=tmp_path / "run",
                         parameters={"aligned_dir": str(aligned)})
    out, err = capfd.readouterr()
    assert code == 0, out + err
    assert (aligned / "landmarks.csv").is_file() and (aligned / "preprocess.json").is_file()
    text = json.dumps(json.loads((tmp_path / "run" / "01_occlusions.ipynb").read_text())["cells"])
    assert "the smoke profile needs that are not there yet" in text


def test_live_widgets_only_under_a_jupyter_server(monkeypatch):
    import sys

    from idinpaint.progress import has_live_frontend

    monkeypatch.setitem(sys.modules, "ipykernel", sys.modules.get("ipykernel") or object())
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert not has_live_frontend(), "papermill / nbclient kernels: the static fallback"
    monkeypatch.setenv("JPY_SESSION_NAME", "notebooks/09_try_it.ipynb")
    assert has_live_frontend()


@pytest.mark.slow
def test_notebook_09_alone_runs_and_its_executed_copy_shows_the_fallback(lfw_root, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("IDINPAINT_RESULTS", str(tmp_path / "results"))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    code = run_notebooks(profile="smoke", only=["09"], output_dir=tmp_path / "run")
    out, err = capfd.readouterr()
    assert code == 0, out + err
    text = json.dumps(json.loads((tmp_path / "run" / "09_try_it.ipynb").read_text())["cells"])
    assert "VBox(children" not in text and "No widgets here" in text
    assert "shipped in recognizer_thresholds.json" in text, "the shipped thresholds, not a subset's"
