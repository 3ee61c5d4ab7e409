"""Identity readouts in a worker process: same figures as inline, delivered on a later frame."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from pipeline import identity_worker
from pipeline.align import align_face
from pipeline.classify import GenderClassifier
from pipeline.detect import FaceDetector
from pipeline.facepipeline import FacePipeline, PipelineOptions
from pipeline.identity_worker import BackgroundIdentity, lowest_priority
from pipeline.landmarks import Landmarker
from pipeline.latent.swapper import LatentSwapper
from pipeline.similarity import IdentityEncoder, identity_readout
from pipeline.track import TrackerConfig
from pipeline.types import Similarity

PATIENCE_S = 120.0  # the worker starts a Python process and loads dlib's models


@pytest.fixture(scope="module")
def worker():
    identity = BackgroundIdentity()
    assert identity.wait_ready(PATIENCE_S)
    yield identity
    identity.close()


def collected(identity: BackgroundIdentity, key: int) -> Similarity:
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        figures = identity.collect(key, Similarity(pixel=50.0))
        if figures.identity is not None:
            return figures
        time.sleep(0.02)
    raise AssertionError(f"no readout for {key} in {PATIENCE_S:g} s")


def test_worker_gives_the_inline_figures(worker, face_frame):
    frame, landmarks = face_frame
    crop = align_face(frame, landmarks)
    darker = (crop.image * 0.6).astype(np.uint8)
    assert worker.submit(1, crop, darker)
    assert not worker.submit(1, crop, crop.image)  # one in flight per track
    figures = collected(worker, 1)
    identity, distance, risk = identity_readout(
        IdentityEncoder(), crop.image, crop.landmarks, darker
    )
    assert figures.pixel == 50.0  # the frame's own figures are kept
    assert figures.identity == pytest.approx(identity, abs=1e-6)
    assert figures.identity_distance == pytest.approx(distance, abs=1e-6)
    assert figures.reid_risk is risk
    assert worker.collect(1, Similarity(pixel=1.0)) == Similarity(pixel=1.0)  # taken once


def test_finished_readouts_of_gone_tracks_are_dropped(worker, face_frame):
    frame, landmarks = face_frame
    crop = align_face(frame, landmarks)
    worker.submit(7, crop, crop.image)
    deadline = time.monotonic() + PATIENCE_S
    while not worker._pending[7].done() and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.forget_except({8})
    assert worker.collect(7, Similarity(pixel=1.0)).identity is None
    assert worker.submit(7, crop, crop.image)  # free again
    assert collected(worker, 7).identity_distance == pytest.approx(0.0, abs=1e-6)


def test_a_failing_worker_stops_readouts_not_the_pipeline(face_frame):
    frame, landmarks = face_frame
    crop = align_face(frame, landmarks)
    identity = BackgroundIdentity()
    try:
        identity.submit(1, crop, np.zeros((3, 3), np.uint8))  # no colour: the worker raises
        deadline = time.monotonic() + PATIENCE_S
        while not identity._pending[1].done() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert identity.collect(1, Similarity(pixel=9.0)) == Similarity(pixel=9.0)
        assert not identity.submit(2, crop, crop.image)
    finally:
        identity.close()


def test_pipeline_reports_each_readout_on_a_later_frame(worker, face_frame):
    frame, _ = face_frame
    pipeline = FacePipeline(
        FaceDetector(),
        Landmarker(),
        GenderClassifier.load(device="cpu"),
        LatentSwapper.load(),
        PipelineOptions(identity=True),
        worker,
        tracking=TrackerConfig(vote_frames=2),
    )
    measured = []
    for i in range(12):
        outcome = pipeline.process(np.roll(frame, shift=2 * i, axis=1)).faces[0]
        measured.append(outcome.result.similarity.identity is not None)
        time.sleep(0.4)  # a readout takes a quarter second: the next frame finds it done
    first = measured.index(True)
    assert first >= 1 and sum(measured) == 1  # one readout a track per 50 frames


def test_background_readouts_need_tracking(worker):
    with pytest.raises(ValueError, match="tracking"):
        FacePipeline(
            FaceDetector(),
            Landmarker(),
            None,
            None,
            PipelineOptions(mode="blur", identity=True),
            worker,
        )


def test_a_killed_worker_stops_readouts_without_an_error(face_frame):
    frame, landmarks = face_frame
    crop = align_face(frame, landmarks)
    identity = BackgroundIdentity()
    try:
        assert identity.wait_ready(PATIENCE_S)
        for process in identity._pool._processes.values():
            process.kill()
        deadline = time.monotonic() + PATIENCE_S
        key = 0
        # a fresh key each time: a key still in flight is refused for that reason alone
        while time.monotonic() < deadline:
            key += 1
            if not identity.submit(key, crop, crop.image):
                break
            figures = identity.collect(key, Similarity(pixel=3.0))  # fails, or waits
            assert figures.identity is None
            time.sleep(0.05)
        assert not identity.submit(key + 1, crop, crop.image)
    finally:
        identity.close()


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
def test_the_worker_runs_only_on_idle_cycles():
    code = (
        "import os\n"
        "from pipeline.identity_worker import lowest_priority\n"
        "lowest_priority()\n"
        "print(os.sched_getscheduler(0) == os.SCHED_IDLE)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"


def test_where_idle_scheduling_is_refused_the_worker_is_niced(monkeypatch):
    def refused(*_):
        raise OSError("not permitted")

    niced = []
    monkeypatch.setattr(identity_worker.os, "sched_setscheduler", refused, raising=False)
    monkeypatch.setattr(identity_worker.os, "setpriority", lambda *a: niced.append(a))
    lowest_priority(1234)
    assert niced == [(identity_worker.os.PRIO_PROCESS, 1234, identity_worker.WORKER_NICENESS)]


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
def test_the_worker_is_on_idle_cycles_from_its_start():
    """Before its imports and models (a second of CPU at start-up), not after them."""
    process = identity_worker.IdleSpawnContext().Process(target=time.sleep, args=(30,))
    process.start()
    try:
        assert os.sched_getscheduler(process.pid) == os.SCHED_IDLE
    finally:
        process.kill()
        process.join()


def test_close_stops_a_worker_still_loading_without_waiting_for_it():
    """Readouts still running at the end would be thrown away: close() stops the worker at
    once (it had waited a second for one still loading its models, on every short clip)."""
    readouts = BackgroundIdentity()
    (process,) = readouts._context.processes
    started = time.perf_counter()
    readouts.close()
    assert time.perf_counter() - started < 0.5
    assert not process.is_alive()
