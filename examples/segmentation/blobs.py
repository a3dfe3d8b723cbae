"""Bright round blobs on a locally even background, numpy only.

`blob_map(image)` gives, per pixel and for a few radii (RADII, px), how far the mean of a square
core (about the disk inside the radius) stands above the mean of the ring around it (out to
twice the radius), in standard deviations of that ring; the best radius wins. Bright lesions on
even tissue become high peaks; edges of anatomy stay lower because their ring varies. Pixels too
close to the border for the largest ring to fit score -inf.
"""

from __future__ import annotations

import numpy as np

RADII = (5, 8, 11)


def box_sum(image: np.ndarray, size: int) -> np.ndarray:
    """The sum over a size x size window around each pixel (edges repeated), via an integral
    image."""
    half = size // 2
    padded = np.pad(image, half, mode="edge")
    integral = np.pad(padded.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    rows, cols = image.shape
    return (integral[size:size + rows, size:size + cols] - integral[:rows, size:size + cols]
            - integral[size:size + rows, :cols] + integral[:rows, :cols])


def blob_map(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(score, radius) per pixel: the best core-versus-ring contrast and its radius."""
    image = image.astype(np.float64)
    floor = 1e-6 + 0.01 * float(image.std())
    best = np.full(image.shape, -np.inf)
    best_radius = np.zeros(image.shape)
    for radius in RADII:
        inner, outer = 2 * int(0.7 * radius) + 1, 4 * radius + 1
        core, whole = box_sum(image, inner), box_sum(image, outer)
        core_sq, whole_sq = box_sum(image**2, inner), box_sum(image**2, outer)
        ring_n = outer**2 - inner**2
        ring_mean = (whole - core) / ring_n
        ring_std = np.sqrt(np.maximum((whole_sq - core_sq) / ring_n - ring_mean**2, 0))
        score = (core / inner**2 - ring_mean) / (ring_std + floor)
        margin = radius + 2
        score[:margin], score[-margin:] = -np.inf, -np.inf
        score[:, :margin], score[:, -margin:] = -np.inf, -np.inf
        better = score > best
        best[better], best_radius[better] = score[better], radius
    return best, best_radius
