"""The batch report: one JSON and one CSV in the output folder, per file and in total."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_output
from ..report import REPORT_VERSION
from .manifest import DONE, FAILED, FileRecord

REPORT_JSON = "batch-report.json"
REPORT_CSV = "batch-report.csv"
COLUMNS = (
    "input",
    "output",
    "state",
    "reason",
    "frames",
    "faces",
    "swapped",
    "blurred",
    "failed",
    "seconds",
    "note",
    "parts",
    "peak_rss_mb",
    "hash",
)
_SUMMED = ("frames", "faces", "swapped", "blurred", "failed", "seconds")


def file_row(record: FileRecord) -> dict[str, Any]:
    """One file's line: `failed` is 1 when the file failed, so the totals count them."""
    return {
        "input": record.input,
        "output": record.output,
        "state": record.state,
        "reason": record.reason,
        "frames": record.frames or 0,
        "faces": record.faces or 0,
        "swapped": record.swapped or 0,
        "blurred": record.blurred or 0,
        "failed": int(record.state == FAILED),
        "seconds": round(record.seconds or 0.0, 3),
        "note": record.note,
        "parts": record.parts,
        "peak_rss_mb": record.peak_rss_mb,
        "hash": record.hash,
    }


def totals(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    summed = {k: sum(r[k] for r in rows) for k in _SUMMED}
    summed["seconds"] = round(summed["seconds"], 3)
    return {"files": len(rows), "done": sum(r["state"] == DONE for r in rows), **summed}


def write_summary(
    folder: Path,
    records: Sequence[FileRecord],
    settings: dict[str, Any],
    extra: dict[str, Any],
) -> tuple[Path, Path]:
    """Write both reports atomically; return their paths."""
    rows = [file_row(r) for r in records]
    total = totals(rows)
    document = {
        "report_version": REPORT_VERSION,
        "command": "batch",
        "settings": settings,
        **extra,
        "totals": total,
        "files": rows,
    }
    json_path, csv_path = folder / REPORT_JSON, folder / REPORT_CSV
    with atomic_output(json_path) as tmp:
        tmp.write_text(json.dumps(document, indent=2) + "\n")
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    writer.writerow(
        {
            "input": "TOTAL",
            "state": f"{total['done']}/{total['files']} done",
            **{k: total[k] for k in _SUMMED},
        }
    )
    with atomic_output(csv_path) as tmp:
        tmp.write_text(text.getvalue())
    return json_path, csv_path
