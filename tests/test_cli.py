import subprocess
import sys

import pytest

from idinpaint.cli import build_parser, main


def _subcommand_paths(parser, prefix=()):
    """Every (sub)command path of the CLI, so a new one cannot slip in without working --help."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from _subcommand_paths(sub, prefix + (name,))


def test_every_subcommand_has_help(capsys):
    paths = list(_subcommand_paths(build_parser()))
    assert ("preprocess",) in paths and ("evaluate", "lfw") in paths and ("notebooks", "run") in paths
    for path in paths:
        with pytest.raises(SystemExit) as exited:
            main([*path, "--help"])
        assert exited.value.code == 0
        assert "usage: idinpaint" in capsys.readouterr().out


def test_console_script_runs():
    completed = subprocess.run([sys.executable, "-m", "idinpaint", "--help"], capture_output=True, text=True)
    assert completed.returncode == 0 and "preprocess" in completed.stdout


def test_evaluate_without_aligned_data_says_what_to_do(tmp_path, capsys):
    assert main(["evaluate", "lfw", "--aligned", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "no aligned LFW here" in err and "idinpaint preprocess" in err


def test_preprocess_cli_on_a_tiny_folder(lfw_root, tmp_path, capsys):
    source = tmp_path / "raw" / "Abel_Pacheco"
    source.mkdir(parents=True)
    (source / "Abel_Pacheco_0001.jpg").write_bytes((lfw_root / "raw/Abel_Pacheco/Abel_Pacheco_0001.jpg").read_bytes())
    (source / "broken.jpg").write_bytes(b"not a jpeg")
    code = main(["preprocess", "--root", str(tmp_path / "raw"), "--output_dir", str(tmp_path / "out"),
                 "--has_subdirs", "--workers", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "1 aligned" in out and "1 failed" in out
    assert "broken.jpg: not an image file" in out
    assert (tmp_path / "out/Abel_Pacheco/Abel_Pacheco_0001.png").is_file()


def test_evaluate_retention_rejects_malformed_models_and_comparisons(tmp_path, capsys):
    (tmp_path / "landmarks.csv").write_text("")
    assert main(["evaluate", "retention", "--aligned", str(tmp_path), "--models", "checkpoints"]) == 2
    assert "LABEL=FOLDER" in capsys.readouterr().err
    assert main(["evaluate", "retention", "--aligned", str(tmp_path), "--compare", "ca_id"]) == 2
    assert "METHOD,BASELINE" in capsys.readouterr().err
