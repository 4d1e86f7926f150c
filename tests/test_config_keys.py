"""No silent typos: every key of a training recipe, a detector recipe, a run profile and of ``--set``
is checked against the known configuration before any work, with the closest known key suggested."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from idinpaint.cli import main
from idinpaint.config import PROFILES_FILE, check_keys, load_profile

REPO = Path(__file__).resolve().parents[1]
TRAIN_YAML = REPO / "config" / "train.yaml"


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_shipped_recipe_and_run_profile_passes_the_check():
    from idinpaint.training.stages import load_training_config

    raw = yaml.safe_load(TRAIN_YAML.read_text())
    for name in raw["recipes"]:  # the O-Detector's recipes (detector_*) are training recipes too
        load_training_config(TRAIN_YAML, name)
    for name in yaml.safe_load(PROFILES_FILE.read_text()):
        load_profile(name)


def test_a_typo_in_set_stops_training_before_any_work_and_names_the_closest_key(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = _run(["train", "--recipe", "smoke", "--output", out, "--set", "data.batchsize=4"], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "unknown key 'data.batchsize'" in err and "did you mean data.batch_size?" in err
    assert not (out / "config.json").exists(), "the typo is not saved"
    code, _, err = _run(["train", "--recipe", "smoke", "--output", out, "--set", "trainer.max_epochz=1"], capsys)
    assert code == 2 and "unknown key 'trainer.max_epochz'" in err and "known under trainer:" in err
    assert not out.exists() or not any(out.rglob("*.json"))


def test_a_typo_in_a_training_recipe_of_the_yaml_is_named_with_its_file(tmp_path):
    from idinpaint.training.stages import load_training_config

    raw = yaml.safe_load(TRAIN_YAML.read_text())
    raw["recipes"]["typo"] = {"extends": "smoke", "trainer": {"log_every_n_step": 5}}
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=r"recipe typo: unknown key 'trainer.log_every_n_step'; did you mean "
                                         r"trainer.log_every_n_steps\?") as err:
        load_training_config(path, "typo")
    assert str(path) in str(err.value)
    # a stage's own data block is checked too
    raw["recipes"]["typo"] = {"extends": "smoke", "stages": [{"name": "ca", "model": "ca", "steps": 1,
                                                               "data": {"vall_images": 3}}]}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="did you mean data.val_images"):
        load_training_config(path, "typo")


def test_a_typo_in_the_detector_config_is_named(tmp_path, capsys):
    from idinpaint.config import load_training_config

    with pytest.raises(ValueError, match=r"--set: unknown key 'detector.facez'; did you mean detector.faces\?"):
        load_training_config(TRAIN_YAML, "detector_smoke", {"detector": {"facez": 3}})
    code, _, err = _run(["detector", "train", "--recipe", "smoke", "--output", tmp_path / "d",
                         "--set", "detector.facez=3"], capsys)
    assert code == 2 and err.count("\n") == 1 and "did you mean detector.faces?" in err, err
    raw = yaml.safe_load(TRAIN_YAML.read_text())
    raw["recipes"]["detector_smoke"]["detector"]["mask"] = {"treshold": 0.4}
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=r"recipe detector_smoke: unknown key 'detector.mask.treshold'; "
                                         r"did you mean detector.mask.threshold"):
        load_training_config(path, "detector_smoke")


def test_a_typo_in_a_run_profile_is_named(tmp_path):
    path = tmp_path / "profiles.yaml"
    shutil.copy(PROFILES_FILE, path)
    raw = yaml.safe_load(path.read_text())
    raw["smoke"]["pairs_per_folds"] = 2
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=r"profile smoke: unknown key 'pairs_per_folds'; did you mean pairs_per_fold"):
        load_profile("smoke", path)


def test_open_sections_and_code_defaults_are_allowed_and_nothing_else():
    known = {"a": {"b": 1}, "names": {}}
    check_keys({"a": {"b": 2, "c": 3}, "names": {"anything": 1}}, known, "x", extra=("a.c",), open_paths=("names",))
    with pytest.raises(ValueError, match="unknown key 'a.d'"):
        check_keys({"a": {"d": 1}}, known, "x", extra=("a.c",))


def test_a_data_folder_of_a_config_follows_idinpaint_data(tmp_path, monkeypatch):
    """``data/...`` in a config is generated data: under ``IDINPAINT_DATA`` when that is set (what
    data/README.md promises; the tests put the smoke crops in a temporary folder this way), under the
    repository otherwise; other relative paths stay relative to the repository."""
    from idinpaint.paths import REPO_ROOT, aligned_folder
    from idinpaint.training.stages import _resolve_path

    monkeypatch.delenv("IDINPAINT_DATA", raising=False)
    assert load_profile("smoke")["aligned_dir"] == str(REPO_ROOT / "data" / "smoke" / "lfw-112")
    monkeypatch.setenv("IDINPAINT_DATA", str(tmp_path))
    assert load_profile("smoke")["aligned_dir"] == str(tmp_path / "smoke" / "lfw-112")
    assert _resolve_path("data/lfw-112") == aligned_folder("data/lfw-112") == tmp_path / "lfw-112"
    assert aligned_folder("checkpoints/x.pt") == REPO_ROOT / "checkpoints" / "x.pt"
    assert aligned_folder(tmp_path / "elsewhere") == tmp_path / "elsewhere"
    assert aligned_folder("database/x") == REPO_ROOT / "database" / "x"  # only the folder data/ itself


def test_the_older_profile_words_still_work_and_say_so_in_one_line(tmp_path, capsys):
    from idinpaint.config import load_profile, load_training_config

    raw = yaml.safe_load(TRAIN_YAML.read_text())
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({"defaults": raw["defaults"], "profiles": raw["recipes"]}))
    assert load_training_config(path, "smoke")["recipe"] == "smoke"
    assert capsys.readouterr().err.count("'profiles:' is now 'recipes:'") == 1
    code, _, err = _run(["train", "--profile", "smoke", "--output", tmp_path / "run", "--set", "data.batchsize=4"],
                        capsys)
    assert code == 2 and err.startswith("note: --profile is now --recipe") and err.count("\n") == 2, err
    assert [load_profile(name)["recipe"] for name in ("smoke", "cpu", "paper")] == ["smoke", "cpu", "paper"]
