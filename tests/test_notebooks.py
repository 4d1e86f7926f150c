"""The whole workbook in its smoke profile, executed by the papermill runner (what `make run` does)."""
import json

import pytest

from idinpaint.notebooks import list_notebooks, run_notebooks


def _code_cells(notebook):
    return [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("notebook", list_notebooks(), ids=lambda p: p.name)
def test_notebooks_are_thin_teaching_and_stripped(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    assert cells[0]["cell_type"] == "markdown", "opens with what it shows and why"
    assert cells[-1]["cell_type"] == "markdown", "ends with how to read its figure"
    code = _code_cells(notebook)
    assert "parameters" in code[0]["metadata"].get("tags", []), "first code cell is the papermill parameters cell"
    assert "profile" in "".join(code[0]["source"])
    for cell in code:
        assert not cell.get("outputs") and cell.get("execution_count") is None, "outputs are stripped in git"
        source = "".join(cell["source"])
        assert source.count("\n") < 25, "notebook cells stay short: logic belongs in idinpaint"
        assert "def " not in source and "class " not in source, "no logic the tests cannot reach"


def test_smoke_workbook_runs(tmp_path, capsys):
    code = run_notebooks(profile="smoke", output_dir=tmp_path)
    report = capsys.readouterr().out
    assert code == 0, report
    for notebook in list_notebooks():
        executed = json.loads((tmp_path / notebook.name).read_text())
        errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors
    assert "total" in report
