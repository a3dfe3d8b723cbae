"""Segmentation case metrics: one value per case, class and metric (metrics.md E.3).

``segmentation_case_metrics(reference, prediction, spacing=..., classes=..., metrics=...)`` returns
``{class label: {metric name: float}}`` for integer (or bool) label maps of the same shape.

Metrics (``A`` = reference mask of a class, ``B`` = prediction mask, ``S`` = surface voxels):
- ``dice`` 2|A∩B|/(|A|+|B|), ``iou`` |A∩B|/(|A|+|B|-|A∩B|): both empty → 1; exactly one empty → 0.
- ``hd`` max of the directed maxima of surface distances; ``hd95`` the same with the
  ``hd_percentile``-th percentile of each direction (default 95); ``assd`` (Σd(S_A→S_B) +
  Σd(S_B→S_A)) / (|S_A| + |S_B|). Both empty → 0; exactly one empty → fixed penalty = the image
  diagonal in mm, √Σ(shape·spacing)². Never inf, never nan.
- ``nsd`` at tolerance τ mm (``nsd_tolerance_mm``, one value or one per class):
  (#{a∈S_A: d(a,S_B) ≤ τ} + #{b∈S_B: d(b,S_A) ≤ τ}) / (|S_A| + |S_B|). Both empty → 1; one → 0.
- ``volume_error`` |V_B - V_A| / V_A: nan when V_A = 0 (the only nan this module returns).

Method (state it with every result): surfaces are **voxel** boundaries (voxels removed by a
face-connected erosion, outside the image = background; see ``segmentation_surface``), distances
are exact Euclidean distances between voxel centres in mm (EDT with per-axis ``sampling``) and
every surface voxel has weight one: percentiles and NSD are **count-weighted** (numpy's default
linear-interpolated percentile, as MONAI). surface-distance and MONAI ``use_subvoxels=True`` weight
surfels by area and mesh tools (MeshMetrics) measure on meshes; on anisotropic grids or small
structures their HD95/NSD differ from ours by up to a few voxels or percentage points.

Inputs are checked: equal shapes, integer or bool dtype, one finite spacing > 0 per axis, known
metric names, 0 ≤ ``hd_percentile`` ≤ 100, finite tolerances ≥ 0; else ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from django.utils.translation import gettext_lazy as _
from numpy.typing import NDArray

from evaluation.metrics.registry import register
from evaluation.metrics.segmentation_surface import (
    ClassGeometry,
    class_boxes,
    class_geometry,
    image_diagonal_mm,
    union_box,
)

SURFACE_METRICS = frozenset({"hd95", "hd", "assd", "nsd"})
METRIC_NAMES = ("dice", "iou", "hd95", "hd", "assd", "nsd", "volume_error")

UNIT_INTERVAL = (1.0, 0.0)  # registry bounds are (best, worst)
# name -> registry fields. Distances and volume error have no fixed worst value (bounds None): the
# distance penalty depends on the image, and volume error is unbounded. "params" are spec keys,
# translated by SPEC_PARAMS into keyword arguments of ``segmentation_case_metrics``.
SEGMENTATION_METRICS: dict[str, dict[str, Any]] = {
    "dice": {"direction": "higher", "bounds": UNIT_INTERVAL, "label": _("Dice similarity coefficient")},
    "iou": {"direction": "higher", "bounds": UNIT_INTERVAL, "label": _("Intersection over union")},
    "hd95": {"direction": "lower", "bounds": None, "params": {"percentile": float},
             "label": _("95th-percentile Hausdorff distance (mm)")},
    "hd": {"direction": "lower", "bounds": None, "label": _("Hausdorff distance (mm)")},
    "assd": {"direction": "lower", "bounds": None, "label": _("Average symmetric surface distance (mm)")},
    "nsd": {"direction": "higher", "bounds": UNIT_INTERVAL, "params": {"tolerance_mm": float},
            "label": _("Normalised surface distance")},
    "volume_error": {"direction": "lower", "bounds": None, "label": _("Relative absolute volume error")},
}

SPEC_PARAMS = {"tolerance_mm": "nsd_tolerance_mm", "percentile": "hd_percentile"}

Tolerance = float | Mapping[int, float]


def validate_segmentation_inputs(reference: NDArray, prediction: NDArray,
                                 spacing: Sequence[float]) -> tuple[float, ...]:
    """Check the two label maps and the spacing; return the spacing as a tuple of floats."""
    if not isinstance(reference, np.ndarray) or not isinstance(prediction, np.ndarray):
        raise ValueError("reference and prediction must be numpy arrays")
    if reference.shape != prediction.shape:
        raise ValueError(f"shape mismatch: reference {reference.shape}, prediction {prediction.shape}")
    if reference.ndim == 0 or reference.size == 0:
        raise ValueError("masks must have at least one axis and one voxel")
    for name, array in (("reference", reference), ("prediction", prediction)):
        if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
            raise ValueError(f"{name} must hold integer labels, not {array.dtype}")
    values = tuple(float(s) for s in spacing)
    if len(values) != reference.ndim:
        raise ValueError(f"spacing has {len(values)} values for a {reference.ndim}-D mask")
    if not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"spacing must be finite and > 0, got {values}")
    return values


def validate_options(classes: Sequence[int], metrics: Sequence[str], tolerance: Tolerance,
                     hd_percentile: float) -> tuple[list[int], list[str]]:
    """Check classes, metric names, tolerances and the percentile; return classes and metrics as lists."""
    labels = [int(c) for c in classes]
    names = list(metrics)
    unknown = sorted(set(names) - set(METRIC_NAMES))
    if unknown:
        raise ValueError(f"unknown segmentation metrics {unknown}; known: {list(METRIC_NAMES)}")
    if not 0.0 <= float(hd_percentile) <= 100.0:
        raise ValueError(f"hd_percentile must lie in [0, 100], got {hd_percentile}")
    if "nsd" in names:
        for label in labels:
            tau = tolerance_for(tolerance, label)
            if not (math.isfinite(tau) and tau >= 0):
                raise ValueError(f"NSD tolerance for class {label} must be finite and >= 0, got {tau}")
    return labels, names


def tolerance_for(tolerance: Tolerance, label: int) -> float:
    """The NSD tolerance (mm) of one class."""
    if isinstance(tolerance, Mapping):
        if label not in tolerance:
            raise ValueError(f"no NSD tolerance given for class {label}")
        return float(tolerance[label])
    return float(tolerance)


def overlap_value(name: str, geometry: ClassGeometry) -> float:
    """Dice, IoU or volume error from voxel counts, with the empty rules of E.3."""
    ref, pred, both = geometry.reference_voxels, geometry.prediction_voxels, geometry.intersection_voxels
    if name == "volume_error":
        return abs(pred - ref) / ref if ref else math.nan
    if ref == 0 and pred == 0:
        return 1.0
    if name == "dice":
        return 2.0 * both / (ref + pred)
    return both / (ref + pred - both)


def surface_value(name: str, geometry: ClassGeometry, *, tolerance_mm: float, percentile: float,
                  penalty_mm: float) -> float:
    """HD, HD95, ASSD or NSD from the two directed distance arrays, with the empty rules of E.3."""
    ref_empty, pred_empty = geometry.reference_voxels == 0, geometry.prediction_voxels == 0
    if ref_empty or pred_empty:
        if name == "nsd":
            return 1.0 if ref_empty and pred_empty else 0.0
        return 0.0 if ref_empty and pred_empty else penalty_mm
    forward, backward = geometry.reference_to_prediction, geometry.prediction_to_reference
    if name == "hd":
        return float(max(forward.max(), backward.max()))
    if name == "hd95":
        return float(max(np.percentile(forward, percentile), np.percentile(backward, percentile)))
    if name == "assd":
        return float((forward.sum() + backward.sum()) / (forward.size + backward.size))
    within = np.count_nonzero(forward <= tolerance_mm) + np.count_nonzero(backward <= tolerance_mm)
    return float(within / (forward.size + backward.size))


def class_values(geometry: ClassGeometry, metrics: list[str], *, tolerance_mm: float,
                 percentile: float, penalty_mm: float) -> dict[str, float]:
    """Every requested metric of one class."""
    values = {}
    for name in metrics:
        if name in SURFACE_METRICS:
            values[name] = surface_value(name, geometry, tolerance_mm=tolerance_mm,
                                         percentile=percentile, penalty_mm=penalty_mm)
        else:
            values[name] = overlap_value(name, geometry)
    return values


def segmentation_case_metrics(
    reference: NDArray,
    prediction: NDArray,
    *,
    spacing: Sequence[float],
    classes: Sequence[int],
    metrics: Sequence[str],
    nsd_tolerance_mm: Tolerance = 2.0,
    hd_percentile: float = 95.0,
) -> dict[int, dict[str, float]]:
    """Per class label, per metric: the case's value (module docstring: definitions, empty rules)."""
    spacing_mm = validate_segmentation_inputs(reference, prediction, spacing)
    labels, names = validate_options(classes, metrics, nsd_tolerance_mm, hd_percentile)
    with_distances = not SURFACE_METRICS.isdisjoint(names)
    penalty = image_diagonal_mm(reference.shape, spacing_mm)
    reference_boxes = class_boxes(reference, labels)
    prediction_boxes = class_boxes(prediction, labels)
    results: dict[int, dict[str, float]] = {}
    for label in labels:
        box = union_box(reference_boxes[label], prediction_boxes[label])
        geometry = class_geometry(reference, prediction, label, spacing_mm, box=box,
                                  with_distances=with_distances)
        tau = tolerance_for(nsd_tolerance_mm, label) if "nsd" in names else math.nan
        results[label] = class_values(geometry, names, tolerance_mm=tau,
                                      percentile=float(hd_percentile), penalty_mm=penalty)
    return results


def single_metric(name: str) -> Callable[..., float]:
    """The registered ``fn(reference, prediction, *, spacing, label, **spec_params) -> float``.

    One metric of one class of one case; ``spec_params`` use the spec's names (``SPEC_PARAMS``).
    """

    def case_metric(reference: NDArray, prediction: NDArray, *, spacing: Sequence[float], label: int,
                    **spec_params: Any) -> float:
        options = {SPEC_PARAMS.get(key, key): value for key, value in spec_params.items()}
        values = segmentation_case_metrics(reference, prediction, spacing=spacing, classes=[label],
                                           metrics=[name], **options)
        return values[int(label)][name]

    case_metric.__qualname__ = f"case_metric[{name}]"
    return case_metric


def register_segmentation_metrics() -> None:
    """Add every segmentation metric to ``evaluation.metrics.registry`` (idempotent)."""
    for name, definition in SEGMENTATION_METRICS.items():
        register(name, kind="case", tasks={"segmentation"}, direction=definition["direction"],
                 bounds=definition["bounds"], label=definition["label"],
                 params=definition.get("params", {}))(single_metric(name))


register_segmentation_metrics()
