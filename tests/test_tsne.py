"""t-SNE numbers (silhouette, leave-one-out nearest-centroid accuracy), subject choice, FaceScrub
error, and that every protocol figure renders to PNG + PDF."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from idinpaint.align import ARCFACE_TEMPLATE
from idinpaint.data.registry import DatasetError
from idinpaint.evaluation.tsne import (
    facescrub_subjects,
    identity_subjects,
    nearest_centroid_accuracy,
    run_tsne,
    silhouette,
    tsne_map,
    write_tsne,
)
from idinpaint.figures import (
    occlusion_gallery,
    plot_radar,
    plot_roc_per_region,
    plot_similarity_gap,
    plot_tsne_panels,
    save_figure,
)
from idinpaint.imageio import write_rgb
from idinpaint.occlusion import occlusion_examples
from idinpaint.recognizers.base import Recognizer


class PoolingRecognizer(Recognizer):
    name = "pool"
    dim = 192

    def _embed_batch(self, images):
        pooled = images.astype(np.float32).reshape(len(images), 8, 14, 8, 14, 3).mean(axis=(2, 4))
        return pooled.reshape(len(images), -1) - 128.0


def clusters(classes: int = 5, per_class: int = 12, dim: int = 32, noise: float = 0.05, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(classes), per_class)
    return centres[labels] + noise * rng.normal(size=(len(labels), dim)), labels


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / "cache"))


def test_numbers_are_high_on_separated_clusters_and_low_on_shuffled_labels():
    x, labels = clusters()
    assert silhouette(x, labels) > 0.7
    assert nearest_centroid_accuracy(x, labels) == 1.0
    shuffled = np.random.default_rng(1).permutation(labels)
    assert silhouette(x, shuffled) < 0.1
    assert nearest_centroid_accuracy(x, shuffled) < 0.5  # chance is 0.2
    # leave-one-out: a class of one face can never be recognised (its own centroid is empty)
    lonely = np.array([0, 0, 0, 1, 1, 1, 2])
    points = np.concatenate([x[:3], x[12:15], x[24:25]])
    assert nearest_centroid_accuracy(points, lonely) == pytest.approx(6 / 7)
    assert np.isnan(silhouette(x[:5], np.zeros(5, int)))


@pytest.mark.slow
def test_tsne_map_is_deterministic():
    x, _ = clusters(classes=3, per_class=8)
    a, b = tsne_map(x, seed=0), tsne_map(x, seed=0)
    assert a.shape == (24, 2)
    np.testing.assert_allclose(a, b)


def make_people(root, counts: dict[str, int], seed: int = 0):
    rng = np.random.default_rng(seed)
    for person, count in counts.items():
        base = cv2.resize(rng.uniform(30, 225, (6, 6, 3)), (112, 112), interpolation=cv2.INTER_CUBIC)
        for k in range(1, count + 1):
            write_rgb(root / person / f"{person}_{k:04d}.png",
                      np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8))


@pytest.mark.slow
def test_subject_choice_and_run_tsne(tmp_path):
    root = tmp_path / "faces"
    make_people(root, {"Ann": 6, "Bob": 5, "Cid": 7, "Dee": 2, "Eve": 6})
    subjects = identity_subjects(root, min_images=5, max_people=3, images_per_person=4, seed=0)
    assert len(set(subjects.names)) == 3 and "Dee" not in subjects.names
    assert len(subjects) == 12 and np.bincount(subjects.labels).tolist() == [4, 4, 4]
    again = identity_subjects(root, min_images=5, max_people=3, images_per_person=4, seed=0)
    assert again.relatives == subjects.relatives and again.names == subjects.names
    with pytest.raises(ValueError, match="at least 2"):
        identity_subjects(root, min_images=7)

    everyone = identity_subjects(root, min_images=5, max_people=10, images_per_person=5, seed=0)
    conditions = run_tsne(PoolingRecognizer(), everyone, "region:two_eyes@black", ["telea"], progress=False)
    assert [c.name for c in conditions] == ["clean", "occluded", "telea"]
    for c in conditions:
        assert c.points.shape == (len(everyone), 2)
        assert -1 <= c.silhouette <= 1 and 0 <= c.nc_accuracy <= 1
    assert conditions[0].nc_accuracy == 1.0  # synthetic people are easy when clean
    paths = write_tsne(conditions, everyone, tmp_path / "results", "tsne_test")
    assert all(p.is_file() for p in paths)
    with np.load(paths[1], allow_pickle=False) as stored:
        assert stored["points_telea"].shape == (len(everyone), 2)
    fig = plot_tsne_panels(conditions, everyone.names, title="synthetic")
    assert all(p.stat().st_size > 0 for p in save_figure(fig, "tsne_panels", tmp_path / "figs"))


def test_facescrub_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("IDINPAINT_FACESCRUB_ROOT", str(tmp_path / "no_facescrub_here"))
    with pytest.raises(DatasetError, match="(?s)facescrub.*not found.*FaceScrub is optional"):
        facescrub_subjects()
    present = tmp_path / "facescrub"
    make_people(present, {"Actor_A": 3, "Actor_B": 3})
    monkeypatch.setenv("IDINPAINT_FACESCRUB_ROOT", str(present))
    subjects = facescrub_subjects(min_images=3)
    assert subjects.dataset == "facescrub" and subjects.names == ["Actor_A", "Actor_B"]


def synthetic_rows():
    rows = []
    rng = np.random.default_rng(0)
    for recognizer in ("sface", "dlib"):
        rows.append({"recognizer": recognizer, "occlusion": "clean", "region": "clean", "fill": "", "filler": "none",
                     "accuracy": 0.99, "similarity_gap": 0.6, "similarity_gap_std": 0.02, "error": ""})
        for region in ("left_eye", "two_eyes", "nose", "mouth"):
            for filler in ("none", "telea", "mean_face"):
                rows.append({"recognizer": recognizer, "occlusion": f"region:{region}@black", "region": region,
                             "fill": "black", "filler": filler, "accuracy": float(rng.uniform(0.85, 0.98)),
                             "similarity_gap": float(rng.uniform(0.2, 0.5)), "similarity_gap_std": 0.03,
                             "error": ""})
    rows.append({**rows[-1], "filler": "broken", "accuracy": float("nan"), "error": "boom"})
    return rows


@pytest.mark.slow
def test_protocol_figures_write_png_and_pdf(tmp_path):
    folder = tmp_path / "figs"
    rows = synthetic_rows()
    table = {"clean": {r: 0.99 for r in ("left_eye", "two_eyes", "nose", "mouth")},
             "occluded": {"left_eye": 0.95, "two_eyes": 0.9, "nose": 0.97, "mouth": 0.96},
             "telea": {"left_eye": 0.96, "two_eyes": 0.88, "nose": 0.975, "mouth": 0.965}}
    rng = np.random.default_rng(0)
    labels = np.repeat([True, False], 50)
    scores = lambda shift: np.concatenate([rng.normal(0.6 - shift, 0.1, 50), rng.normal(0.1, 0.1, 50)])  # noqa: E731
    panels = {region: {"occluded": scores(0.3), "telea": scores(0.35)} for region in ("two_eyes", "nose", "mouth")}
    face = cv2.resize(rng.uniform(30, 225, (6, 6, 3)), (112, 112)).astype(np.uint8)
    figures = {
        "radar": plot_radar(table, title="radar"),
        "gap": plot_similarity_gap(rows, fill="black"),
        "roc": plot_roc_per_region(panels, labels, clean_scores=scores(0.0), columns=2, title="roc"),
        "gallery": occlusion_gallery(occlusion_examples(face, ARCFACE_TEMPLATE, templates=None)),
    }
    for name, fig in figures.items():
        paths = save_figure(fig, name, folder)
        assert [p.suffix for p in paths] == [".png", ".pdf"]
        assert all(p.is_file() and p.stat().st_size > 1000 for p in paths)
    with pytest.raises(ValueError):
        plot_radar({"a": {"x": 1.0, "y": 0.5}})


@pytest.mark.slow
def test_projector_log_has_one_row_and_thumbnail_per_face_and_condition(tmp_path):
    """What `evaluate tsne` writes for TensorBoard's projector: config, tensors, labels, sprite."""
    from PIL import Image

    from idinpaint.evaluation.tsne import PROJECTOR_HEADER, write_projector

    root = tmp_path / "faces"
    make_people(root, {"Ann": 4, "Bob": 4, "Cid": 4})
    subjects = identity_subjects(root, min_images=4, max_people=3, images_per_person=4, seed=0)
    conditions = run_tsne(PoolingRecognizer(), subjects, "region:two_eyes@black", ["telea"], progress=False,
                          thumbnails=16)
    assert all(c.extra["thumbnails"].shape == (len(subjects), 16, 16, 3) for c in conditions)
    clean, occluded = conditions[0].extra["thumbnails"], conditions[1].extra["thumbnails"]
    assert occluded[:, 4:7].mean() < clean[:, 4:7].mean() - 20  # the eye band is blacked out in the thumbnails
    log = write_projector(conditions, subjects, tmp_path / "projector", "tsne_test")
    assert log == tmp_path / "projector" / "tsne_test" and list(log.glob("events.out.tfevents.*"))
    config = (log / "projector_config.pbtxt").read_text()
    assert config.count("embeddings {") == 1 and "sprite" in config and "single_image_dim: 16" in config
    (data,) = [p for p in log.rglob("metadata.tsv")]
    rows = data.read_text().splitlines()
    faces = len(conditions) * len(subjects)
    assert rows[0].split("\t") == PROJECTOR_HEADER and len(rows) == 1 + faces
    assert {r.split("\t")[1] for r in rows[1:]} == {"clean", "occluded", "telea"}
    assert {r.split("\t")[0] for r in rows[1:]} == set(subjects.names)
    assert rows[-1].split("\t")[2:5] == ["two_eyes", "black", "telea"]
    assert len((data.parent / "tensors.tsv").read_text().splitlines()) == faces
    sprite = Image.open(data.parent / "sprite.png")
    side = int(np.ceil(np.sqrt(faces))) * 16
    assert sprite.size == (side, side)
    # rewritten whole: a second write leaves one embedding, not two
    write_projector(conditions[:1], subjects, tmp_path / "projector", "tsne_test")
    assert len([p for p in log.rglob("metadata.tsv")]) == 1
    assert len((log / "00000" / "tsne_test" / "metadata.tsv").read_text().splitlines()) == 1 + len(subjects)
