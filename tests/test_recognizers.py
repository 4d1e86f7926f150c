import numpy as np
import pytest
import torch

from idinpaint.recognizers import check_faces, get_recognizer


@pytest.fixture(scope="module")
def sface():
    return get_recognizer("sface", device="cpu")


@pytest.fixture(scope="module")
def dlib_recognizer():
    return get_recognizer("dlib")


@pytest.mark.slow
def test_sface_matches_onnxruntime_on_the_shipped_int8_graph(sface, sample_faces):
    """Our dequantized fp32 torch module against onnxruntime running the shipped int8bq graph."""
    from idinpaint.recognizers.sface import reference_session

    session = reference_session()
    reference = np.concatenate([
        session.run(None, {"data": face[None].transpose(0, 3, 1, 2).astype(np.float32)})[0] for face in sample_faces])
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    ours = sface.embed(sample_faces)
    assert ours.shape == (len(sample_faces), 128)
    assert np.min(np.sum(ours * reference, axis=1)) >= 0.9999


@pytest.mark.slow
def test_sface_gradients_reach_the_input_and_weights_stay_frozen(sface, sample_faces):
    net = sface.net
    assert not any(p.requires_grad for p in net.parameters())
    buffers_before = {name: b.clone() for name, b in net.named_buffers()}
    net.train()  # a training loop may call this; BatchNorm must still use its running statistics
    x = torch.from_numpy(sample_faces[:2]).permute(0, 3, 1, 2).float().requires_grad_(True)
    embedding = torch.nn.functional.normalize(net(x), dim=1)
    loss = 1 - (embedding[0] * embedding[1]).sum()
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, buffer in net.named_buffers():
        assert torch.equal(buffer, buffers_before[name]), f"{name} changed"
    with torch.no_grad():
        again = torch.nn.functional.normalize(net(x), dim=1)
    assert torch.allclose(again, embedding.detach(), atol=1e-5)


@pytest.mark.slow
def test_same_person_scores_higher_than_different(sface, dlib_recognizer, sample_faces):
    # sample order: Abel x2, Akhmed x2, Abdel, Dean
    for recognizer in (sface, dlib_recognizer):
        e = recognizer.embed(sample_faces)
        np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
        same = min(e[0] @ e[1], e[2] @ e[3])
        different = max(e[0] @ e[2], e[1] @ e[3], e[4] @ e[5], e[0] @ e[5])
        assert same > different, recognizer.name


@pytest.mark.slow
def test_dlib_reuses_clean_landmarks_for_occluded_copies(dlib_recognizer, sample_faces):
    clean = sample_faces[:2]
    landmarks = dlib_recognizer.landmarks(clean)
    assert landmarks.shape == (2, 5, 2) and np.all((landmarks > 0) & (landmarks < 112))
    np.testing.assert_allclose(dlib_recognizer.embed(clean, landmarks=landmarks), dlib_recognizer.embed(clean), atol=1e-5)
    occluded = clean.copy()
    occluded[:, 30:70, 18:98] = 0  # both eyes blacked out
    with_clean_geometry = dlib_recognizer.embed(occluded, landmarks=landmarks)
    # Same chip geometry: the embedding moves only because pixels changed, and stays closer to the
    # clean embedding than to another person.
    clean_embedding = dlib_recognizer.embed(clean, landmarks=landmarks)
    other = dlib_recognizer.embed(sample_faces[5:6])
    assert float(with_clean_geometry[0] @ clean_embedding[0]) > float(with_clean_geometry[0] @ other[0])


def test_recognizer_input_validation():
    with pytest.raises(ValueError, match=r"expected aligned RGB uint8 faces shaped \(N, 112, 112, 3\)"):
        check_faces(np.zeros((2, 112, 112, 3), np.float32))
    with pytest.raises(ValueError, match="112, 112, 3"):
        check_faces(np.zeros((2, 100, 100, 3), np.uint8))
    assert check_faces(np.zeros((112, 112, 3), np.uint8)).shape == (1, 112, 112, 3)
    with pytest.raises(ValueError, match="unknown recognizer 'arcface'; choose one of sface, dlib"):
        get_recognizer("arcface")


def test_fp32_conversion_is_cached(tmp_path, monkeypatch):
    import idinpaint.recognizers.sface as sface_module

    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path))
    path = sface_module.fp32_onnx_path()
    assert path.parent == tmp_path and path.is_file()
    stamp = path.stat().st_mtime_ns
    assert sface_module.fp32_onnx_path().stat().st_mtime_ns == stamp  # converted once
    import onnx

    model = onnx.load(str(path))
    assert {n.op_type for n in model.graph.node}.isdisjoint({"DequantizeLinear", "Reshape", "Constant"})
    assert [i.name for i in model.graph.input] == ["data"]


@pytest.mark.slow
def test_dlib_worker_processes_give_the_same_embeddings(dlib_recognizer, sample_faces):
    from idinpaint.recognizers.dlib_resnet import DlibRecognizer

    parallel = DlibRecognizer(workers=2)
    try:
        np.testing.assert_allclose(parallel.embed(sample_faces), dlib_recognizer.embed(sample_faces), atol=1e-6)
    finally:
        parallel.close()
