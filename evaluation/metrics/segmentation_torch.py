"""Segmentation case metrics on a torch device (GPU variant; also an independent CPU oracle).

``segmentation_case_metrics_torch`` takes the same arguments as
``segmentation.segmentation_case_metrics`` plus ``device`` and returns the same values (same
definitions, empty rules and validation). What differs is how the geometry is computed, on the
device and without SciPy:
- surfaces: face-connected erosion written as shifted ANDs over a zero-padded copy;
- distances: exact brute force, the minimum over chunked ``torch.cdist`` (float64, no matmul
  shortcut, so a distance of 0 stays 0) between the two surface point sets in mm.
Only the per-class distance arrays come back to the host, where the shared summaries
(percentiles, NSD counts) run. Raises ``ImportError`` when torch is not installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from evaluation.metrics.segmentation import (
    SURFACE_METRICS,
    Tolerance,
    class_values,
    tolerance_for,
    validate_options,
    validate_segmentation_inputs,
)
from evaluation.metrics.segmentation_surface import ClassGeometry, image_diagonal_mm

if TYPE_CHECKING:
    import torch

PAIRS_PER_CHUNK = {"cpu": 1 << 22, "cuda": 1 << 27}  # distance matrix elements held at once


def import_torch() -> Any:
    """The torch module, or ``ImportError`` with a hint."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("segmentation_case_metrics_torch needs torch (pip install torch==2.13.0)") from exc
    return torch


def erode_faces(mask: torch.Tensor) -> torch.Tensor:
    """Face-connected binary erosion with everything outside the tensor counted as background."""
    torch = import_torch()
    padded = torch.zeros([n + 2 for n in mask.shape], dtype=torch.bool, device=mask.device)
    inner = tuple(slice(1, n + 1) for n in mask.shape)
    padded[inner] = mask
    eroded = mask.clone()
    for axis, length in enumerate(mask.shape):
        for start in (0, 2):
            shifted = list(inner)
            shifted[axis] = slice(start, start + length)
            eroded &= padded[tuple(shifted)]
    return eroded


def surface_points_mm(mask: torch.Tensor, spacing: torch.Tensor) -> torch.Tensor:
    """Centres (mm, float64, shape (n, ndim)) of the voxels a face-connected erosion removes."""
    boundary = mask & ~erode_faces(mask)
    return boundary.nonzero().to(spacing.dtype) * spacing


def nearest_distances(queries: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """For each query point, the distance to the nearest target point (exact, chunked brute force)."""
    torch = import_torch()
    budget = PAIRS_PER_CHUNK.get(queries.device.type, PAIRS_PER_CHUNK["cpu"])
    rows = max(1, budget // max(1, targets.shape[0]))
    nearest = torch.empty(queries.shape[0], dtype=queries.dtype, device=queries.device)
    for start in range(0, queries.shape[0], rows):
        block = torch.cdist(queries[start:start + rows], targets,
                            compute_mode="donot_use_mm_for_euclid_dist")
        nearest[start:start + rows] = block.amin(dim=1)
    return nearest


def bounding_box(mask: torch.Tensor) -> tuple[slice, ...] | None:
    """Smallest box holding every ``True`` voxel of ``mask``, or ``None`` when it is empty."""
    box = []
    for axis in range(mask.ndim):
        occupied = mask.movedim(axis, 0).reshape(mask.shape[axis], -1).any(dim=1).nonzero()
        if occupied.numel() == 0:
            return None
        box.append(slice(int(occupied[0]), int(occupied[-1]) + 1))
    return tuple(box)


def torch_class_geometry(reference: torch.Tensor, prediction: torch.Tensor, label: int,
                         spacing: torch.Tensor, *, with_distances: bool) -> ClassGeometry:
    """Counts and surface distances of one class, on the tensors' device."""
    union = (reference == label) | (prediction == label)
    box = bounding_box(union)
    if box is None:
        return ClassGeometry(0, 0, 0)
    reference_mask, prediction_mask = reference[box] == label, prediction[box] == label
    counts = (int(reference_mask.sum()), int(prediction_mask.sum()),
              int((reference_mask & prediction_mask).sum()))
    if not with_distances or counts[0] == 0 or counts[1] == 0:
        return ClassGeometry(*counts)
    reference_points = surface_points_mm(reference_mask, spacing)
    prediction_points = surface_points_mm(prediction_mask, spacing)
    forward = nearest_distances(reference_points, prediction_points)
    backward = nearest_distances(prediction_points, reference_points)
    return ClassGeometry(*counts, reference_to_prediction=forward.cpu().numpy(),
                         prediction_to_reference=backward.cpu().numpy())


def to_label_tensor(array: NDArray, device: str) -> torch.Tensor:
    """A label map on ``device`` (bool stays bool; unsigned types torch lacks widen to int64)."""
    torch = import_torch()
    if array.dtype in (np.uint16, np.uint32, np.uint64):
        array = array.astype(np.int64)
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


def segmentation_case_metrics_torch(
    reference: NDArray,
    prediction: NDArray,
    *,
    spacing: Sequence[float],
    classes: Sequence[int],
    metrics: Sequence[str],
    nsd_tolerance_mm: Tolerance = 2.0,
    hd_percentile: float = 95.0,
    device: str = "cuda",
) -> dict[int, dict[str, float]]:
    """Same contract as ``segmentation_case_metrics``, geometry computed with torch on ``device``."""
    torch = import_torch()
    spacing_mm = validate_segmentation_inputs(reference, prediction, spacing)
    labels, names = validate_options(classes, metrics, nsd_tolerance_mm, hd_percentile)
    with_distances = not SURFACE_METRICS.isdisjoint(names)
    penalty = image_diagonal_mm(reference.shape, spacing_mm)
    results: dict[int, dict[str, float]] = {}
    with torch.inference_mode():
        reference_t = to_label_tensor(reference, device)
        prediction_t = to_label_tensor(prediction, device)
        spacing_t = torch.tensor(spacing_mm, dtype=torch.float64, device=reference_t.device)
        for label in labels:
            geometry = torch_class_geometry(reference_t, prediction_t, label, spacing_t,
                                            with_distances=with_distances)
            tau = tolerance_for(nsd_tolerance_mm, label) if "nsd" in names else float("nan")
            results[label] = class_values(geometry, names, tolerance_mm=tau,
                                          percentile=float(hd_percentile), penalty_mm=penalty)
    return results
