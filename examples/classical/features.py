"""Hand-made features for "is there a bright round lesion?" (numpy only).

For each radius r the image is filtered (by FFT) with a centre-surround pair: the mean over a disk
of radius ~0.8r and the mean and standard deviation over the ring from r+1.5 to 2r+2. Their
difference is divided once by the ring's standard deviation ("stands out from its surroundings")
and once by the image's standard deviation ("bright for this slice"). Per radius the features are
both maxima, the brightness at the most outstanding spot and how flat the disk is there; then the
image's intensity spread.
"""

from __future__ import annotations

from functools import cache

import numpy as np

RADII = (3, 4, 5, 6, 8, 10, 12)
PAD = 26  # >= the outer ring radius of the largest scale
BORDER = 4  # ignore responses this close to the image edge
EPSILON = 0.02


def feature_matrix(images: np.ndarray) -> np.ndarray:
    return np.stack([features(image) for image in images])


def features(image: np.ndarray) -> np.ndarray:
    """One feature vector for one normalized 2D image."""
    image = image.astype(np.float64)
    padded = np.pad(image, PAD, mode="reflect")
    spectra = np.fft.rfft2(padded), np.fft.rfft2(padded**2)
    spread = float(image.std()) + 1e-6
    inside = (slice(PAD + BORDER, -PAD - BORDER),) * 2
    values = []
    for radius in RADII:
        disk_mean, disk_std = _local_moments(spectra, padded.shape, 0.0, 0.8 * radius + 0.5)
        ring_mean, ring_std = _local_moments(spectra, padded.shape, radius + 1.5, 2 * radius + 2)
        difference = (disk_mean - ring_mean)[inside]
        ring_std, disk_std = ring_std[inside], disk_std[inside]
        outstanding = difference / (ring_std + EPSILON)
        brightness = difference / spread
        spot = np.unravel_index(outstanding.argmax(), outstanding.shape)
        values += [
            float(outstanding.max()),
            float(brightness.max()),
            float(brightness[spot]),
            float(disk_std[spot] / (ring_std[spot] + EPSILON)),
        ]
    values += [float(np.percentile(image, 95) - np.percentile(image, 5)), spread]
    return np.asarray(values)


def _local_moments(
    spectra: tuple[np.ndarray, np.ndarray], shape: tuple[int, ...], inner: float, outer: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over the annulus inner <= d < outer around every pixel."""
    kernel, count = _annulus_spectrum(shape, inner, outer)
    mean = np.fft.irfft2(spectra[0] * kernel, s=shape) / count
    mean_square = np.fft.irfft2(spectra[1] * kernel, s=shape) / count
    return mean, np.sqrt(np.maximum(mean_square - mean**2, 0))


@cache
def _annulus_spectrum(shape: tuple[int, ...], inner: float, outer: float) -> tuple[np.ndarray, float]:
    rows = np.fft.fftfreq(shape[0]) * shape[0]
    cols = np.fft.fftfreq(shape[1]) * shape[1]
    distance = np.hypot(*np.meshgrid(rows, cols, indexing="ij"))
    annulus = ((distance >= inner) & (distance < outer)).astype(np.float64)
    return np.fft.rfft2(annulus), float(annulus.sum())
