"""The run folder has one owner (idinpaint.runs): what training writes is what the fillers, the
cards and the detector commands read back, and a wrong folder is a one-line error."""
from __future__ import annotations

import pytest

from idinpaint import runs


def _finished_run(folder, stages):
    runs.start_run(folder, {"ca": {"width": 4}, "detector": {"network": {"widths": [4, 8, 8]}}})
    records = []
    for name, model in stages:
        stage = runs.stage_dir(folder, name)
        stage.mkdir(parents=True, exist_ok=True)
        (stage / runs.export_name(model)).write_bytes(b"weights")
        record = {"stage": name, "model": model, "status": "done"}
        runs.write_stage(stage, record)
        records.append(record)
    runs.write_run(folder, {"profile": "smoke", "half": "A", "stages": records + [
        {"stage": "unfinished", "model": "fusor", "status": "failed"}]})


def test_what_training_writes_is_what_readers_find(tmp_path):
    _finished_run(tmp_path, [("ca", "ca"), ("fusor_id5", "fusor"), ("detector", "detector")])
    done = runs.finished_stages(tmp_path)
    assert [s["stage"] for s in done] == ["ca", "fusor_id5", "detector"]
    assert [runs.stage_file(tmp_path, s).name for s in done] == ["inpainter.pt", "inpainter.pt", "odetector.pt"]
    assert runs.read_stage(tmp_path / "ca")["status"] == "done" and runs.read_stage(tmp_path / "nowhere") == {}
    loaded = runs.read_run_files(tmp_path)
    assert set(loaded) == {"run", "provenance", "config"} and loaded["config"]["ca"] == {"width": 4}
    assert runs.read_config(tmp_path)["detector"]["network"]["widths"] == [4, 8, 8]


def test_a_folder_that_is_no_run_is_a_one_line_error(tmp_path):
    for read in (runs.read_run, runs.read_run_files, runs.read_config):
        with pytest.raises(runs.RunFolderError) as err:
            read(tmp_path)
        assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


def test_a_run_folder_refuses_other_networks_but_not_newer_sections(tmp_path):
    runs.start_run(tmp_path, {"ca": {"width": 4}})
    runs.start_run(tmp_path, {"ca": {"width": 4}, "detector": {"network": {}}})  # a newer default section
    with pytest.raises(ValueError, match=r"model settings differ \(ca\)"):
        runs.start_run(tmp_path, {"ca": {"width": 8}, "detector": {"network": {}}})
