"""One resolution of a named aligned folder, wherever it is named (commands, notebooks, training
configs, run folders)."""
from __future__ import annotations

from pathlib import Path

from idinpaint.config import load_profile
from idinpaint.data.lfw import default_aligned_root
from idinpaint.evaluation.curves import run_settings
from idinpaint.paths import REPO_ROOT, aligned_folder
from idinpaint.runinfo import write_json


def test_an_aligned_folder_resolves_one_way(tmp_path, monkeypatch):
    monkeypatch.delenv("IDINPAINT_DATA", raising=False)
    assert aligned_folder() == default_aligned_root() == REPO_ROOT / "data" / "lfw-112"
    assert aligned_folder("data/smoke/lfw-112") == REPO_ROOT / "data" / "smoke" / "lfw-112"
    assert aligned_folder("elsewhere/crops") == REPO_ROOT / "elsewhere" / "crops"
    assert aligned_folder(tmp_path / "crops") == tmp_path / "crops"
    monkeypatch.setenv("IDINPAINT_DATA", str(tmp_path / "moved"))
    assert aligned_folder() == default_aligned_root() == tmp_path / "moved" / "lfw-112"
    assert aligned_folder("data/smoke/lfw-112") == tmp_path / "moved" / "smoke" / "lfw-112"
    assert Path(load_profile("smoke")["aligned_dir"]) == tmp_path / "moved" / "smoke" / "lfw-112"
    write_json(tmp_path / "run" / "config.json", {"data": {"half": "b"}})   # a run folder names no root
    assert run_settings(tmp_path / "run")["root"] == tmp_path / "moved" / "lfw-112"
    write_json(tmp_path / "run" / "config.json", {"data": {"root": "data/smoke/lfw-112"}})
    assert run_settings(tmp_path / "run")["root"] == tmp_path / "moved" / "smoke" / "lfw-112"
