"""Render the shipped samples from the project's own latent face model.

Every face here is synthetic: drawn by `pipeline.latent.synth.sample_face` from the fitted
distributions, with a fixed seed, so the files can be rebuilt exactly:

    python samples/make_samples.py            # portrait.png, group.png, clip.mp4
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from pipeline.latent.model import LatentFaceModel  # noqa: E402
from pipeline.latent.swapper import CARD_KIND, CARD_NAME, CARD_VERSION  # noqa: E402
from pipeline.latent.synth import BACKGROUND, sample_face  # noqa: E402
from pipeline.types import Gender  # noqa: E402
from pipeline.weights import read_card  # noqa: E402

SEED = 2026


def load_model() -> LatentFaceModel:
    _, path = read_card(CARD_NAME, CARD_KIND, CARD_VERSION)
    return LatentFaceModel.load(path)


def place(canvas: np.ndarray, face: np.ndarray, centre: tuple[int, int], size: int) -> None:
    """Paste a rendered face (plain background) at `centre`, `size` pixels across."""
    scaled = cv2.resize(
        face,
        (size, size),
        interpolation=cv2.INTER_AREA if size < face.shape[0] else cv2.INTER_CUBIC,
    )
    x0, y0 = centre[0] - size // 2, centre[1] - size // 2
    canvas[y0 : y0 + size, x0 : x0 + size] = scaled


def portrait(model: LatentFaceModel, rng: np.random.Generator) -> np.ndarray:
    canvas = np.full((640, 512, 3), BACKGROUND, np.uint8)
    face = sample_face(model, rng, Gender.MALE, size=448).image
    place(canvas, face, (256, 300), 448)
    return canvas


def group(model: LatentFaceModel, rng: np.random.Generator) -> np.ndarray:
    canvas = np.full((720, 1280, 3), BACKGROUND, np.uint8)
    layout = [
        ((200, 360), 300, Gender.FEMALE),
        ((520, 330), 260, Gender.MALE),
        ((820, 390), 220, Gender.FEMALE),
        ((1090, 360), 280, Gender.MALE),
    ]
    for centre, size, gender in layout:
        place(canvas, sample_face(model, rng, gender, size=256).image, centre, size)
    return canvas


def clip(
    model: LatentFaceModel, rng: np.random.Generator, path: Path, seconds: float = 4.0
) -> None:
    """Two faces gliding, turning and changing size, with a synthesized stereo soundtrack."""
    width, height, fps, sample_rate = 640, 360, 25, 44100
    faces = [sample_face(model, rng, g, size=256).image for g in (Gender.FEMALE, Gender.MALE)]
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": "23", "preset": "medium"}
        audio = container.add_stream("aac", rate=sample_rate, layout="stereo")
        frames = int(seconds * fps)
        for i in range(frames):
            t = i / fps
            canvas = np.full((height, width, 3), BACKGROUND, np.uint8)
            for j, face in enumerate(faces):
                phase = t * 1.3 + j * np.pi
                size = int(150 + 25 * np.sin(phase * 0.7))
                angle = 8 * np.sin(phase)
                centre = (
                    int(165 + 310 * j + 45 * np.sin(phase * 0.9)),
                    int(180 + 25 * np.cos(phase)),
                )
                turned = cv2.warpAffine(
                    face,
                    cv2.getRotationMatrix2D((128, 128), angle, 1.0),
                    (256, 256),
                    borderMode=cv2.BORDER_CONSTANT,
                    borderValue=BACKGROUND,
                )
                place(canvas, turned, centre, size)
            picture = av.VideoFrame.from_ndarray(canvas[..., ::-1].copy(), format="rgb24")
            for packet in video.encode(picture):
                container.mux(packet)
        samples = int(seconds * sample_rate)
        time = np.arange(samples) / sample_rate
        tremolo = 0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * time)
        left = 0.2 * tremolo * np.sin(2 * np.pi * 220.0 * time)
        right = 0.2 * tremolo * np.sin(2 * np.pi * 277.2 * time)
        sound = np.stack([left, right]).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = np.ascontiguousarray(sound[:, start : start + 1024])
            piece = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            piece.sample_rate = sample_rate
            piece.pts = start
            for packet in audio.encode(piece):
                container.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                container.mux(packet)


def main() -> None:
    model = load_model()
    rng = np.random.default_rng(SEED)
    cv2.imwrite(str(ROOT / "portrait.png"), portrait(model, rng))
    cv2.imwrite(str(ROOT / "group.png"), group(model, rng))
    clip(model, rng, ROOT / "clip.mp4")
    print(f"wrote portrait.png, group.png and clip.mp4 in {ROOT}")


if __name__ == "__main__":
    main()
