"""The detection example: the centres of the brightest blobs, scored by their contrast.

Per case: `blobs.blob_map` of the first frame, then up to MAX_DETECTIONS peaks, each the best
left after blanking SUPPRESS_PX around the ones before; a peak's score is its contrast squashed
into [0, 1). Reads /input/manifest.json and writes /output/predictions.json:
`{case_id: {"detections": [{"point": [row, column], "score": s}, ...]}}`. numpy (and pydicom to
read DICOM) only.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pydicom
from blobs import blob_map

MAX_DETECTIONS = 3
SUPPRESS_PX = 10
SCORE_SCALE = 3.0


def detect(frame: np.ndarray) -> list[dict]:
    score, _radii = blob_map(frame)
    rows, cols = np.mgrid[: frame.shape[0], : frame.shape[1]]
    detections = []
    for _ in range(MAX_DETECTIONS):
        peak = np.unravel_index(int(np.argmax(score)), score.shape)
        value = float(score[peak])
        if not math.isfinite(value) or value <= 0:
            break
        detections.append({"point": [int(peak[0]), int(peak[1])],
                           "score": round(1.0 - math.exp(-value / SCORE_SCALE), 6)})
        score[np.hypot(rows - peak[0], cols - peak[1]) <= SUPPRESS_PX] = -np.inf
    return detections


def main() -> None:
    input_dir = Path(os.environ.get("ENCLAVE_INPUT", "/input"))
    output_dir = Path(os.environ.get("ENCLAVE_OUTPUT", "/output"))
    manifest = json.loads((input_dir / "manifest.json").read_text())
    predictions = {}
    for case in manifest["cases"]:
        pixels = pydicom.dcmread(input_dir / case["files"][0]).pixel_array
        frame = pixels.reshape((-1, *pixels.shape[-2:]))[0] if pixels.ndim == 3 else pixels
        predictions[case["id"]] = {"detections": detect(frame.astype(np.float64))}
    (output_dir / "predictions.json").write_text(json.dumps(predictions, indent=1) + "\n")
    print(f"detected in {len(predictions)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
