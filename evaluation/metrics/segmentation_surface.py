"""Per-class overlap counts and surface distances for segmentation masks (numpy/SciPy).

Contracts:
- A class's **surface** is the set of its voxels that a binary erosion with the face-connected
  structuring element (``generate_binary_structure(ndim, 1)``: 4-neighbourhood in 2-D,
  6-neighbourhood in 3-D) removes, with everything outside the image counted as background
  (``border_value=0``): ``surface = mask & ~binary_erosion(mask, structure)``. A non-empty mask
  therefore always has a non-empty surface, and a mask touching the image edge has a surface there.
- Distances are from each surface voxel centre of one mask to the nearest surface voxel centre of
  the other, in mm: ``distance_transform_edt(~surface_other, sampling=spacing)`` read at this
  mask's surface voxels. Each EDT is computed once per class and direction.
- Everything is computed inside the union bounding box of the two class masks; cropping changes
  no value. The nearest other-surface voxel always lies in the other mask's box, the query voxels
  lie in this mask's box, and outside the union box both masks are background, exactly what the
  erosion's ``border_value=0`` assumes at the crop edge. (The tests compare with uncropped EDTs.)
- Counts and distances are returned as they are; the empty-mask rules live in ``segmentation``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

FIND_OBJECTS_MIN_CLASSES = 4  # from this many classes on, one find_objects pass beats per-class scans


def no_distances() -> NDArray[np.float64]:
    return np.zeros(0, dtype=np.float64)


@dataclass(frozen=True)
class ClassGeometry:
    """What every segmentation metric of one class needs.

    ``reference_to_prediction`` holds one distance (mm) per reference surface voxel, and
    ``prediction_to_reference`` one per prediction surface voxel; both are empty when either mask
    is empty or when no surface metric was asked for.
    """

    reference_voxels: int
    prediction_voxels: int
    intersection_voxels: int
    reference_to_prediction: NDArray[np.float64] = field(default_factory=no_distances)
    prediction_to_reference: NDArray[np.float64] = field(default_factory=no_distances)


def face_structure(ndim: int) -> NDArray[np.bool_]:
    """The face-connected (connectivity 1) structuring element used for every erosion."""
    return ndimage.generate_binary_structure(ndim, 1)


def surface(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Boundary voxels of ``mask``: the ones a face-connected erosion (outside = background) removes."""
    eroded = ndimage.binary_erosion(mask, structure=face_structure(mask.ndim), border_value=0)
    return mask & ~eroded


def distances_to(query_surface: NDArray[np.bool_], target_surface: NDArray[np.bool_],
                 spacing: tuple[float, ...]) -> NDArray[np.float64]:
    """Distance (mm) from each ``query_surface`` voxel to the nearest ``target_surface`` voxel.

    ``target_surface`` must be non-empty (SciPy's EDT of an array without zeros is not a distance).
    """
    edt = ndimage.distance_transform_edt(~target_surface, sampling=spacing)
    return np.asarray(edt[query_surface], dtype=np.float64)


def mask_box(mask: NDArray[np.bool_]) -> tuple[slice, ...] | None:
    """The smallest box holding every ``True`` voxel, or ``None`` for an empty mask.

    Scans axis 0 first, then only the occupied slab for the other axes.
    """
    rows = np.flatnonzero(mask.any(axis=tuple(range(1, mask.ndim))))
    if rows.size == 0:
        return None
    slab = mask[rows[0]:rows[-1] + 1]
    box = [slice(int(rows[0]), int(rows[-1]) + 1)]
    for axis in range(1, mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        occupied = np.flatnonzero(slab.any(axis=others))
        box.append(slice(int(occupied[0]), int(occupied[-1]) + 1))
    return tuple(box)


def union_box(first: tuple[slice, ...] | None,
              second: tuple[slice, ...] | None) -> tuple[slice, ...] | None:
    """Smallest box containing both boxes (either may be ``None`` for an empty mask)."""
    if first is None or second is None:
        return first if second is None else second
    pairs = zip(first, second, strict=True)
    return tuple(slice(min(a.start, b.start), max(a.stop, b.stop)) for a, b in pairs)


def class_boxes(labels: NDArray, classes: list[int]) -> dict[int, tuple[slice, ...] | None]:
    """Bounding box of every class in a label map (``None`` where the class is absent).

    Many positive classes: one ``scipy.ndimage.find_objects`` pass; otherwise one scan per class.
    """
    if len(classes) >= FIND_OBJECTS_MIN_CLASSES and min(classes) > 0 and labels.dtype != np.bool_:
        found = ndimage.find_objects(labels, max_label=max(classes))
        return {label: found[label - 1] for label in classes}
    return {label: mask_box(labels == label) for label in classes}


def class_geometry(reference: NDArray, prediction: NDArray, label: int, spacing: tuple[float, ...], *,
                   box: tuple[slice, ...] | None, with_distances: bool) -> ClassGeometry:
    """Counts and (optionally) surface distances of one class, computed inside ``box``.

    ``box`` must contain every voxel of ``label`` in both arrays (``None``: the class is absent).
    """
    if box is None:
        return ClassGeometry(0, 0, 0)
    reference_mask = reference[box] == label
    prediction_mask = prediction[box] == label
    counts = (
        int(np.count_nonzero(reference_mask)),
        int(np.count_nonzero(prediction_mask)),
        int(np.count_nonzero(reference_mask & prediction_mask)),
    )
    if not with_distances or counts[0] == 0 or counts[1] == 0:
        return ClassGeometry(*counts)
    reference_surface = surface(reference_mask)
    prediction_surface = surface(prediction_mask)
    return ClassGeometry(
        *counts,
        reference_to_prediction=distances_to(reference_surface, prediction_surface, spacing),
        prediction_to_reference=distances_to(prediction_surface, reference_surface, spacing),
    )


def image_diagonal_mm(shape: tuple[int, ...], spacing: tuple[float, ...]) -> float:
    """Length of the image diagonal in mm: the distance penalty when exactly one mask is empty."""
    extent = np.asarray(shape, dtype=np.float64) * np.asarray(spacing, dtype=np.float64)
    return float(np.sqrt(np.sum(extent**2)))
