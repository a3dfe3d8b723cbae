"""Segmentation boundary-metrics benchmark: cropped EDTs vs full-volume EDTs (metrics.md §5).

Row ``surface-metrics-512x512x300``: a synthetic organ pair in a 512x512x300 volume at spacing
(0.8, 0.8, 2.5) mm: a reference ellipsoid of ~0.47 M voxels and a shifted, shrunk prediction.
ours = ``segmentation_case_metrics(..., metrics=["hd95", "nsd"], nsd_tolerance_mm=2.0)`` on the
full label maps (median of 3 runs, after one warm-up); reference = the same HD95 and NSD@2 mm from
erosion surfaces and **uncropped** full-volume EDTs (the MetricsReloaded pattern), run once
(~45 s and ~4-5 GB peak on 2 vCPUs). HD95 must agree to 1e-6 mm and NSD to 1e-12.
Target: ratio = ours / reference ≤ 0.05.

Run: ``.venv/bin/python benchmarks/bench_surface.py`` from the repository root.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

SHAPE = (512, 512, 300)
SPACING = (0.8, 0.8, 2.5)
TOLERANCE_MM = 2.0
PERCENTILE = 95.0
TARGET_RATIO = 0.05


def ellipsoid(shape: tuple[int, ...], spacing: tuple[float, ...], centre: tuple[float, ...],
              radii_mm: tuple[float, ...]) -> np.ndarray:
    """uint8 mask of an axis-aligned ellipsoid (centre in voxels, radii in mm), built in its box only."""
    mask = np.zeros(shape, dtype=np.uint8)
    box = tuple(
        slice(max(0, int(c - r / s) - 1), min(n, int(c + r / s) + 2))
        for c, r, s, n in zip(centre, radii_mm, spacing, shape, strict=True)
    )
    grids = np.ogrid[box]
    inside = sum(((g - c) * s / r) ** 2 for g, c, s, r in zip(grids, centre, spacing, radii_mm, strict=True))
    mask[box] = inside <= 1.0
    return mask


def organ_pair() -> tuple[np.ndarray, np.ndarray]:
    """Reference organ (~0.47 M voxels) and a prediction shifted by (4, -4, 2) voxels, shrunk 5 %."""
    reference = ellipsoid(SHAPE, SPACING, (250, 260, 150), (60.0, 50.0, 60.0))
    prediction = ellipsoid(SHAPE, SPACING, (254, 256, 152), (57.0, 47.5, 57.0))
    return reference, prediction


def full_volume_hd95_nsd(reference: np.ndarray, prediction: np.ndarray) -> tuple[float, float]:
    """HD95 and NSD@2 mm with erosion surfaces and EDTs over the whole volume (no cropping)."""
    structure = ndimage.generate_binary_structure(reference.ndim, 1)
    surfaces = []
    for labels in (reference, prediction):
        mask = labels == 1
        surfaces.append(mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0))
    forward = ndimage.distance_transform_edt(~surfaces[1], sampling=SPACING)[surfaces[0]]
    backward = ndimage.distance_transform_edt(~surfaces[0], sampling=SPACING)[surfaces[1]]
    hd95 = max(np.percentile(forward, PERCENTILE), np.percentile(backward, PERCENTILE))
    within = np.count_nonzero(forward <= TOLERANCE_MM) + np.count_nonzero(backward <= TOLERANCE_MM)
    return float(hd95), within / (forward.size + backward.size)


def ours_hd95_nsd(reference: np.ndarray, prediction: np.ndarray) -> tuple[float, float]:
    from evaluation.metrics.segmentation import segmentation_case_metrics

    values = segmentation_case_metrics(reference, prediction, spacing=SPACING, classes=[1],
                                       metrics=["hd95", "nsd"], nsd_tolerance_mm=TOLERANCE_MM,
                                       hd_percentile=PERCENTILE)[1]
    return values["hd95"], values["nsd"]


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def bench_surface_metrics() -> tuple[str, float, float]:
    reference, prediction = organ_pair()
    ours_hd95_nsd(reference, prediction)  # warm-up
    runs = [timed(ours_hd95_nsd, reference, prediction) for _ in range(3)]
    ours = statistics.median(seconds for seconds, _ in runs)
    hd95, nsd = runs[0][1]
    reference_seconds, (full_hd95, full_nsd) = timed(full_volume_hd95_nsd, reference, prediction)
    assert abs(hd95 - full_hd95) <= 1e-6, f"HD95 {hd95} vs full volume {full_hd95}"
    assert abs(nsd - full_nsd) <= 1e-12, f"NSD {nsd} vs full volume {full_nsd}"
    return "surface-metrics-512x512x300", ours, reference_seconds


def run() -> list[tuple[str, float, float]]:
    """Rows of (name, ours_s, reference_s): ours is a median of 3, the reference a single run."""
    return [bench_surface_metrics()]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    for name, ours, reference in run():
        print(f"{name}: ours={ours:.3g}s reference={reference:.3g}s ratio={ours / reference:.3g}")
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"(ours: median of 3; reference: 1 run; peak RSS {peak_gb:.1f} GB; target ratio ≤ {TARGET_RATIO})")
