"""Bad input to every subcommand ends in one line, ``error: <file or option>: <reason>``, exit status 2,
no traceback and no partial output; odd but usable input (all-zero mask, gray, RGBA, 16-bit) is
handled and said so. Everything runs in-process through ``idinpaint.cli.main`` and fails before any
recognizer loads or any training starts; the few real fills use one 112x112 crop."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from idinpaint.cli import CLIError, main

CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "idinpainter_cpu_halfA.pt"


def _png(path: Path, array: np.ndarray, mode: str | None = None) -> None:
    Image.fromarray(array, mode).save(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Every awkward input, made up: noise images, broken files, bad masks and checkpoints, fake LFW."""
    c = tmp_path_factory.mktemp("bad_input")
    rng = np.random.default_rng(0)
    _png(c / "noise112.png", rng.integers(0, 256, (112, 112, 3), dtype=np.uint8))
    _png(c / "noise200.png", rng.integers(0, 256, (200, 200, 3), dtype=np.uint8))
    Image.fromarray(rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)).save(c / "photo.jpg", quality=95)
    (c / "truncated.jpg").write_bytes((c / "photo.jpg").read_bytes()[:1500])
    (c / "zero.png").write_bytes(b"")
    (c / "text.png").write_text("this is text, not a PNG\n")
    hole = np.zeros((112, 112), np.uint8)
    hole[40:70, 30:80] = 255
    _png(c / "mask.png", hole)
    _png(c / "mask_small.png", hole[:100, :100])
    _png(c / "mask200.png", np.pad(hole, 44))
    _png(c / "mask_soft.png", np.tile(np.arange(112, dtype=np.uint8) * 2, (112, 1)))
    _png(c / "mask_rgba.png", np.dstack([hole] * 4))
    _png(c / "mask_16bit.png", hole.astype(np.uint16) * 257)  # 0 / 65535
    big = np.full((112, 112), 255, np.uint8)
    big[:10, :10] = 0
    _png(c / "mask_big.png", big)
    (c / "mask_trunc.png").write_bytes((c / "mask.png").read_bytes()[:60])
    (c / "random.pt").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    data = CHECKPOINT.read_bytes()
    (c / "truncated.pt").write_bytes(data[: len(data) // 2])
    (c / "a_file").write_text("a file where a folder is needed\n")
    (c / "empty").mkdir()
    (c / "flat").mkdir()
    _png(c / "flat" / "x.png", rng.integers(0, 256, (50, 50, 3), dtype=np.uint8))
    (c / "aligned").mkdir()
    (c / "aligned" / "landmarks.csv").write_text("path\n")
    for name, second in (("lfw", "Ann 1 Bob 1"), ("lfw_broken", "Ann 1 Bob")):
        (c / name / "raw" / "Ann").mkdir(parents=True)
        (c / name / "pairs.txt").write_text(f"1 1\nAnn 1 2\n{second}\n")
    (c / "bad.yaml").write_text("stages: [unclosed\n")
    return c


def _run(argv, capfd):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exited:  # argparse's own usage errors
        code = exited.code
    return (code, *capfd.readouterr())


def _assert_one_error_line(code, err, names):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, f"expected one stderr line, got:\n{err}"
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in err and "WARN" not in err
    for name in names:
        assert name in lines[0], f"{name!r} not named in: {lines[0]}"
    return lines[0]


def _inpaint(c, out, **changed):
    options = {"checkpoint": CHECKPOINT, "image": c / "noise112.png", "mask": c / "mask.png", "output_file": out}
    options.update({k: v(c) if callable(v) else v for k, v in changed.items()})
    return ["inpaint", *[x for key, value in options.items() for x in (f"--{key.replace('_', '-')}", value)]]


# (id, argv from (corpus, output path), fragments the error line must contain)
CASES = [
    # inpaint: the image
    ("image-missing", lambda c, o: _inpaint(c, o, image=c / "missing.png"), ["--image", "missing.png"]),
    ("image-zero-byte", lambda c, o: _inpaint(c, o, image=c / "zero.png"), ["zero.png", "empty file"]),
    ("image-not-an-image", lambda c, o: _inpaint(c, o, image=c / "text.png"), ["text.png", "not an image"]),
    ("image-truncated-jpeg", lambda c, o: _inpaint(c, o, image=c / "truncated.jpg"), ["truncated.jpg", "truncated"]),
    ("image-is-a-folder", lambda c, o: _inpaint(c, o, image=c / "empty"), ["--image", "folder"]),
    ("image-no-face-112", lambda c, o: _inpaint(c, o), ["noise112.png", "no face", "aligned face crop"]),
    ("image-no-face-photo", lambda c, o: _inpaint(c, o, image=c / "noise200.png", mask=c / "mask200.png"),
     ["noise200.png", "no face detected"]),
    # inpaint: the mask
    ("mask-missing", lambda c, o: _inpaint(c, o, mask=c / "missing.png"), ["--mask", "missing.png"]),
    ("mask-zero-byte", lambda c, o: _inpaint(c, o, mask=c / "zero.png"), ["zero.png", "empty file"]),
    ("mask-not-an-image", lambda c, o: _inpaint(c, o, mask=c / "text.png"), ["text.png", "not an image"]),
    ("mask-truncated", lambda c, o: _inpaint(c, o, mask=c / "mask_trunc.png"), ["mask_trunc.png"]),
    ("mask-wrong-size", lambda c, o: _inpaint(c, o, mask=c / "mask_small.png"), ["mask_small.png", "does not match"]),
    ("mask-not-binary", lambda c, o: _inpaint(c, o, mask=c / "mask_soft.png"), ["mask_soft.png", "binary"]),
    ("mask-rgba", lambda c, o: _inpaint(c, o, mask=c / "mask_rgba.png"), ["mask_rgba.png", "single-channel"]),
    ("mask-16-bit", lambda c, o: _inpaint(c, o, mask=c / "mask_16bit.png"), ["mask_16bit.png", "binary"]),
    ("mask-almost-all-hole", lambda c, o: _inpaint(c, o, mask=c / "mask_big.png"), ["mask_big.png", "99 %"]),
    # inpaint: the checkpoint, device and output
    ("checkpoint-missing", lambda c, o: _inpaint(c, o, checkpoint=c / "none.pt"), ["--checkpoint", "none.pt"]),
    ("checkpoint-zero-byte", lambda c, o: _inpaint(c, o, checkpoint=c / "zero.png"), ["zero.png"]),
    ("checkpoint-random-bytes", lambda c, o: _inpaint(c, o, checkpoint=c / "random.pt"), ["random.pt"]),
    ("checkpoint-truncated", lambda c, o: _inpaint(c, o, checkpoint=c / "truncated.pt"), ["truncated.pt"]),
    ("device-unknown", lambda c, o: _inpaint(c, o) + ["--device", "gpu0"], ["--device gpu0"]),
    ("blend-unknown", lambda c, o: _inpaint(c, o) + ["--blend", "smudge"], ["--blend"]),
    ("output-under-a-file", lambda c, o: _inpaint(c, o, output_file=c / "a_file" / "out.png"),
     ["--output-file", "a_file"]),
    ("output-unknown-type", lambda c, o: _inpaint(c, o, output_file=o.with_suffix(".xyz")), ["--output-file", ".xyz"]),
    ("output-is-a-folder", lambda c, o: _inpaint(c, o, output_file=c / "empty"), ["--output-file", "empty"]),
    # preprocess
    ("preprocess-raw-missing", lambda c, o: ["preprocess", "--raw", c / "nope", "--aligned", o],
     ["--raw", "nope"]),
    ("preprocess-raw-empty", lambda c, o: ["preprocess", "--raw", c / "empty", "--aligned", o],
     ["--raw", "no images"]),
    ("preprocess-raw-is-a-file", lambda c, o: ["preprocess", "--raw", c / "a_file", "--aligned", o],
     ["--raw", "a_file"]),
    ("preprocess-flat-with-subdirs", lambda c, o: ["preprocess", "--raw", c / "flat", "--aligned", o,
                                                   "--has-subdirs"], ["--raw", "--has-subdirs"]),
    ("preprocess-output-under-a-file", lambda c, o: ["preprocess", "--raw", c / "flat", "--aligned",
                                                     c / "a_file" / "out"], ["--aligned", "a_file"]),
    ("preprocess-no-raw", lambda c, o: ["preprocess", "--aligned", o], ["--raw"]),
    ("preprocess-no-raw-old-spelling", lambda c, o: ["preprocess", "--output_dir", o], ["--raw"]),
    # evaluate lfw / occluded: aligned crops, pairs.txt, outputs (all checked before a recognizer loads)
    ("lfw-aligned-empty", lambda c, o: ["evaluate", "lfw", "--aligned", c / "empty"],
     ["empty", "no aligned LFW", "--aligned"]),
    ("lfw-root-without-pairs", lambda c, o: ["evaluate", "lfw", "--aligned", c / "aligned", "--lfw-root",
                                             c / "empty"], ["pairs.txt", "--lfw-root"]),
    ("lfw-pairs-broken-line", lambda c, o: ["evaluate", "lfw", "--aligned", c / "aligned", "--lfw-root",
                                            c / "lfw_broken"], ["pairs.txt:3", "Ann 1 Bob"]),
    ("lfw-output-under-a-file", lambda c, o: ["evaluate", "lfw", "--aligned", c / "aligned", "--lfw-root",
                                              c / "lfw", "--output", c / "a_file" / "x.json"], ["--output"]),
    ("lfw-output-folder-under-a-file", lambda c, o: ["evaluate", "lfw", "--aligned", c / "aligned", "--lfw-root",
                                                     c / "lfw", "--output", c / "a_file" / "x"], ["--output"]),
    ("lfw-several-recognizers-one-file", lambda c, o: ["evaluate", "lfw", "--aligned", c / "aligned", "--lfw-root",
                                                       c / "lfw", "--recognizers", "sface", "dlib", "--output",
                                                       o.with_suffix(".json")], ["--output", "give a folder"]),
    ("lfw-unknown-recognizer", lambda c, o: ["evaluate", "lfw", "--recognizer", "arcface"],
     ["--recognizers", "arcface", "sface"]),
    ("occluded-aligned-empty", lambda c, o: ["evaluate", "occluded", "--aligned", c / "empty"],
     ["empty", "no aligned LFW"]),
    ("occluded-root-without-pairs", lambda c, o: ["evaluate", "occluded", "--aligned", c / "aligned",
                                                  "--lfw-root", c / "empty"], ["pairs.txt", "--lfw-root"]),
    ("occluded-pairs-broken-line", lambda c, o: ["evaluate", "occluded", "--aligned", c / "aligned",
                                                 "--lfw-root", c / "lfw_broken"], ["pairs.txt:3"]),
    ("occluded-figures-under-a-file", lambda c, o: ["evaluate", "occluded", "--aligned", c / "aligned",
                                                    "--lfw-root", c / "lfw", "--figures", c / "a_file" / "f"],
     ["--figures"]),
    ("occluded-unknown-region", lambda c, o: ["evaluate", "occluded", "--aligned", c / "aligned", "--regions",
                                              "elbow"], ["--regions", "elbow"]),
    # train: only what fails before training starts
    # the other subcommands, one way each of giving them something unusable
    ("recover-photo-missing", lambda c, o: ["recover", c / "missing.jpg", "--output", o.parent], ["missing.jpg"]),
    ("recover-photo-zero-byte", lambda c, o: ["recover", c / "zero.png", "--output", o.parent], ["zero.png", "empty file"]),
    ("recover-photo-not-an-image", lambda c, o: ["recover", c / "text.png", "--output", o.parent],
     ["text.png", "not an image"]),
    ("recover-output-under-a-file", lambda c, o: ["recover", c / "noise200.png", "--output", c / "a_file" / "out"],
     ["a_file"]),
    ("detector-evaluate-no-models", lambda c, o: ["detector", "evaluate", "--detector-dir", c / "empty", "--aligned",
                                                  c / "aligned", "--output", o.parent], ["empty"]),
    ("export-checkpoint-random-bytes", lambda c, o: ["export", "--checkpoint", c / "random.pt", "--output-file",
                                                     o.with_suffix(".pt")], ["random.pt"]),
    ("report-run-missing", lambda c, o: ["evaluate", "report", c / "no_such_run", "--output-file", o.with_suffix(".md")],
     ["no_such_run"]),
    ("notebooks-unknown-number", lambda c, o: ["notebooks", "run", "--only", "99", "--output", o.parent], ["99"]),
    ("prepare-aligned-missing", lambda c, o: ["prepare", "--aligned", c / "nope", "--output", o.parent,
                                              "--specs", "region:two_eyes"], ["nope"]),
    ("train-set-malformed", lambda c, o: ["train", "--output", o, "--set", "trainer.max_epochs"], ["--set"]),
    ("train-set-bad-yaml", lambda c, o: ["train", "--output", o, "--set", "a.b=[1"], ["--set", "a.b=[1"]),
    ("train-config-missing", lambda c, o: ["train", "--output", o, "--config", c / "none.yaml"],
     ["--config", "none.yaml"]),
    ("train-config-malformed", lambda c, o: ["train", "--output", o, "--config", c / "bad.yaml"],
     ["bad.yaml", "YAML"]),
]


@pytest.mark.parametrize("make_argv, names", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_one_error_line(make_argv, names, corpus, tmp_path, capfd):
    out = tmp_path / "out" / "result.png"
    code, _, err = _run(make_argv(corpus, out), capfd)
    _assert_one_error_line(code, err, names)
    assert not (tmp_path / "out").exists(), "a failed command left output behind"
    assert not list(corpus.rglob("*.tmp")), "a failed command left a temporary file behind"


def test_cuda_without_cuda_names_the_option(corpus, tmp_path, capfd, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "out.png"
    code, _, err = _run(_inpaint(corpus, out) + ["--device", "cuda"], capfd)
    line = _assert_one_error_line(code, err, ["--device cuda", "CUDA is not available", "--device cpu"])
    assert line.startswith("error: --device cuda:")
    assert not out.exists()


def test_dataset_hint_names_an_option_the_command_has(corpus, capfd):
    code, _, err = _run(["evaluate", "lfw", "--aligned", corpus / "aligned", "--lfw-root", corpus / "empty"], capfd)
    line = _assert_one_error_line(code, err, ["--lfw-root"])
    assert "--root" not in line.replace("--lfw-root", "")


def test_debug_shows_the_traceback(corpus, tmp_path):
    with pytest.raises(ValueError, match="empty file"):
        main(["inpaint", "--checkpoint", str(CHECKPOINT), "--image", str(corpus / "zero.png"),
              "--mask", str(corpus / "mask.png"), "--output-file", str(tmp_path / "o.png"), "--debug"])
    with pytest.raises(CLIError, match="--aligned"):
        main(["--debug", "preprocess", "--raw", str(corpus / "flat"), "--aligned", str(corpus / "a_file" / "o")])


# --- odd but usable input: handled, and said so ---------------------------------------------------

@pytest.fixture(scope="module")
def face(sample_faces) -> np.ndarray:
    """A real aligned 112x112 face (from the session's LFW sample)."""
    return sample_faces[0]


def test_all_zero_mask_writes_the_input_unchanged(corpus, tmp_path, capfd):
    source = corpus / "photo.jpg"
    _png(tmp_path / "zero_mask.png", np.zeros((112, 112), np.uint8))
    out = tmp_path / "out.jpg"
    code, stdout, err = _run(["inpaint", "--checkpoint", CHECKPOINT, "--image", source,
                              "--mask", tmp_path / "zero_mask.png", "--output-file", out], capfd)
    assert code == 0 and not err.strip(), err
    assert "zero_mask.png: nothing to fill" in stdout and "unchanged" in stdout
    assert out.read_bytes() == source.read_bytes()


@pytest.mark.parametrize("kind", ["gray_L", "gray_rgb", "rgba", "16bit"])
def test_gray_rgba_and_16_bit_photos(kind, face, corpus, tmp_path, capfd, monkeypatch):
    from idinpaint.fillers.learned import CheckpointFiller

    # The network's output does not matter here (and costs seconds on a CPU): a red fill, which a
    # gray photo must get back as gray.
    monkeypatch.setattr(CheckpointFiller, "_fill", lambda self, images, masks: np.where(
        masks[..., None], np.array([200, 30, 30], np.uint8), images))
    gray = np.asarray(Image.fromarray(face).convert("L"))
    image = tmp_path / f"{kind}.png"
    if kind == "gray_L":
        _png(image, gray)
    elif kind == "gray_rgb":
        _png(image, np.dstack([gray] * 3))
    elif kind == "rgba":
        _png(image, np.dstack([face, np.full(gray.shape, 255, np.uint8)]))
    else:
        Image.fromarray(gray.astype(np.uint16) * 257).save(image)
    out = tmp_path / "out.png"
    code, stdout, err = _run(["inpaint", "--checkpoint", CHECKPOINT, "--image", image, "--mask", corpus / "mask.png",
                              "--output-file", out], capfd)
    assert code == 0 and not err.strip(), err
    result = Image.open(out)
    pixels = np.asarray(result)
    if kind in ("gray_L", "16bit"):
        assert result.mode == "L"  # single-channel in, single-channel out
    elif kind == "gray_rgb":
        assert result.mode == "RGB"
        assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    else:
        assert result.mode == "RGB" and "transparency flattened" in stdout
    if kind == "16bit":
        assert "8-bit" in stdout
    hole = np.asarray(Image.open(corpus / "mask.png")) == 255
    before = gray if result.mode == "L" else np.asarray(Image.open(image).convert("RGB"))
    assert np.array_equal(pixels[~hole], before[~hole]) and not np.array_equal(pixels[hole], before[hole])
