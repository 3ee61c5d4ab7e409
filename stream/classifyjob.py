"""`faceanon classify`: every face of every image with its gender verdict."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.align import align_face
from pipeline.classify import Classifier
from pipeline.detect import FaceDetector
from pipeline.landmarks import Landmarker

from .images import read_pages


def classify_files(
    files: list[Path], detector: FaceDetector, classifier: Classifier
) -> list[dict[str, Any]]:
    """Per file: its faces (box, gender, confidence), largest first; a multi-page TIFF's faces
    page by page, each with its page number."""
    landmarker = Landmarker()
    records = []
    for path in files:
        pages = read_pages(path)
        faces = []
        for number, page in enumerate(pages, 1):
            found = _classify_frame(page.bgr, detector, landmarker, classifier)
            faces.extend({**face, "page": number} if len(pages) > 1 else face for face in found)
        records.append({"file": str(path), "faces": faces})
    return records


def _classify_frame(
    frame: np.ndarray, detector: FaceDetector, landmarker: Landmarker, classifier: Classifier
) -> list[dict[str, Any]]:
    """The faces of one frame, largest first."""
    detections = sorted(detector.detect(frame), key=lambda d: -d.box.area)
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    crops = [align_face(frame, landmarker.fit(gray, d.box)) for d in detections]
    verdicts = classifier.classify(crops)
    return [
        {
            "box": {
                "left": round(d.box.left),
                "top": round(d.box.top),
                "right": round(d.box.right),
                "bottom": round(d.box.bottom),
            },
            "gender": v.gender.value,
            "confidence": round(v.confidence, 4),
        }
        for d, v in zip(detections, verdicts, strict=True)
    ]


def render(records: list[dict[str, Any]], fmt: str) -> str:
    """CSV rows `file,gender,confidence` (one per face; `none` for a file without faces), or
    JSON."""
    if fmt == "json":
        return json.dumps(records, indent=2) + "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "gender", "confidence"])
    for record in records:
        if not record["faces"]:
            writer.writerow([record["file"], "none", ""])
        for face in record["faces"]:
            writer.writerow([record["file"], face["gender"], f"{face['confidence']:.4f}"])
    return buffer.getvalue()
