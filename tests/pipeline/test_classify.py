"""The shipped gender classifier: loads, classifies synthetic faces, batches, and reaches its
accuracy on held-out real faces (shared data only)."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch

from pipeline.align import align_face
from pipeline.classify import GenderClassifier
from pipeline.errors import WeightsError
from pipeline.latent.synth import sample_face
from pipeline.resnet import ResNet18
from pipeline.types import Gender
from pipeline.weights import default_weights_dir


@pytest.fixture(scope="module")
def classifier() -> GenderClassifier:
    return GenderClassifier.load(device="cpu")


def test_card_describes_the_shipped_weights(classifier):
    card = classifier.card
    assert card["architecture"] == "resnet18"
    assert card["classes"] == ["male", "female"]
    held_out = card["accuracy_percent"]["celeba held-out"]
    assert held_out["count"] > 0 and {"male", "female", "overall"} <= set(held_out)


def test_class_centre_faces_get_their_gender(classifier, latent_model):
    """The model's average man and average woman (temperature 0) are told apart, surely."""
    rng = np.random.default_rng(0)
    for gender in Gender:
        face = sample_face(latent_model, rng, gender, temperature=0.0)
        verdict = classifier.classify([align_face(face.image, face.landmarks)])[0]
        assert verdict.gender is gender and verdict.confidence > 0.8


def test_most_synthetic_faces_get_their_gender(classifier, synthetic_faces):
    """Faces drawn around the class centres are blurry, average-looking people; most of them
    must still get the gender they were drawn for."""
    crops = [align_face(f.image, f.landmarks) for f in synthetic_faces]
    verdicts = classifier.classify(crops)
    right = sum(v.gender is f.gender for v, f in zip(verdicts, synthetic_faces, strict=True))
    assert right >= 3
    assert all(0.5 <= v.confidence <= 1.0 for v in verdicts)


def test_batched_and_single_verdicts_agree(classifier, synthetic_faces):
    crops = [align_face(f.image, f.landmarks).image for f in synthetic_faces]
    together = classifier.probabilities(crops)
    apart = np.concatenate([classifier.probabilities([c]) for c in crops])
    assert np.allclose(together, apart, atol=1e-4)
    assert classifier.probabilities([]).shape == (0, 2)


def test_a_dim_window_is_stretched_and_a_lit_one_left_alone(classifier):
    spec = classifier.spec
    rng = np.random.default_rng(3)
    lit = rng.integers(60, 200, (spec.height, spec.width, 3), dtype=np.uint8)
    assert spec.exposed(lit) is lit
    dim = (lit * 0.15).astype(np.uint8)
    stretched = spec.exposed(dim).astype(np.float32)
    assert stretched.mean() == pytest.approx(spec.exposure[0], abs=2)
    assert stretched.std() == pytest.approx(spec.exposure[1], abs=3)


def test_a_face_in_dim_light_keeps_its_verdict(classifier, synthetic_faces):
    """The same faces at 12 % of their brightness (a dim audience) get the verdicts they get
    lit; without the stretch, both women were called men here."""
    crops = [align_face(f.image, f.landmarks).image for f in synthetic_faces]
    dim = [(c * 0.12).astype(np.uint8) for c in crops]
    lit = classifier.probabilities(crops).argmax(axis=1)
    assert (classifier.probabilities(dim).argmax(axis=1) == lit).all()


def test_any_crop_size_is_accepted(classifier, synthetic_faces):
    face = synthetic_faces[0]
    small = classifier.probabilities([align_face(face.image, face.landmarks, 128).image])
    large = classifier.probabilities([align_face(face.image, face.landmarks, 384).image])
    assert small.argmax() == large.argmax()


def test_state_dict_uses_torchvision_names():
    names = set(ResNet18(2).state_dict())
    assert {"conv1.weight", "layer4.1.bn2.running_var", "fc.weight", "fc.bias"} <= names
    try:
        import torchvision
    except Exception as error:  # a CUDA torchvision wheel beside a CPU torch fails here
        pytest.skip(f"torchvision does not import here ({type(error).__name__})")
    reference = torchvision.models.resnet18(num_classes=2).state_dict()
    ours = ResNet18(2).state_dict()
    assert {k: v.shape for k, v in reference.items()} == {k: v.shape for k, v in ours.items()}


def test_a_card_for_another_model_is_refused(tmp_path):
    for name in ("gender_classifier.json", "gender_classifier.pt"):
        shutil.copy(default_weights_dir() / name, tmp_path / name)
    card = json.loads((tmp_path / "gender_classifier.json").read_text())
    card["architecture"] = "resnet50"
    (tmp_path / "gender_classifier.json").write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="cannot run"):
        GenderClassifier.load(tmp_path, device="cpu")


