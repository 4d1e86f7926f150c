"""The workbook's notebooks: thin and stripped in git, parameters cells papermill parses cleanly, and the
smoke profile executed by the papermill runner (what `make run` does), by plain papermill and by nbval —
quiet, and without touching the tracked figures/."""
import json
import logging
import os
import re
import subprocess
import sys
import warnings

import pytest

from idinpaint.notebooks import list_notebooks, notebook_parameters, run_notebooks
from idinpaint.occlusion import REGION_NAMES
from idinpaint.paths import PUBLISHED_FIGURES, REPO_ROOT

# Variables that would tell a kernel where figures go or that it runs quietly: a "plain" run has none.
RUNNER_VARIABLES = ("IDINPAINT_FIGURES", "IDINPAINT_PUBLISH", "IDINPAINT_QUIET", "PAPERMILL_EXECUTION", "CI")


def _code_cells(notebook):
    return [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]


def _parameters_source(notebook) -> str:
    return "".join(_code_cells(notebook)[0]["source"])


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


@pytest.mark.parametrize("notebook", list_notebooks(), ids=lambda p: p.name)
def test_notebooks_are_valid_nbformat_with_cell_ids(notebook):
    import nbformat

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # MissingIDFieldWarning and friends: future hard errors
        nb = nbformat.read(notebook, as_version=4)
        nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) >= (4, 5)
    ids = [cell.get("id") for cell in nb.cells]
    assert all(ids) and len(set(ids)) == len(ids), "every cell has its own id"


