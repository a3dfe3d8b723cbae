"""The segmentation example: threshold the strongest bright blob against its surroundings.

Per case and per frame: `blobs.blob_map`; when its peak reaches PEAK_SCORE, the mask is the
pixels within 1.5 radii of the peak that are brighter than halfway between the blob's core and
its ring (on a 3x3-smoothed image), else the mask is empty. Reads /input/manifest.json, writes
/output/<case-id>.npy (uint8 labels: 0 background, 1 lesion) with the case's shape. numpy (and
pydicom to read DICOM) only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pydicom
from blobs import blob_map, box_sum

PEAK_SCORE = 2.5


def segment_frame(frame: np.ndarray) -> np.ndarray:
    frame = frame.astype(np.float64)
    score, radii = blob_map(frame)
    peak = np.unravel_index(int(np.argmax(score)), score.shape)
    mask = np.zeros(frame.shape, dtype=np.uint8)
    if not score[peak] >= PEAK_SCORE:
        return mask
    radius = float(radii[peak])
    smooth = box_sum(frame, 3) / 9
    rows, cols = np.mgrid[: frame.shape[0], : frame.shape[1]]
    distance = np.hypot(rows - peak[0], cols - peak[1])
    core = smooth[distance <= 0.5 * radius].mean()
    ring = smooth[(distance >= 1.5 * radius) & (distance <= 2 * radius)].mean()
    mask[(distance <= 1.5 * radius) & (smooth >= (core + ring) / 2)] = 1
    return mask


def segment(pixels: np.ndarray, shape: list[int]) -> np.ndarray:
    """A mask of `shape` ([rows, columns] or [frames, rows, columns]) for the stored pixels."""
    if pixels.ndim == 3 and len(shape) == 2:  # one frame with colour samples
        pixels = pixels.mean(axis=-1)
    frames = pixels.reshape((-1, *pixels.shape[-2:]))
    mask = np.stack([segment_frame(frame) for frame in frames])
    return mask.reshape(shape)


def main() -> None:
    input_dir = Path(os.environ.get("ENCLAVE_INPUT", "/input"))
    output_dir = Path(os.environ.get("ENCLAVE_OUTPUT", "/output"))
    manifest = json.loads((input_dir / "manifest.json").read_text())
    for case in manifest["cases"]:
        pixels = pydicom.dcmread(input_dir / case["files"][0]).pixel_array
        shape = case.get("shape") or list(pixels.shape[:2])
        np.save(output_dir / f"{case['id']}.npy", segment(pixels, shape), allow_pickle=False)
    print(f"segmented {len(manifest['cases'])} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
