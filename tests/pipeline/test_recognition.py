"""dlib's face descriptor on ONNX Runtime: dlib's own numbers, a cached graph, fallbacks."""

from __future__ import annotations

import cv2
import dlib
import numpy as np
import pytest
import torch

from pipeline import models, recognition
from pipeline.descriptor_net import padded_sum
from pipeline.dlib_net_file import read_recognition_net
from pipeline.errors import WeightsError
from pipeline.onnx_graphs import OnnxUnavailable
from pipeline.recognition import MODEL_FILE, graph_name, load_describer
from pipeline.weights import sha256


@pytest.fixture(scope="module")
def graph_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    load_describer(folder=folder)  # exports once
    return folder


@pytest.fixture(scope="module")
def faces(synthetic_faces, group):
    """RGB images and dlib landmark shapes: the four synthetic faces, and the shipped group
    photo's faces (several to a batch)."""
    predictor = models.shape_predictor()
    cases = []
    for face in synthetic_faces:
        rgb = cv2.cvtColor(face.image, cv2.COLOR_BGR2RGB)
        rect = dlib.rectangle(0, 0, rgb.shape[1] - 1, rgb.shape[0] - 1)
        points = dlib.points([dlib.point(round(x), round(y)) for x, y in face.landmarks])
        cases.append((rgb, [dlib.full_object_detection(rect, points)]))
    rgb = cv2.cvtColor(cv2.imread(str(group)), cv2.COLOR_BGR2RGB)
    boxes = dlib.get_frontal_face_detector()(rgb, 1)
    assert len(boxes) >= 2
    cases.append((rgb, [predictor(rgb, box) for box in boxes]))
    return cases


def test_the_descriptors_are_dlibs(graph_folder, faces):
    dlib_encoder = dlib.face_recognition_model_v1(str(models.model_path(MODEL_FILE)))
    describer = load_describer(folder=graph_folder)
    assert describer.backend == "onnxruntime"
    for rgb, shapes in faces:
        ours = describer.describe(rgb, shapes)
        theirs = np.array([dlib_encoder.compute_face_descriptor(rgb, s) for s in shapes])
        assert ours.shape == (len(shapes), 128) and ours.dtype == np.float64
        assert np.abs(ours - theirs).max() < 1e-5
    assert describer.describe(faces[0][0], []).shape == (0, 128)


def test_torch_gives_the_same_descriptors(graph_folder, faces, monkeypatch):
    onnx = load_describer(folder=graph_folder)

    def unavailable(*_, **__):
        raise OnnxUnavailable("no runtime")

    monkeypatch.setattr(recognition, "cpu_session", unavailable)
    on_torch = load_describer(folder=graph_folder)
    assert on_torch.backend == "torch (cpu)"
    rgb, shapes = faces[-1]
    assert np.abs(on_torch.describe(rgb, shapes) - onnx.describe(rgb, shapes)).max() < 1e-5


def test_a_model_file_the_reader_cannot_read_falls_back_to_dlibs_own_code(
    tmp_path, faces, monkeypatch
):
    def unreadable(path):
        raise WeightsError(f"{path.name} is not dlib's face-recognition network: a new version")

    monkeypatch.setattr("pipeline.dlib_net_file.read_recognition_net", unreadable)
    describer = load_describer(folder=tmp_path)  # nothing cached: the export must read
    assert describer.backend == "dlib"
    rgb, shapes = faces[-1]
    dlib_encoder = dlib.face_recognition_model_v1(str(models.model_path(MODEL_FILE)))
    theirs = np.array([dlib_encoder.compute_face_descriptor(rgb, s) for s in shapes])
    assert np.abs(describer.describe(rgb, shapes) - theirs).max() < 1e-5


def test_the_graph_is_exported_once_and_then_read(graph_folder, monkeypatch):
    digest = sha256(models.model_path(MODEL_FILE))
    assert (graph_folder / graph_name(digest)).stat().st_size > 20_000_000

    def no_export(*_):
        raise AssertionError("exported again")

    monkeypatch.setattr(recognition, "export_graph", no_export)
    load_describer(folder=graph_folder)


def test_the_file_is_read_as_dlibs_published_network():
    net = read_recognition_net(models.model_path(MODEL_FILE))
    assert net.input_size == 150
    assert net.channel_means == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)
    assert net.stem.weight.shape == (32, 3, 7, 7) and net.stem.stride == 2
    assert len(net.blocks) == 14 and sum(b.pooled for b in net.blocks) == 4
    assert [b.second.weight.shape[0] for b in net.blocks if b.pooled] == [64, 128, 256, 256]
    assert net.projection.shape == (256, 128)


def test_other_files_are_refused(tmp_path):
    real = models.model_path(MODEL_FILE).read_bytes()
    cut = tmp_path / "cut.dat"
    cut.write_bytes(real[: len(real) // 2])
    for path in (cut, models.model_path("shape_predictor_68_face_landmarks.dat")):
        with pytest.raises(WeightsError, match="not dlib's face-recognition network"):
            read_recognition_net(path)
    with pytest.raises(WeightsError):
        read_recognition_net(tmp_path / "missing.dat")


def test_sums_of_different_shapes_are_zero_padded_at_the_end():
    """dlib's add_prev: a strided block's 3×3 output plus its pooled 64-channel 4×4 input."""
    block = torch.ones(1, 128, 3, 3)
    shortcut = torch.full((1, 64, 4, 4), 2.0)
    total = padded_sum(block, shortcut)
    assert total.shape == (1, 128, 4, 4)
    assert torch.all(total[:, :64, :3, :3] == 3) and torch.all(total[:, 64:, :3, :3] == 1)
    assert torch.all(total[:, :64, 3, :] == 2) and torch.all(total[:, 64:, 3, :] == 0)
