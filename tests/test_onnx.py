"""The ONNX export and the onnxruntime backend against torch, on real LFW crops.

Parity rule (the users' brief): after rounding to uint8, |torch - onnx| <= 1 on at least 99.9 % of
the pixels, and the SFace embeddings of the two outputs agree to cosine >= 0.999, crop by crop.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from idinpaint.occlusion import region_mask

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "checkpoints" / "idinpainter_cpu_halfA.pt"
COUNT = 18  # batches of 8: 8, 8 and 2 (the batch axis is dynamic)
REGIONS = ("two_eyes", "nose", "mouth", "center_block", "left_eye", "lower_face")


@pytest.fixture(scope="module")
def crops(smoke_crops) -> tuple[np.ndarray, np.ndarray]:
    """COUNT real aligned crops (the smoke crops the session aligns: tests/conftest.py), each with a region hole."""
    from idinpaint.data.aligned import read_faces
    from idinpaint.data.registry import list_images

    files = [str(p) for p in list_images(smoke_crops, has_subdirs=True)[::7][:COUNT]]
    assert len(files) == COUNT, f"{smoke_crops}: fewer than {7 * COUNT} crops"
    images = read_faces(smoke_crops, files)
    masks = np.stack([region_mask(REGIONS[i % len(REGIONS)]) for i in range(COUNT)])
    return images, masks


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    """The backend's graphs are exported into a fresh folder: the export itself is under test."""
    from idinpaint import onnx_export

    folder = tmp_path_factory.mktemp("cache")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # correctness only: one thread is fastest on a busy machine
    patch = pytest.MonkeyPatch()
    patch.setattr(onnx_export, "cache_dir", lambda: folder)
    onnx_export.session.cache_clear()
    yield folder
    patch.undo()
    torch.set_num_threads(threads)


def assert_parity(reference: np.ndarray, candidate: np.ndarray, what: str) -> None:
    from idinpaint.recognizers.sface import SFaceRecognizer

    delta = np.abs(reference.astype(np.int16) - candidate.astype(np.int16))
    within = float((delta <= 1).mean())
    assert within >= 0.999, f"{what}: only {100 * within:.3f} % of pixels within 1/255 (max {delta.max()})"
    sface = SFaceRecognizer("cpu")
    a, b = sface.embed(reference), sface.embed(candidate)
    cosine = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosine.min() >= 0.999, f"{what}: SFace cosine {cosine.min():.5f} < 0.999"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ca_id", "ca"])
def test_onnx_backend_matches_torch_on_real_crops(crops, onnx_cache, kind):
    from idinpaint.fillers.learned import CheckpointFiller

    images, masks = crops
    options = {"kind": kind, "ca_only": kind == "ca", "device": "cpu", "batch_size": 8, "share_ca": False}
    torch_filler = CheckpointFiller(SHIPPED, backend="torch", **options)
    onnx_filler = CheckpointFiller(SHIPPED, backend="onnx", **options)
    assert onnx_filler.runner.backend == "onnx" and onnx_filler.name == kind
    exported = {p.name.split("_")[0] for p in (onnx_cache / "onnx").glob("*.onnx")}
    assert "ca" in exported and ("refine" in exported) >= (kind == "ca_id")
    # the network's output (before blending), then the filler's blended output
    assert_parity(torch_filler.network_fill(images, masks), onnx_filler.network_fill(images, masks), f"{kind} network")
    assert_parity(torch_filler.fill(images, masks), onnx_filler.fill(images, masks), f"{kind} filled")
    # the evaluation keeps onnx fills apart from torch fills; torch keys are what they always were
    assert "backend='onnx'" in repr(onnx_filler) and "backend" not in repr(torch_filler)


@pytest.mark.slow
def test_onnx_backend_shares_the_ca_pass(crops, onnx_cache, monkeypatch):
    from idinpaint.fillers import learned

    images, masks = crops
    monkeypatch.setattr(learned, "CA_MEMO", learned.CAFillMemo(64 * 2 ** 20))
    ca_id = learned.CheckpointFiller(SHIPPED, kind="ca_id", device="cpu", batch_size=8, backend="onnx")
    ca = learned.CheckpointFiller(SHIPPED, kind="ca", ca_only=True, device="cpu", batch_size=8, backend="onnx")
    runs = []
    monkeypatch.setattr(ca.runner, "prior", lambda *a: runs.append(1) or pytest.fail("the CA ran again"))
    first = ca_id.fill(images, masks)
    shared = ca.fill(images, masks)
    assert not runs and learned.CA_MEMO.hits == 3
    alone = learned.CheckpointFiller(SHIPPED, kind="ca", ca_only=True, device="cpu", batch_size=8,
                                     backend="onnx", share_ca=False)
    np.testing.assert_array_equal(shared, alone.fill(images, masks))
    assert first.shape == shared.shape


@pytest.mark.slow
def test_export_onnx_cli_writes_one_graph_that_matches_torch(crops, onnx_cache, tmp_path):
    """``idinpaint export --onnx``: the .pt, its card and the whole inpainter as one ONNX graph
    (image and mask in; fill and the CA's fill out; dynamic batch) that onnxruntime runs to the
    torch result."""
    import onnxruntime

    from idinpaint.checkpoints import file_sha256, load_checkpoint
    from idinpaint.cli import main

    target = tmp_path / "model.pt"
    assert main(["export", "--checkpoint", str(SHIPPED), "--output-file", str(target), "--onnx"]) == 0
    graph = target.with_suffix(".onnx")
    card = json.loads(target.with_suffix(".json").read_text())
    assert card["onnx_file"] == graph.name and card["onnx_sha256"] == file_sha256(graph)

    session = onnxruntime.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image", "mask"]
    assert [o.name for o in session.get_outputs()] == ["fill", "ca_fill"]
    images, masks = crops
    inpainter = load_checkpoint(target, "ca_id", "cpu")
    expected, expected_ca = inpainter.predict(images, masks, batch_size=COUNT, return_ca=True)
    x, m = inpainter.to_tensors(images, masks)
    fill, ca_fill = session.run(None, {"image": x.numpy(), "mask": m.numpy()})  # one batch of 18
    to_uint8 = lambda t: np.round((np.clip(t, -1, 1) + 1) * 127.5).astype(np.uint8).transpose(0, 2, 3, 1)  # noqa: E731
    assert_parity(expected, to_uint8(fill), "exported graph")
    assert_parity(expected_ca, to_uint8(ca_fill), "exported graph, CA output")
    # --onnx names the .pt; an .onnx output name would overwrite it
    assert main(["export", "--checkpoint", str(SHIPPED), "--output-file", str(tmp_path / "x.onnx"), "--onnx"]) == 2


def test_backend_choice(monkeypatch):
    from idinpaint.fillers import learned

    monkeypatch.delenv(learned.BACKEND_ENV, raising=False)
    assert learned.DEFAULT_BACKEND == "auto"  # the measured choice: onnxruntime on CPU, torch on CUDA
    assert learned.resolve_backend(None, "cpu") == learned.FASTEST_BACKEND["cpu"] == "onnx"
    assert learned.resolve_backend(None, "cuda") == "torch"
    assert learned.resolve_backend("torch", "cpu") == "torch"
    assert learned.resolve_backend("onnx", "cpu") == "onnx"
    monkeypatch.setenv(learned.BACKEND_ENV, "onnx")
    assert learned.resolve_backend(None, "cpu") == "onnx"
    monkeypatch.setenv(learned.BACKEND_ENV, "tensorrt")
    with pytest.raises(ValueError, match="IDINPAINT_BACKEND"):
        learned.resolve_backend(None, "cpu")