def test_weights_that_are_not_torch_files_are_refused(tmp_path):
    """A file whose checksum matches its card but that is no torch file at all."""
    shutil.copy(default_weights_dir() / "gender_classifier.json", tmp_path)
    (tmp_path / "gender_classifier.pt").write_bytes(b"not a torch file")
    card = json.loads((tmp_path / "gender_classifier.json").read_text())
    card["sha256"] = hashlib.sha256(b"not a torch file").hexdigest()
    (tmp_path / "gender_classifier.json").write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="does not load"):
        GenderClassifier.load(tmp_path, device="cpu")


def test_missing_weights_fail_clearly(tmp_path):
    with pytest.raises(WeightsError, match=r"gender_classifier\.json is missing"):
        GenderClassifier.load(tmp_path, device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_and_cpu_agree(synthetic_faces):
    crops = [align_face(f.image, f.landmarks).image for f in synthetic_faces]
    cpu = GenderClassifier.load(device="cpu").probabilities(crops)
    gpu = GenderClassifier.load(device="cuda").probabilities(crops)
    assert np.allclose(cpu, gpu, atol=1e-2)


@pytest.fixture(scope="module")
def held_out_table(classifier, shared_data, tmp_path_factory) -> dict:
    """Accuracy on the held-out CelebA photos (listed on the card; no training run saw them),
    aligned by the pipeline itself (just those files are aligned, into a temporary cache)."""
    from pipeline.training.classifier import accuracy_table
    from pipeline.training.facecache import prepare_faces

    cache = tmp_path_factory.mktemp("faces")
    faces = prepare_faces(shared_data, size=192, cache_dir=cache, quiet=True, splits={"test"})
    return accuracy_table(classifier.model, classifier.spec, faces.where("test"), classifier.device)


def test_card_lists_the_held_out_photos(classifier, shared_data):
    from pipeline.training.dataset import list_sources

    held_out = sorted(s.path.name for s in list_sources(shared_data) if s.split == "test")
    assert classifier.card["held_out"]["files"] == held_out


@pytest.mark.slow
def test_held_out_accuracy_does_not_regress(held_out_table):
    """The network alone (no second opinion) measured 97.1 % male / 98.1 % female here (2,114
    aligned faces); a retrain that falls below 96 % in either class is a regression."""
    assert held_out_table["count"] > 2000
    assert min(held_out_table[g.value] for g in Gender) >= 96.0, held_out_table


@pytest.fixture(scope="module")
def end_to_end(classifier, shared_data) -> dict[str, float]:
    """`faceanon classify`'s own path (the network and its second opinion) over every held-out
    photo: the share of photos (per class and overall) whose largest face gets CelebA's label;
    no face found counts as wrong."""
    from pipeline.detect import PHOTO_DETECTOR, FaceDetector
    from pipeline.second_opinion import with_second_opinion
    from pipeline.training.dataset import list_sources
    from stream.classifyjob import classify_files

    sources = [s for s in list_sources(shared_data) if s.kind == "photo" and s.split == "test"]
    detector = FaceDetector(PHOTO_DETECTOR)
    records = classify_files([s.path for s in sources], detector, with_second_opinion(classifier))
    right = np.array(
        [
            bool(r["faces"]) and r["faces"][0]["gender"] == s.gender.value
            for s, r in zip(sources, records, strict=True)
        ]
    )
    found = np.array([bool(r["faces"]) for r in records])
    genders = np.array([s.gender.value for s in sources])
    shares = {g.value: 100 * float(right[genders == g.value].mean()) for g in Gender}
    on_found = {g.value: 100 * float(right[found & (genders == g.value)].mean()) for g in Gender}
    return {
        "overall": 100 * float(right.mean()),
        **shares,
        "found": {"overall": 100 * float(right[found].mean()), **on_found},
        "photos": len(sources),
    }


@pytest.mark.slow
def test_every_held_out_photo_counts_and_does_not_regress(end_to_end):
    """Measured 98.00 % overall (male 97.75 %, female 98.18 %) over 2,154 photos."""
    assert end_to_end["photos"] > 2000
    assert end_to_end["overall"] >= 97.0, end_to_end
    assert min(end_to_end[g.value] for g in Gender) >= 96.0, end_to_end


@pytest.mark.slow
def test_every_held_out_photo_counts_meets_target(end_to_end):
    """The issue's end-to-end target: ≥ 98 % of every held-out photo (met with the second
    opinion: 98.00 %; the network alone gave 97.59 %)."""
    assert end_to_end["overall"] >= 98.0, end_to_end


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="target not met yet: 98.05 % of the photos with a face found, male 97.86 % / "
    "female 98.18 % (network alone: 97.63 %, male 97.18 %)",
)
def test_found_faces_meet_target(end_to_end):
    """The issue's target on the faces the pipeline finds: ≥ 98.5 % overall, ≥ 98 % a class."""
    found = end_to_end["found"]
    assert found["overall"] >= 98.5, found
    assert min(found[g.value] for g in Gender) >= 98.0, found