@pytest.mark.parametrize("notebook", list_notebooks(), ids=lambda p: p.name)
def test_parameters_cell_parses_cleanly_in_papermill(notebook, caplog):
    from papermill.translators import PythonTranslator

    source = _parameters_source(notebook)
    with caplog.at_level(logging.WARNING, logger="papermill"):
        parsed = PythonTranslator.inspect({"source": source})
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    assigned = [line.split("=")[0].strip() for line in source.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert [p.name for p in parsed] == assigned, "every line of the parameters cell is one parameter"
    for line in source.splitlines():
        comment = line.partition("#")[2]
        assert "'" not in comment and "=" not in comment, f"papermill misreads this comment: {line!r}"


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_profile_notebook_parameters_name_declared_parameters(profile):
    from papermill.translators import PythonTranslator

    from idinpaint.config import load_profile

    by_notebook = {nb.stem: nb for nb in list_notebooks()}
    for key, values in (load_profile(profile).get("notebook_parameters") or {}).items():
        matches = [nb for stem, nb in by_notebook.items() if key in (stem, stem[:2])]
        assert len(matches) == 1, f"{profile}: notebook_parameters names no notebook {key!r}"
        declared = {p.name for p in PythonTranslator.inspect({"source": _parameters_source(matches[0])})}
        assert set(values) <= declared, f"{key}: {sorted(set(values) - declared)} are not parameters"
        passed = notebook_parameters(profile, matches[0], {"lfw_root": "/x"})
        assert passed == {"profile": profile, **values, "lfw_root": "/x"}


@pytest.mark.parametrize("notebook", list_notebooks(), ids=lambda p: p.name)
def test_region_choices_are_parameters(notebook):
    for cell in _code_cells(notebook)[1:]:
        source = "".join(cell["source"])
        for region in REGION_NAMES:
            assert f'"{region}"' not in source and f"'{region}'" not in source, (
                f"{notebook.name}: region {region!r} is chosen outside the parameters cell")


# --- executed notebooks ----------------------------------------------------------------------------

_TQDM_BAR = re.compile(r"\d+%\|")


def _noise(executed: dict) -> list[str]:
    """What makes an executed notebook noisy: warnings or tips on stderr, progress-bar redraws, a
    line repeated in one cell's stderr (one progress line per loop at most)."""
    problems = []
    for index, cell in enumerate(executed["cells"]):
        if cell["cell_type"] != "code":
            continue
        stderr = "".join("".join(o.get("text", "")) for o in cell.get("outputs", [])
                         if o.get("output_type") == "stream" and o.get("name") == "stderr")
        where = f"cell {index}"
        if re.search(r"warn", stderr, re.IGNORECASE):
            problems.append(f"{where}: warning text on stderr: {stderr[:300]!r}")
        if "Tip:" in stderr:
            problems.append(f"{where}: library tip on stderr")
        if "\r" in stderr or _TQDM_BAR.search(stderr):
            problems.append(f"{where}: progress bar redraws: {stderr[:200]!r}")
        lines = [line for line in stderr.splitlines() if line.strip()]
        repeated = {line for line in lines if lines.count(line) > 1}
        if repeated:
            problems.append(f"{where}: repeated stderr lines {sorted(repeated)[:3]}")
    return problems


def _tracked_figures_status() -> str:
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout: cannot check that figures/ is untouched")
    return subprocess.run(["git", "status", "--porcelain", "--", str(PUBLISHED_FIGURES)], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=True).stdout


# What a smoke run writes when IDINPAINT_DATA / IDINPAINT_RESULTS are not honoured (the crops, a cache, a
# training run, the scores, figures): their modification times must not change under the tests.
REPOSITORY_OUTPUTS = ("data/smoke/lfw-112/landmarks.csv", "data/smoke/lfw-112/preprocess.json", "data/cache",
                      "results/train/smoke_halfA/run.json", "results/lfw_occluded/lfw_occluded_smoke.json",
                      "results/figures", "results/detector/smoke", "results/recover/smoke")


def _repository_outputs() -> dict[str, int | None]:
    stamps = {}
    for relative in REPOSITORY_OUTPUTS:
        path = REPO_ROOT / relative
        stamps[relative] = path.stat().st_mtime_ns if path.exists() else None
    return stamps


@pytest.fixture
def plain_env(monkeypatch, tmp_path, smoke_data):
    """The environment of someone running a notebook by hand: no runner variables; results (and so
    unpublished figures) in a scratch folder, generated data (the smoke crops, made once per session
    by tests/conftest.py, and the caches) in the session's data folder: never the repository's
    data/ or results/."""
    for name in RUNNER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("IDINPAINT_CACHE", raising=False)  # data/cache of that data folder
    monkeypatch.setenv("IDINPAINT_DATA", str(smoke_data))
    monkeypatch.setenv("IDINPAINT_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"


@pytest.mark.slow
def test_smoke_workbook_runs(lfw_root, smoke_data, tmp_path, capfd, monkeypatch):
    """The whole workbook as `make run` runs it, on the session's smoke crops (IDINPAINT_DATA) with
    its training runs, scores and figures in a temporary results folder (IDINPAINT_RESULTS)."""
    monkeypatch.delenv("IDINPAINT_CACHE", raising=False)
    monkeypatch.setenv("IDINPAINT_DATA", str(smoke_data))
    monkeypatch.setenv("IDINPAINT_RESULTS", str(tmp_path / "results"))
    before, written = _tracked_figures_status(), _repository_outputs()
    code = run_notebooks(profile="smoke", output_dir=tmp_path)
    report, errors = capfd.readouterr()
    assert code == 0, report
    # papermill, nbformat and the kernels say nothing either (parse warnings, missing cell ids, TCP notices)
    assert not re.search(r"warn", report + errors, re.IGNORECASE), errors[-2000:]
    noisy = {}
    for notebook in list_notebooks():
        executed = json.loads((tmp_path / notebook.name).read_text())
        errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, notebook.name
        if _noise(executed):
            noisy[notebook.name] = _noise(executed)
    assert not noisy, noisy
    assert "total" in report
    assert list((tmp_path / "figures").glob("*.png")), "figures of the run go to its own folder"
    assert _tracked_figures_status() == before, "a smoke run never writes the tracked figures/"
    results = tmp_path / "results"
    assert (results / "train" / "smoke_halfA" / "run.json").is_file(), "notebook 02 trained into IDINPAINT_RESULTS"
    assert (results / "lfw_occluded" / "lfw_occluded_smoke.json").is_file(), "notebook 04 scored into it"
    assert _repository_outputs() == written, "the workbook wrote into the repository's data/ or results/"


@pytest.mark.slow
def test_plain_papermill_run_leaves_the_tracked_figures_alone(plain_env, tmp_path):
    import papermill

    notebook = next(nb for nb in list_notebooks() if nb.name.startswith("01_"))
    before, written = _tracked_figures_status(), _repository_outputs()
    papermill.execute_notebook(str(notebook), str(tmp_path / notebook.name), kernel_name="python3",
                               cwd=str(REPO_ROOT), progress_bar=False)
    assert _tracked_figures_status() == before
    assert _repository_outputs() == written, "the notebook wrote into the repository's data/ or results/"
    assert sorted(p.name for p in (plain_env / "figures").glob("*.png")) == ["filler_comparison.png",
                                                                             "occlusion_gallery.png"]
    assert not _noise(json.loads((tmp_path / notebook.name).read_text()))


@pytest.mark.slow
def test_nbval_lax_runs_a_notebook_as_a_plain_pytest_user_would(plain_env):
    import nbval  # noqa: F401  (a dev dependency `make setup` installs: missing is an error, not a skip)

    before, written = _tracked_figures_status(), _repository_outputs()
    env = {k: v for k, v in os.environ.items() if k not in RUNNER_VARIABLES}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                           "notebooks/01_occlusions.ipynb"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert _tracked_figures_status() == before
    assert _repository_outputs() == written, "the notebook wrote into the repository's data/ or results/"
