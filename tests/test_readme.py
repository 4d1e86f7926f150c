"""The README's Python example runs as printed (on the two crops it needs, aligned here)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_python_example_runs(lfw_root, tmp_path, monkeypatch, capsys):
    from idinpaint.data.lfw import load_pairs
    from idinpaint.preprocess import preprocess_folder

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    pair = load_pairs()[0]
    monkeypatch.setenv("IDINPAINT_DATA", str(tmp_path))
    report = preprocess_folder(lfw_root / "raw", tmp_path / "lfw-112", files=[pair.first, pair.second], progress=False)
    assert not report.failures
    exec(compile(blocks[0], str(README), "exec"), {"__name__": "readme_example"})
    same, cosine = capsys.readouterr().out.split()[-2:]
    assert same == str(pair.same) and -1.0 <= float(cosine) <= 1.0


def test_readme_is_an_entry_with_the_preprocess_line_first_and_a_way_out():
    text = README.read_text()
    assert len(text.splitlines()) <= 200, "the README is an entry: move detail to docs/"
    command = "idinpaint preprocess --raw ../shared/data/lfw/raw --aligned data/lfw-112 --has-subdirs --workers 2"
    assert command in text and text.index(command) < text.index("```python"), "the crops the example reads, first"
    assert "(docs/troubleshooting.md)" in text and (README.parent / "docs" / "troubleshooting.md").is_file()
    assert "**`PHOTO_reference.png` is the one to look" in text
    assert "keeps the identity best" not in text  # which fill keeps identity is said from numbers only
