"""The per-task parts of the container contract that a challenge decides (docs/container-contract.md):
the label set each task type needs, what a run must write to /output, and the shape of a case's
image that masks must have.

- Binary classification: two labels, one of them positive. Multi-class: at least two labels.
  Segmentation: the class names by label value, background first (value 0), at most 256.
  Detection: labels are informative only (lesions carry no class).
- Detection geometry follows the metric spec's hit criterion (one per spec): `point_in_radius`
  matches predicted points to lesion points, `point_in_box` predicted points to lesion boxes,
  `iou` predicted boxes to lesion boxes. The default spec uses `point_in_radius`.
"""

from typing import Any

from django.core.files.storage import default_storage
from django.utils.translation import gettext as _

from challenges.errors import ImportRejected
from challenges.models import Case, Challenge, TaskType
from imaging.masks import MASK_EXTENSIONS, mask_shape_of_image

MAX_SEGMENTATION_LABELS = 256
DEFAULT_DETECTION_HIT = "point_in_radius"
DETECTION_GEOMETRY = {  # hit criterion -> (what a prediction is, what a lesion is)
    "point_in_radius": ("point", "point"),
    "point_in_box": ("point", "box"),
    "iou": ("box", "box"),
}


def label_set_check(*, task_type: str, labels: Any, positive_label: str = "") -> None:
    """Raise ImportRejected("bad_labels") unless `labels` suit the task type."""
    if task_type not in TaskType.values:
        raise ImportRejected("bad_task_type", _("Unknown task type."))
    if not isinstance(labels, list) or not all(
            isinstance(label, str) and label.strip() and len(label) <= 64 for label in labels):
        raise ImportRejected("bad_labels", _("Labels must be non-empty names of at most 64 "
                                             "characters."))
    if len(set(labels)) != len(labels):
        raise ImportRejected("bad_labels", _("Each label may appear only once."))
    if task_type == TaskType.BINARY_CLASSIFICATION and (
            positive_label not in labels or len(labels) != 2):
        raise ImportRejected("bad_labels", _("A binary task needs two labels, one of them positive."))
    if task_type == TaskType.MULTICLASS_CLASSIFICATION and len(labels) < 2:
        raise ImportRejected("bad_labels", _("A multi-class task needs at least two labels."))
    if task_type == TaskType.SEGMENTATION and not 2 <= len(labels) <= MAX_SEGMENTATION_LABELS:
        raise ImportRejected("bad_labels", _(
            "A segmentation task names its classes by label value, background first: at least "
            "two and at most %(n)d labels.") % {"n": MAX_SEGMENTATION_LABELS})


def detection_hit(challenge: Challenge) -> str:
    """The hit criterion of the challenge's metric spec (the default spec's when it has none)."""
    metrics = (challenge.metric_spec or {}).get("metrics") or []
    hits = {str(m["hit"]) for m in metrics if isinstance(m, dict) and m.get("hit")}
    return hits.pop() if len(hits) == 1 else DEFAULT_DETECTION_HIT


def detection_geometry(challenge: Challenge) -> tuple[str, str]:
    """(what a predicted detection is, what a ground-truth lesion is): "point" or "box"."""
    return DETECTION_GEOMETRY.get(detection_hit(challenge), DETECTION_GEOMETRY[DEFAULT_DETECTION_HIT])


def output_contract(challenge: Challenge) -> dict[str, Any]:
    """What a run must write to /output, as the manifest states it (task.output)."""
    task = challenge.task_type
    if task == TaskType.SEGMENTATION:
        return {
            "masks": " | ".join(f"<case-id>{ext}" for ext in MASK_EXTENSIONS),
            "values": "integer label values 0..K-1: the index in task.labels (0 = background)",
            "shape": "the case's shape: [rows, columns] or [frames, rows, columns]",
        }
    if task == TaskType.DETECTION:
        geometry = detection_geometry(challenge)[0]
        return {
            "predictions": "predictions.json",
            "entry": {"detections": [{geometry: "coordinates in pixels", "score": "number"}]},
            "geometry": geometry,
            "coordinates": ("point: [row, column] or [frame, row, column]; box: [row0, column0, "
                            "row1, column1] or [frame0, row0, column0, frame1, row1, column1]"),
        }
    if task == TaskType.MULTICLASS_CLASSIFICATION:
        return {"predictions": "predictions.json",
                "entry": {"probabilities": "{label: probability} for every label, summing to 1"}}
    return {"predictions": "predictions.json",
            "entry": {"score": "the probability of the positive label, in [0, 1]"}}


def case_shape(case: Case) -> tuple[int, ...] | None:
    """The shape a mask of the case must have: recorded at import, else read from the stored
    image's header (cases imported before shapes were recorded); None when unreadable."""
    if case.shape:
        return tuple(int(n) for n in case.shape)
    case_file = next(iter(case.files.all()), None)
    if case_file is None:
        return None
    try:
        with default_storage.open(case_file.storage_key, "rb") as handle:
            return mask_shape_of_image(handle.read(), case_file.kind)
    except (OSError, ValueError):
        return None
