import argparse
import re
import subprocess
import sys

import pytest

from idinpaint.cli import build_parser, main


def _subcommand_paths(parser, prefix=()):
    """Every (sub)command path of the CLI, so a new one cannot slip in without working --help."""
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


@pytest.mark.slow
def test_evaluate_without_aligned_data_says_what_to_do(tmp_path, capsys):
    assert main(["evaluate", "lfw", "--aligned", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "no aligned LFW here" in err and "idinpaint preprocess" in err


@pytest.mark.slow
def test_preprocess_cli_on_a_tiny_folder(lfw_root, tmp_path, capsys):
    source = tmp_path / "raw" / "Abel_Pacheco"
    source.mkdir(parents=True)
    (source / "Abel_Pacheco_0001.jpg").write_bytes((lfw_root / "raw/Abel_Pacheco/Abel_Pacheco_0001.jpg").read_bytes())
    (source / "broken.jpg").write_bytes(b"not a jpeg")
    code = main(["preprocess", "--raw", str(tmp_path / "raw"), "--aligned", str(tmp_path / "out"),
                 "--has-subdirs", "--workers", "1"])
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


# --- one name per concept; old spellings hidden but still parsed ------------------------------------

def _leaf_parsers(parser=None, prefix=()):
    """(path, parser) of every runnable subcommand."""
    parser = parser or build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs and prefix:
        yield prefix, parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from _leaf_parsers(sub, prefix + (name,))


def _options(parser):
    """Canonical option string -> action, for the options --help shows."""
    return {a.option_strings[0]: a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS}


SHARED = {  # option -> the subcommands that must have it, all with the same meaning
    "--aligned": {"preprocess", "prepare", "evaluate lfw", "evaluate occluded", "evaluate retention", "evaluate tsne",
                  "evaluate reference", "recover", "detector train", "detector evaluate", "detector protocol", "detector real"},
    "--recognizers": {"evaluate lfw", "evaluate occluded", "evaluate retention", "evaluate tsne", "evaluate curves",
                      "evaluate reference", "recover"},
    "--output": {"prepare", "evaluate lfw", "evaluate occluded", "evaluate retention", "evaluate tsne",
                 "evaluate reference", "train",
                 "notebooks run", "recover", "detector train", "detector evaluate", "detector protocol",
                 "detector real"},
    "--output-file": {"evaluate report", "export", "inpaint"},
    "--specs": {"prepare", "evaluate occluded", "evaluate tsne", "detector protocol"},
}


def test_shared_options_have_one_name_and_meaning():
    seen = {option: set() for option in SHARED}
    for path, parser in _leaf_parsers():
        options = _options(parser)
        for option, action in options.items():
            assert "_" not in option, f"{' '.join(path)}: {option} is spelt with an underscore"
            assert option not in ("--root", "--input", "--recognizer", "--output-dir", "--mode", "--filler", "--spec")
            if option in SHARED:
                seen[option].add(" ".join(path))
        if "--aligned" in options:
            assert options["--aligned"].metavar == "DIR" and options["--aligned"].dest == "aligned"
        if "--output" in options:  # --output is always a folder
            assert options["--output"].metavar == "DIR" and options["--output"].dest == "output"
        if "--output-file" in options:
            assert options["--output-file"].metavar == "FILE" and "--output" not in options
        if "--recognizers" in options:
            assert options["--recognizers"].nargs == "+" and options["--recognizers"].dest == "recognizers"
    assert seen == SHARED


@pytest.mark.parametrize("argv, expected", [
    (["preprocess", "--raw", "r", "--aligned", "a"], {"aligned": "a"}),
    (["prepare", "--aligned", "a", "--output", "o", "--specs", "region:nose"], {"aligned": "a", "output": "o"}),
    (["evaluate", "lfw", "--aligned", "a", "--recognizers", "sface", "dlib", "--output", "o"],
     {"aligned": "a", "recognizers": ["sface", "dlib"], "output": "o"}),
    (["evaluate", "occluded", "--aligned", "a", "--recognizers", "sface", "dlib", "--output", "o"],
     {"aligned": "a", "recognizers": ["sface", "dlib"], "output": "o"}),
    (["evaluate", "retention", "--aligned", "a", "--recognizers", "sface", "--output", "o"],
     {"aligned": "a", "recognizers": ["sface"], "output": "o"}),
    (["evaluate", "tsne", "--aligned", "a", "--recognizers", "dlib", "--output", "o"],
     {"aligned": "a", "recognizers": ["dlib"], "output": "o"}),
    (["train", "--output", "o"], {"output": "o"}),
    (["notebooks", "run", "--output", "o"], {"output": "o"}),
], ids=lambda value: " ".join(value[:2]) if isinstance(value, list) else "")
def test_shared_options_parse_to_the_same_names(argv, expected):
    args = vars(build_parser().parse_args(argv))
    assert {key: args[key] for key in expected} == expected


# (old argv, the same with the canonical names)
OLD_SPELLINGS = [
    (["preprocess", "--root", "r", "--output_dir", "a", "--has_subdirs"],
     ["preprocess", "--raw", "r", "--aligned", "a", "--has-subdirs"]),
    (["preprocess", "--root", "r", "--output-dir", "a"], ["preprocess", "--raw", "r", "--aligned", "a"]),
    (["prepare", "--input", "a", "--output", "o", "--mode", "region:nose", "--filler", "telea"],
     ["prepare", "--aligned", "a", "--output", "o", "--specs", "region:nose", "--fillers", "telea"]),
    (["evaluate", "lfw", "--recognizer", "dlib"], ["evaluate", "lfw", "--recognizers", "dlib"]),
    (["evaluate", "tsne", "--recognizer", "dlib", "--root", "a", "--spec", "region:nose@gray"],
     ["evaluate", "tsne", "--recognizers", "dlib", "--aligned", "a", "--specs", "region:nose@gray"]),
    (["evaluate", "report", "run", "--output", "r.md"], ["evaluate", "report", "run", "--output-file", "r.md"]),
    (["export", "--checkpoint", "c", "--output", "x.pt"], ["export", "--checkpoint", "c", "--output-file", "x.pt"]),
    (["inpaint", "--checkpoint", "c", "--image", "i", "--mask", "m", "--output", "o.png"],
     ["inpaint", "--checkpoint", "c", "--image", "i", "--mask", "m", "--output-file", "o.png"]),
    (["notebooks", "run", "--output-dir", "o"], ["notebooks", "run", "--output", "o"]),
]


def _subcommand_help(path, capsys) -> str:
    with pytest.raises(SystemExit):
        main([*path, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("old, new", OLD_SPELLINGS, ids=[" ".join(old) for old, _ in OLD_SPELLINGS])
def test_old_spellings_parse_the_same_but_are_hidden(old, new, capsys):
    parser = build_parser()
    assert parser.parse_args(old) == parser.parse_args(new)
    path = [word for word in new if not word.startswith("-")][:2 if new[0] in ("evaluate", "notebooks") else 1]
    text = _subcommand_help(path, capsys)
    for option in set(old) - set(new):
        if option.startswith("--"):
            assert not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), f"{option} shown in --help"


def test_prepare_mode_and_fill_give_the_spec_of_specs():
    from idinpaint.prepare import make_spec

    old = build_parser().parse_args(["prepare", "--input", "a", "--output", "o", "--mode", "region:nose",
                                     "--fill", "gray"])
    new = build_parser().parse_args(["prepare", "--aligned", "a", "--output", "o", "--specs", "region:nose@gray"])
    assert make_spec(old.specs[0], old.fill) == make_spec(new.specs[0], new.fill)
    assert str(make_spec(new.specs[0], new.fill)) == "region:nose@gray"


def test_an_error_names_the_option_canonically(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["preprocess", "--output_dir", "a"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "--raw" in err and "--root" not in err and len(err.splitlines()) == 1


def test_choices_come_from_the_registries():
    from idinpaint.blending import BLENDS
    from idinpaint.occlusion import FILLS, REGION_NAMES
    from idinpaint.recognizers import RECOGNIZERS

    parsers = dict(_leaf_parsers())
    occluded = _options(parsers[("evaluate", "occluded")])
    assert tuple(occluded["--recognizers"].choices) == tuple(RECOGNIZERS)
    assert tuple(occluded["--regions"].choices) == (*REGION_NAMES, "all")
    assert tuple(occluded["--fills"].choices) == tuple(FILLS)
    assert "ca_id" in occluded["--fillers"].choices and "nothing" not in occluded["--fillers"].choices
    assert tuple(_options(parsers[("inpaint",)])["--blend"].choices) == tuple(BLENDS)


def test_building_the_parser_imports_no_heavy_library():
    code = ("import sys; from idinpaint.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('numpy', 'cv2', 'torch') if m in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0 and completed.stdout.strip() == "[]", completed.stderr
