"""`faceanon classify`: every face of every image with its gender verdict."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import cv2

from pipeline.align import align_face
from pipeline.classify import GenderClassifier
from pipeline.detect import FaceDetector
from pipeline.landmarks import Landmarker

from .images import read_image


def classify_files(
    files: list[Path], detector: FaceDetector, classifier: GenderClassifier
) -> list[dict[str, Any]]:
    """Per file: its faces (box, gender, confidence), largest first."""
    landmarker = Landmarker()
    records = []
    for path in files:
        frame = read_image(path).bgr
        detections = sorted(detector.detect(frame), key=lambda d: -d.box.area)
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        crops = [align_face(frame, landmarker.fit(gray, d.box)) for d in detections]
        verdicts = classifier.classify(crops)
        faces = [
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
        records.append({"file": str(path), "faces": faces})
    return records


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
