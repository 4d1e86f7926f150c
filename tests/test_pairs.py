import itertools

import pytest

from idinpaint.data.lfw import (
    Pair,
    PairsFormatError,
    pair_images,
    parse_pairs,
    people_by_fold,
    people_with_images,
    second_images_of_distinct_people,
    subset_pairs,
)
from idinpaint.data.registry import DatasetError, dataset_root, get_spec, list_images


def test_real_view2_pairs(lfw_root):
    pairs = parse_pairs(lfw_root / "pairs.txt")
    assert len(pairs) == 6000
    for fold in range(10):
        in_fold = [p for p in pairs if p.fold == fold]
        assert sum(p.same for p in in_fold) == 300 and sum(not p.same for p in in_fold) == 300
    folds = people_by_fold(pairs)
    assert all(not (folds[a] & folds[b]) for a, b in itertools.combinations(range(10), 2)), "folds share people"
    assert len(set().union(*folds.values())) == 4281
    assert pairs[0].first == "Abel_Pacheco/Abel_Pacheco_0001.jpg" and pairs[0].second == "Abel_Pacheco/Abel_Pacheco_0004.jpg"
    assert all((lfw_root / "raw" / path).is_file() for path in pair_images(pairs)[:50])


def _write(tmp_path, text):
    path = tmp_path / "pairs.txt"
    path.write_text(text)
    return path


def test_standard_layout_small(tmp_path):
    lines = ["2\t1", "A\t1\t2", "B\t1\tC\t3", "D\t2\t4", "E\t1\tF\t1"]
    pairs = parse_pairs(_write(tmp_path, "\n".join(lines) + "\n"))
    assert [(p.same, p.fold) for p in pairs] == [(True, 0), (False, 0), (True, 1), (False, 1)]
    assert pairs[1].first == "B/B_0001.jpg" and pairs[1].second == "C/C_0003.jpg"


def test_other_layout_all_same_then_all_different(tmp_path):
    same = [f"P{i}\t1\t2" for i in range(20)]
    different = [f"Q{i}\t1\tR{i}\t1" for i in range(20)]
    pairs = parse_pairs(_write(tmp_path, "\n".join(["20"] + same + different)))
    assert len(pairs) == 40
    for fold in range(10):
        in_fold = [p for p in pairs if p.fold == fold]
        assert [p.same for p in in_fold] == [True, True, False, False]


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("ten 300\n", "header"),
    ("1\t2\nA\t1\t2\n", "header says 1 folds x 4 pairs"),
    ("1\t1\nA\t1\t2\nB\tx\tC\t1\n", ":3: expected"),
    ("1\t1\nA\t1\tB\t1\nC\t1\t2\n", "fold 1 is not 1 same lines then 1 different"),
    ("3\nA\t1\t2\n", "header says 3 same"),
])
def test_malformed_pairs_files(tmp_path, text, message):
    with pytest.raises(PairsFormatError, match=message):
        parse_pairs(_write(tmp_path, text))


def test_subset_keeps_fold_balance(lfw_root):
    subset = subset_pairs(parse_pairs(lfw_root / "pairs.txt"), 3)
    assert len(subset) == 60
    assert all(sum(p.fold == f and p.same == s for p in subset) == 3 for f in range(10) for s in (True, False))


def test_gallery_faces_are_distinct_people():
    pairs = [Pair("A/A_0001.jpg", "A/A_0002.jpg", True, 0), Pair("A/A_0003.jpg", "A/A_0004.jpg", True, 0),
             Pair("C/C_0001.jpg", "B/B_0001.jpg", False, 0), Pair("D/D_0001.jpg", "D/D_0002.jpg", True, 0)]
    assert second_images_of_distinct_people(pairs, 2) == ["A/A_0002.jpg", "B/B_0001.jpg"]
    assert second_images_of_distinct_people(pairs, 9) == ["A/A_0002.jpg", "B/B_0001.jpg", "D/D_0002.jpg"]


def test_people_with_images():
    found = people_with_images(["A/A_1.jpg", "A/A_2.jpg", "B/B_1.jpg"], 2)
    assert found == {"A": ["A/A_1.jpg", "A/A_2.jpg"]}


def test_registry_errors_say_what_and_where(tmp_path, monkeypatch):
    with pytest.raises(DatasetError, match="unknown dataset"):
        get_spec("nope")
    with pytest.raises(DatasetError, match=r"ffhq-112: folder .* not found .*IDINPAINT_FFHQ_112_ROOT.*download"):
        dataset_root("ffhq-112", tmp_path / "missing")
    (tmp_path / "lfw" / "raw").mkdir(parents=True)
    with pytest.raises(DatasetError, match="pairs.txt missing"):
        dataset_root("lfw", tmp_path / "lfw")
    flat = tmp_path / "celeb"
    flat.mkdir()
    (flat / "x.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="one folder per identity"):
        dataset_root("celeba-112", flat)
    monkeypatch.setenv("IDINPAINT_CELEBA_112_ROOT", str(tmp_path / "elsewhere"))
    with pytest.raises(DatasetError, match="elsewhere"):
        dataset_root("celeba-112")


def test_list_images(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("a/1.jpg", "a/2.PNG", "a/notes.txt", "top.jpg"):
        (tmp_path / name).write_bytes(b"x")
    assert [str(p) for p in list_images(tmp_path, has_subdirs=True)] == ["a/1.jpg", "a/2.PNG"]
    assert [str(p) for p in list_images(tmp_path, has_subdirs=False)] == ["top.jpg"]
