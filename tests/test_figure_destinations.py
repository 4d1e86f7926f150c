"""Figures land in the git-ignored results folder unless publishing is asked for explicitly."""
import os
import re
import subprocess

import pytest

from idinpaint import notebooks
from idinpaint.paths import PUBLISHED_FIGURES, REPO_ROOT, figures_dir, results_dir


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("IDINPAINT_FIGURES", "IDINPAINT_PUBLISH", "IDINPAINT_RESULTS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_figures_default_to_the_ignored_results_folder(clean_env):
    assert figures_dir() == results_dir() / "figures" == REPO_ROOT / "results" / "figures"
    assert figures_dir(publish=False) == results_dir() / "figures"


def test_publishing_is_explicit(clean_env):
    assert figures_dir(publish=True) == PUBLISHED_FIGURES == REPO_ROOT / "figures"
    clean_env.setenv("IDINPAINT_PUBLISH", "1")
    assert figures_dir() == PUBLISHED_FIGURES
    clean_env.setenv("IDINPAINT_PUBLISH", "0")
    assert figures_dir() == results_dir() / "figures"


def test_an_explicit_folder_wins(clean_env, tmp_path):
    clean_env.setenv("IDINPAINT_FIGURES", str(tmp_path))
    clean_env.setenv("IDINPAINT_PUBLISH", "1")
    assert figures_dir() == tmp_path
    clean_env.setenv("IDINPAINT_RESULTS", str(tmp_path / "r"))
    clean_env.delenv("IDINPAINT_FIGURES")
    clean_env.delenv("IDINPAINT_PUBLISH")
    assert figures_dir() == tmp_path / "r" / "figures"


def test_results_figures_are_git_ignored_and_the_readme_links_the_published_folder():
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", "results/figures/x.png"], cwd=REPO_ROOT)
    assert ignored.returncode == 0, "results/ must stay git-ignored"
    links = re.findall(r"\]\((?:\.\./)?(figures/[^)]+)\)", (REPO_ROOT / "docs" / "results.md").read_text())
    links += re.findall(r"\]\((figures/[^)]+)\)", (REPO_ROOT / "README.md").read_text())
    assert links, "the docs show published figures"
    for link in links:
        assert (REPO_ROOT / link).is_file() and (REPO_ROOT / link).parent == PUBLISHED_FIGURES


def _record_kernel_env(monkeypatch):
    seen = {}

    def fake_execute(notebook_list, output_dir, profile, parameters):
        seen.update({k: os.environ.get(k) for k in ("IDINPAINT_FIGURES", "IDINPAINT_PUBLISH")})
        return [("00_x.ipynb", 0.1, "ok")]

    monkeypatch.setattr(notebooks, "_execute_all", fake_execute)
    return seen


def test_runner_keeps_figures_in_the_run_folder_for_every_profile(clean_env, tmp_path, capsys):
    seen = _record_kernel_env(clean_env)
    clean_env.setenv("IDINPAINT_PUBLISH", "1")  # a caller's shell cannot make a plain run publish
    assert notebooks.run_notebooks(profile="cpu", output_dir=tmp_path) == 0
    assert seen == {"IDINPAINT_FIGURES": str(tmp_path.resolve() / "figures"), "IDINPAINT_PUBLISH": "0"}
    assert os.environ["IDINPAINT_PUBLISH"] == "1" and "IDINPAINT_FIGURES" not in os.environ, "restored"
    assert (tmp_path / "timings.json").is_file()


def test_runner_publish_mode_writes_the_tracked_figures(clean_env, tmp_path, capsys):
    seen = _record_kernel_env(clean_env)
    assert notebooks.run_notebooks(profile="cpu", output_dir=tmp_path, publish=True) == 0
    assert seen == {"IDINPAINT_FIGURES": None, "IDINPAINT_PUBLISH": "1"}
    assert "IDINPAINT_PUBLISH" not in os.environ


def test_smoke_figures_are_never_published(clean_env, tmp_path):
    with pytest.raises(ValueError, match="smoke"):
        notebooks.run_notebooks(profile="smoke", output_dir=tmp_path, publish=True)
