"""`idinpaint prepare`: occluded copies + masks with the same relative paths, resumable, robust."""
from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

from idinpaint.cli import main
from idinpaint.imageio import read_mask, read_rgb, write_rgb
from idinpaint.occlusion import occlude_faces, region_box, region_mask
from idinpaint.prepare import MASKS_DIR, make_spec, output_paths, prepare_folder, read_failures

PEOPLE = ("Ann_One", "Bob_Two", "Cid_Three")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def aligned(tmp_path):
    root = tmp_path / "aligned"
    rng = np.random.default_rng(3)
    for person in PEOPLE:
        base = cv2.resize(rng.uniform(30, 225, (6, 6, 3)), (112, 112), interpolation=cv2.INTER_CUBIC)
        for k in (1, 2):
            write_rgb(root / person / f"{person}_{k:04d}.png",
                      np.clip(base + rng.normal(0, 5, base.shape), 0, 255).astype(np.uint8))
    return root


def relatives(root) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))


@pytest.mark.slow
def test_writes_images_and_masks_with_the_same_relative_paths(aligned, tmp_path):
    out = tmp_path / "out"
    report = prepare_folder(aligned, out, mode="region:nose", fill="black", progress=False)
    inputs = relatives(aligned)
    assert report.written == len(inputs) == 6 and not report.failures
    x1, y1, x2, y2 = region_box("nose")
    for rel in inputs:
        image_path, mask_path = output_paths(out, rel)
        assert image_path == out / rel and mask_path == out / MASKS_DIR / rel
        raw = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
        assert raw.ndim == 2 and set(np.unique(raw).tolist()) == {0, 255}
        mask = read_mask(mask_path, (112, 112))
        np.testing.assert_array_equal(mask, region_mask("nose"))
        original, occluded = read_rgb(aligned / rel), read_rgb(image_path)
        assert (occluded[y1:y2, x1:x2] == 0).all()
        np.testing.assert_array_equal(occluded[~mask], original[~mask])
    manifest = json.loads((out / "prepare.json").read_text())
    assert manifest["config"]["spec"] == "region:nose@black" and manifest["report"]["written"] == 6


def test_resume_skips_finished_files(aligned, tmp_path):
    out = tmp_path / "out"
    prepare_folder(aligned, out, mode="region:mouth", fill="gray", progress=False)
    image_path, mask_path = output_paths(out, f"{PEOPLE[0]}/{PEOPLE[0]}_0001.png")
    stamp = image_path.stat().st_mtime_ns
    again = prepare_folder(aligned, out, mode="region:mouth", fill="gray", progress=False)
    assert again.written == 0 and again.skipped == 6
    assert image_path.stat().st_mtime_ns == stamp
    mask_path.unlink()  # half-finished: image without mask -> redone
    third = prepare_folder(aligned, out, mode="region:mouth", fill="gray", progress=False)
    assert third.written == 1 and third.skipped == 5 and mask_path.is_file()
    limited = prepare_folder(aligned, tmp_path / "few", mode="region:mouth", fill="gray", limit=2, progress=False)
    assert limited.total == 2 and len(relatives(tmp_path / "few")) == 2 * 2  # 2 images + 2 masks


def test_bad_input_file_is_recorded_not_fatal(aligned, tmp_path):
    bad = aligned / "Bad_File" / "Bad_File_0001.png"
    bad.parent.mkdir()
    bad.write_bytes(b"this is not a png")
    (aligned / "Bad_File" / "Bad_File_0002.png").write_bytes(b"")
    out = tmp_path / "out"
    report = prepare_folder(aligned, out, mode="region:left_eye", progress=False)
    assert report.written == 6
    assert [path for path, _ in report.failures] == ["Bad_File/Bad_File_0001.png", "Bad_File/Bad_File_0002.png"]
    assert "empty file" in report.failures[1][1]
    assert read_failures(out) == report.failures
    with open(out / "failures.csv", newline="") as handle:
        assert next(csv.reader(handle)) == ["path", "reason"]
    assert not output_paths(out, "Bad_File/Bad_File_0001.png")[0].exists()


def test_filler_and_random_modes_match_the_in_memory_protocol(aligned, tmp_path):
    out = tmp_path / "telea"
    prepare_folder(aligned, out, mode="region:two_eyes", fill="black", filler="telea", progress=False)
    rel = f"{PEOPLE[1]}/{PEOPLE[1]}_0002.png"
    filled, mask = read_rgb(out / rel), read_mask(out / MASKS_DIR / rel)
    np.testing.assert_array_equal(mask, region_mask("two_eyes"))
    assert filled[mask].mean() > 20  # the hole was inpainted, not left black
    np.testing.assert_array_equal(filled[~mask], read_rgb(aligned / rel)[~mask])

    noisy = tmp_path / "noisy"
    prepare_folder(aligned, noisy, mode="random_block:40", fill="noise", progress=False)
    paths = relatives(aligned)
    expected, masks = occlude_faces("random_block:40@noise", np.stack([read_rgb(aligned / p) for p in paths]), paths)
    for k, path in enumerate(paths):
        np.testing.assert_array_equal(read_rgb(noisy / path), expected[k])
        np.testing.assert_array_equal(read_mask(noisy / MASKS_DIR / path), masks[k])


def test_spec_building_and_cli(aligned, tmp_path, capsys):
    assert str(make_spec("region:nose")) == "region:nose@black"
    assert str(make_spec("maskthface")) == "maskthface@occluder"
    assert str(make_spec("maskthface:N95", "gray")) == "maskthface:N95@gray"
    with pytest.raises(ValueError):
        make_spec("region:nose@gray", "black")
    with pytest.raises(ValueError):
        make_spec("region:forehead")
    with pytest.raises(ValueError, match="differ"):
        prepare_folder(aligned, aligned, mode="region:nose", progress=False)
    out = tmp_path / "cli"
    code = main(["prepare", "--input", str(aligned), "--output", str(out), "--mode", "region:center_block",
                 "--fill", "white", "--seed", "1", "--limit", "3"])
    assert code == 0 and "3 written" in capsys.readouterr().out
    assert len(list((out / MASKS_DIR).rglob("*.png"))) == 3
