"""The batch alignment job: bad inputs are recorded (never fatal), runs resume, nothing is half-written."""
import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from idinpaint.data.aligned import LANDMARKS_FILE, aligned_name, read_landmarks
from idinpaint.imageio import BadImageError, read_rgb
from idinpaint.preprocess import FAILURES_FILE, preprocess_folder, read_failures

FACE = "Abel_Pacheco/Abel_Pacheco_0001.jpg"


@pytest.fixture(scope="module")
def bad_input_corpus(lfw_root, tmp_path_factory):
    """Every awkward kind of input, generated from one real face photo."""
    root = tmp_path_factory.mktemp("corpus")
    face = Image.open(lfw_root / "raw" / FACE).convert("RGB")
    person = root / "person"
    person.mkdir()
    face.convert("L").save(person / "grayscale.jpg")
    rgba = face.convert("RGBA")
    rgba.putalpha(200)
    rgba.save(person / "rgba.png")
    face.convert("P", palette=Image.ADAPTIVE).save(person / "palette.png")
    sixteen = (np.asarray(face.convert("L"), dtype=np.uint16) * 257)
    Image.fromarray(sixteen).save(person / "sixteen_bit.png")
    # Stored rotated by 90 degrees with an EXIF tag saying so: only honouring EXIF finds the face upright.
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    face.transpose(Image.Transpose.ROTATE_90).save(person / "exif_rotated.jpg", exif=exif)
    face.save(person / "truncated.jpg", quality=95)
    data = (person / "truncated.jpg").read_bytes()
    (person / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (person / "zero_byte.jpg").write_bytes(b"")
    (person / "not_an_image.jpg").write_text("this is text, not a JPEG\n")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (250, 250, 3), dtype=np.uint8)).save(person / "no_face.png")
    return root


EXPECTED_OK = {"grayscale.jpg", "rgba.png", "palette.png", "sixteen_bit.png", "exif_rotated.jpg"}
EXPECTED_FAIL = {"truncated.jpg": "truncated", "zero_byte.jpg": "empty file", "not_an_image.jpg": "not an image",
                 "no_face.png": "no face"}


@pytest.mark.slow
def test_bad_inputs_are_recorded_not_fatal(bad_input_corpus, tmp_path):
    report = preprocess_folder(bad_input_corpus, tmp_path, has_subdirs=True, progress=False)
    assert report.total == 9 and report.aligned == len(EXPECTED_OK)
    failed = {path.split("/")[-1]: reason for path, reason in read_failures(tmp_path)}
    assert set(failed) == set(EXPECTED_FAIL)
    for name, fragment in EXPECTED_FAIL.items():
        assert fragment in failed[name], (name, failed[name])
    for name in EXPECTED_OK:
        crop = read_rgb(tmp_path / aligned_name(f"person/{name}"))
        assert crop.shape == (112, 112, 3)


def test_exif_rotation_is_honoured(bad_input_corpus, lfw_root):
    upright = read_rgb(bad_input_corpus / "person" / "exif_rotated.jpg")
    assert upright.shape[:2] == (250, 250)
    reference = np.asarray(Image.open(lfw_root / "raw" / FACE).convert("RGB"), dtype=np.float64)
    assert np.abs(upright - reference).mean() < 6  # only JPEG noise, not a rotated image


def test_read_rgb_errors_are_one_line(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(BadImageError) as caught:
        read_rgb(tmp_path / "empty.jpg")
    message = str(caught.value)
    assert "empty.jpg" in message and "\n" not in message
    with pytest.raises(BadImageError, match="file not found"):
        read_rgb(tmp_path / "missing.jpg")


def test_resume_skips_done_and_redoes_missing(lfw_root, tmp_path):
    files = ["Abel_Pacheco/Abel_Pacheco_0001.jpg", "Abel_Pacheco/Abel_Pacheco_0004.jpg",
             "Akhmed_Zakayev/Akhmed_Zakayev_0001.jpg"]
    first = preprocess_folder(lfw_root / "raw", tmp_path, files=files, progress=False)
    assert first.aligned == 3
    again = preprocess_folder(lfw_root / "raw", tmp_path, files=files, progress=False)
    assert again.aligned == 0 and again.skipped == 3
    (tmp_path / aligned_name(files[1])).unlink()           # a crop lost
    with open(tmp_path / LANDMARKS_FILE, "a") as handle:    # a torn last line from a killed run
        handle.write("Akhmed_Zakayev/Akh")
    third = preprocess_folder(lfw_root / "raw", tmp_path, files=files, progress=False)
    assert third.aligned == 1 and third.skipped == 2
    assert set(read_landmarks(tmp_path)) == set(files)


@pytest.mark.slow
def test_interrupted_run_leaves_no_half_file_and_resumes(lfw_root, tmp_path):
    """Kill a real run mid-way with SIGKILL, then check every file on disk and finish the job."""
    from idinpaint.data.registry import list_images

    files = [str(p) for p in list_images(lfw_root / "raw", has_subdirs=True)[:400]]
    listing = tmp_path / "files.txt"
    listing.write_text("\n".join(files))
    out = tmp_path / "out"
    code = (
        "import sys; from idinpaint.preprocess import preprocess_folder; "
        f"preprocess_folder({str(lfw_root / 'raw')!r}, {str(out)!r}, "
        f"files=open({str(listing)!r}).read().split(), progress=False)"
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 60
    while time.time() < deadline:
        done = len(list(out.glob("*/*.png"))) if out.exists() else 0
        if done >= 40:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    written = list(out.glob("*/*.png"))
    assert 0 < len(written) < len(files), "the run should have been killed mid-way"
    for path in written:  # every file that exists is a whole, decodable crop
        assert read_rgb(path).shape == (112, 112, 3)
    report = preprocess_folder(lfw_root / "raw", out, files=files, progress=False)
    assert report.skipped + report.aligned + len(report.failures) == len(files)
    assert report.skipped > 0
    assert len(read_landmarks(out)) == len(files) - len(report.failures)
    assert not list(out.rglob("*.tmp"))
    with open(out / LANDMARKS_FILE) as handle:
        rows = [row for row in csv.reader(handle)][1:]
    assert len({row[0] for row in rows}) == len(files) - len(report.failures)
    assert (out / FAILURES_FILE).is_file()
