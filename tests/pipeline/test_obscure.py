import numpy as np

from pipeline.obscure import cover_region, obscure, obscure_whole
from pipeline.types import Box


def _textured(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (240, 320, 3)).astype(np.uint8)


def test_cover_hides_the_face_box_and_leaves_the_rest():
    frame = _textured()
    box = Box(120, 80, 200, 170)
    out = obscure(frame.copy(), box, np.random.default_rng(1))
    inner = out[85:165, 125:195].astype(float)
    original = frame[85:165, 125:195].astype(float)
    # Nothing of the original detail survives: no correlation with the covered pixels.
    correlation = np.corrcoef(inner.ravel(), original.ravel())[0, 1]
    assert abs(correlation) < 0.1
    region = cover_region(box, frame.shape)
    outside = np.ones(frame.shape[:2], bool)
    outside[int(region.top) : int(region.bottom), int(region.left) : int(region.right)] = False
    assert np.array_equal(out[outside], frame[outside])


def test_cover_is_not_repeatable():
    """Fresh noise each time: two covers of the same face differ, so they cannot be averaged
    back to a deterministic blur that could be inverted."""
    frame = _textured()
    box = Box(100, 60, 180, 150)
    a = obscure(frame.copy(), box)
    b = obscure(frame.copy(), box)
    assert np.abs(a.astype(int) - b.astype(int))[70:140, 110:170].mean() > 5


def test_cover_clips_at_the_frame_edge():
    frame = _textured()
    out = obscure(frame.copy(), Box(-40, -30, 30, 40))
    assert out.shape == frame.shape
    assert not np.array_equal(out[:20, :20], frame[:20, :20])
    assert obscure(frame.copy(), Box(1000, 1000, 1100, 1100)) is not None


def test_a_whole_image_cover_reaches_every_corner():
    """`obscure_whole` (a photo in which no face was found): no detail survives anywhere, the
    corners included, whatever the image's shape; the input is left as it was."""
    for shape in ((240, 320), (320, 120), (60, 400)):
        frame = np.random.default_rng(2).integers(0, 256, (*shape, 3)).astype(np.uint8)
        before = frame.copy()
        out = obscure_whole(frame)
        assert np.array_equal(frame, before)
        h, w = shape
        for rows, cols in (
            (slice(0, 12), slice(0, 12)),
            (slice(h - 12, h), slice(w - 12, w)),
            (slice(0, 12), slice(w - 12, w)),
            (slice(h - 12, h), slice(0, 12)),
        ):
            inner, original = out[rows, cols].astype(float), frame[rows, cols].astype(float)
            correlation = np.corrcoef(inner.ravel(), original.ravel())[0, 1]
            assert abs(correlation) < 0.2, f"{shape}: a corner keeps its detail"
