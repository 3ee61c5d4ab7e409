"""Settings reach the models they configure."""

from __future__ import annotations

from stream.build import (
    STREAM_MIN_FACE_FRACTION,
    WEBCAM_MIN_FACE_FRACTION,
    RunSettings,
    build_pipeline,
)


def test_smallest_face_follows_the_command_default_unless_given():
    still = build_pipeline(RunSettings(mode="blur"))
    stream = build_pipeline(
        RunSettings(mode="blur", min_face_fraction=STREAM_MIN_FACE_FRACTION), video=True
    )
    given = build_pipeline(
        RunSettings(mode="blur", min_face=30, min_face_fraction=STREAM_MIN_FACE_FRACTION)
    )
    assert still.detector.min_face_for(360, 640) == 20  # 1/20 of 360 is 18, raised to 20
    assert still.detector.min_face_for(720, 1280) == 36
    assert stream.detector.min_face_for(360, 640) == 24  # 1/15 of 360
    assert stream.detector.min_face_for(720, 1280) == 48
    assert given.detector.min_face_for(360, 640) == 30
    webcam = build_pipeline(
        RunSettings(mode="blur", min_face_fraction=WEBCAM_MIN_FACE_FRACTION), video=True
    )
    assert webcam.detector.min_face_for(480, 640) == 48


def test_photos_and_video_get_the_classifiers_second_opinion():
    from pipeline.second_opinion import SecondOpinionClassifier

    photos = build_pipeline(RunSettings(identity=False))
    video = build_pipeline(RunSettings(identity=False), video=True)
    assert isinstance(photos.classifier, SecondOpinionClassifier)
    assert isinstance(video.classifier, SecondOpinionClassifier)
    assert photos.classifier._describe is None  # loaded at the first unsure face
    assert video.classifier._describe is not None  # loaded before the first frame
    blur = build_pipeline(RunSettings(mode="blur", identity=False), video=True)
    assert blur.classifier is None
