"""Reading `/input` and writing `/output` per the Enclave container contract `enclave/v1`.

`run(score_image)` is the whole entrypoint of an example algorithm: it reads the manifest, loads
each case's first DICOM frame as float32, asks `score_image(pixels)` for the probability of the
positive label and writes `/output/predictions.json` with one finite score in [0, 1] per case.
A case that cannot be read gets 0.5 and a line on stderr instead of failing the whole run.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom

NEUTRAL_SCORE = 0.5


def run(score_image: Callable[[np.ndarray], float]) -> None:
    input_dir = Path(os.environ.get("ENCLAVE_INPUT", "/input"))
    output_dir = Path(os.environ.get("ENCLAVE_OUTPUT", "/output"))
    manifest = json.loads((input_dir / "manifest.json").read_text())
    scores = {}
    for case in manifest["cases"]:
        scores[case["id"]] = score_case(case, input_dir, score_image)
    write_predictions(scores, output_dir)
    print(f"scored {len(scores)} cases", file=sys.stderr)


def score_case(case: dict, input_dir: Path, score_image: Callable[[np.ndarray], float]) -> float:
    try:
        return float(score_image(load_pixels(input_dir / case["files"][0])))
    except Exception as error:  # one bad case must not sink the run
        print(f"case {case['id']}: {type(error).__name__}: {error}", file=sys.stderr)
        return NEUTRAL_SCORE


def load_pixels(path: Path) -> np.ndarray:
    """The first frame of a single-channel DICOM image, as float32 stored values."""
    pixels = pydicom.dcmread(path).pixel_array
    if pixels.ndim == 3:
        pixels = pixels[0]
    return pixels.astype(np.float32)


def normalize(image: np.ndarray) -> np.ndarray:
    """Centre on the median and scale by the 1-99 percentile range, clipped to +-8."""
    low, median, high = np.percentile(image, [1, 50, 99])
    scaled = (image - median) / max(float(high - low), 1e-6)
    return np.clip(scaled, -8, 8).astype(np.float32)


def write_predictions(scores: dict[str, float], output_dir: Path) -> None:
    predictions = {case_id: {"score": clamp_score(score)} for case_id, score in scores.items()}
    (output_dir / "predictions.json").write_text(json.dumps(predictions, indent=1) + "\n")


def clamp_score(score: float) -> float:
    if not math.isfinite(score):
        return NEUTRAL_SCORE
    return min(max(float(score), 0.0), 1.0)
