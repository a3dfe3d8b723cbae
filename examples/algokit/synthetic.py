"""Synthetic training images for the example algorithms (numpy only).

The examples never see the challenge's cases: like a team, they train on images made from the
public task description: a 128x128 CT/MR-like slice, with or without one round, soft-edged,
bright lesion whose contrast is of the order of the slice's standard deviation. Backgrounds are
procedural: power-law noise, smooth "organs", thin bright rims, air outside the body. (Adding
crops of pydicom's own CT and MR test slices as backgrounds made the models generalize worse.)

`training_set(count, seed)` returns normalized float32 images `(count, 128, 128)` and int labels,
half of them positive (`training_set_with_masks` adds the lesion masks); the same seed gives the
same arrays.
"""

from __future__ import annotations

import numpy as np
from cases import normalize

SIZE = 128
RADIUS_RANGE = (3.0, 13.0)
CONTRAST_RANGE = (0.4, 1.8)


def training_set(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels, _ = training_set_with_masks(count, seed)
    return images, labels


def training_set_with_masks(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images, labels and boolean lesion masks (the disk, all false for negatives)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(count, dtype=np.int64)
    labels[: count // 2] = 1
    rng.shuffle(labels)
    images = np.empty((count, SIZE, SIZE), dtype=np.float32)
    masks = np.zeros((count, SIZE, SIZE), dtype=bool)
    for index in range(count):
        image = procedural_background(rng)
        if labels[index]:
            added = lesion(rng, image)
            image = image + added
            masks[index] = added >= 0.5 * added.max()
        images[index] = normalize(np.rint(image))
    return images, labels, masks


def procedural_background(rng: np.random.Generator) -> np.ndarray:
    rows, cols = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    image = rng.uniform(0.05, 0.4) * power_law_noise(rng, rng.uniform(1.5, 3.5))
    for _ in range(rng.integers(1, 6)):  # smooth "organs"
        image += rng.uniform(-1.5, 1.5) * soft_ellipse(rng, rows, cols, rng.uniform(8, 50))
    for _ in range(rng.integers(0, 3)):  # thin bright rims, like bone or fat
        outer = soft_ellipse(rng, rows, cols, rng.uniform(30, 90))
        image += rng.uniform(1.0, 3.0) * outer * (1 - _shrunk(outer))
    if rng.random() < 0.5:  # air outside the body
        image = np.where(soft_ellipse(rng, rows, cols, rng.uniform(60, 110)) > 0.5, image, -3.0)
    image += rng.uniform(0.0, 0.08) * rng.standard_normal(image.shape)
    gain, offset = rng.uniform(50, 400), rng.uniform(200, 1200)
    return np.maximum(image * gain + offset, 0)


def power_law_noise(rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Unit-variance noise with a 1/f^exponent power spectrum."""
    frequency = np.hypot(*np.meshgrid(np.fft.fftfreq(SIZE), np.fft.fftfreq(SIZE), indexing="ij"))
    frequency[0, 0] = 1.0
    spectrum = np.fft.fft2(rng.standard_normal((SIZE, SIZE))) / frequency ** (exponent / 2)
    spectrum[0, 0] = 0
    noise = np.fft.ifft2(spectrum).real
    return noise / max(float(noise.std()), 1e-9)


def soft_ellipse(rng: np.random.Generator, rows: np.ndarray, cols: np.ndarray, size: float) -> np.ndarray:
    center = rng.uniform(0, SIZE, 2)
    axes = size * rng.uniform(0.5, 1.0, 2)
    angle = rng.uniform(0, np.pi)
    dr, dc = rows - center[0], cols - center[1]
    u = (dr * np.cos(angle) + dc * np.sin(angle)) / axes[0]
    v = (-dr * np.sin(angle) + dc * np.cos(angle)) / axes[1]
    return 0.5 * (1 - np.tanh((np.hypot(u, v) - 1) * size / 3))


def _shrunk(mask: np.ndarray) -> np.ndarray:
    """The mask eroded by a couple of pixels (a max-filter of the complement, numpy only)."""
    outside = 1 - mask
    grown = outside.copy()
    for shift in (-2, -1, 1, 2):
        grown = np.maximum(grown, np.roll(outside, shift, axis=0))
        grown = np.maximum(grown, np.roll(outside, shift, axis=1))
    return 1 - grown


# --- lesions -------------------------------------------------------------------------------


def lesion(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """A soft-edged bright disk, mostly on homogeneous tissue, scaled by the image's std."""
    radius = rng.uniform(*RADIUS_RANGE)
    margin = int(np.ceil(radius)) + 2
    row, col = _lesion_center(rng, image, margin, radius)
    rows, cols = np.mgrid[:SIZE, :SIZE]
    distance = np.hypot(rows - row, cols - col)
    softness = rng.uniform(0.4, 1.6)
    profile = 0.5 * (1 - np.tanh((distance - radius) / (2 * softness)))
    return np.rint(rng.uniform(*CONTRAST_RANGE) * max(float(image.std()), 1.0) * profile)


def _lesion_center(
    rng: np.random.Generator, image: np.ndarray, margin: int, radius: float
) -> tuple[int, int]:
    inner = image[margin : SIZE - margin, margin : SIZE - margin]
    low, high = np.percentile(image, [5, 95])
    rows, cols = np.nonzero(inner > low + 0.5 * (high - low))
    if rows.size == 0 or rng.random() < 0.15:
        rows, cols = np.nonzero(np.ones_like(inner, dtype=bool))
    spots = [(int(rows[k]) + margin, int(cols[k]) + margin) for k in rng.integers(rows.size, size=6)]
    if rng.random() < 0.3:
        return spots[0]
    half = int(np.ceil(1.5 * radius))
    return min(
        spots,
        key=lambda s: float(
            image[max(s[0] - half, 0) : s[0] + half + 1, max(s[1] - half, 0) : s[1] + half + 1].std()
        ),
    )
