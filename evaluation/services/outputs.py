"""What a run's collected /output must hold for its challenge's task, turned into the predictions
that are kept (CaseResult.prediction). The contract: docs/container-contract.md.

- Classification and detection: `/output/predictions.json`, judged by `runs.read_predictions`
  (the engine's formats). Detection also checks each detection against the challenge: points or
  boxes as its hit criterion matches (`challenges.contract.detection_geometry`), with as many
  coordinates as the case image has dimensions.
- Segmentation: one mask per case, `/output/<case-id>.png|.npy|.nii.gz|.nii`, with the case
  image's shape and label values of the challenge's label set (`sandbox.outputs`). Once every
  mask is valid, each is stored in the canonical form, content-addressed under `predictions/`
  (never deleted: identical masks share one file), and the prediction is its reference
  `{"mask": {"sha256", "storage_key", "kind", "shape"}}`.

A failure names the broken rule, never a value from the outputs or the inputs (hidden phases show
it to the team); the participant client judges alike (client/enclave_client/predictions.py).
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.utils.translation import gettext as _

from challenges.contract import case_shape, detection_geometry
from challenges.models import Case, Phase, TaskType
from challenges.truths import store_mask
from evaluation.models import FailureReason
from evaluation.services.runs import Failure, read_predictions
from evaluation.services.specs import spec_of
from sandbox.errors import OutputInvalid
from sandbox.outputs import mask_files, read_mask_output


class ShapeUnknown(Exception):
    """A case whose image shape cannot be read: the platform's fault, not the team's."""


def read_outputs(phase: Phase, output_dir: Path, cases: Sequence[Case]) -> dict[str, Any] | Failure:
    """The predictions to keep for `cases` (manifest order), or the rule the outputs broke."""
    task = phase.challenge.task_type
    if task == TaskType.SEGMENTATION:
        return read_masks(phase, output_dir, cases)
    case_ids = [case.case_id for case in cases]
    predictions = read_predictions(spec_of(phase.challenge), output_dir, case_ids)
    if task == TaskType.DETECTION and not isinstance(predictions, Failure):
        shapes = {case.case_id: case_shape(case) for case in cases}
        broken = detection_rule(detection_geometry(phase.challenge)[0], predictions, shapes)
        if broken:
            return Failure(FailureReason.OUTPUT_INVALID, broken)
    return predictions


def detection_rule(geometry: str, predictions: dict[str, Any],
                   shapes: dict[str, tuple[int, ...] | None]) -> str | None:
    """The rule the (format-checked) detections break for this challenge, or None."""
    other = "box" if geometry == "point" else "point"
    for case_id, entry in predictions.items():
        for detection in entry["detections"]:
            if other in detection:
                return (_("detections must be points for this challenge") if geometry == "point"
                        else _("detections must be boxes for this challenge"))
            shape = shapes.get(case_id)
            width = len(shape) * (1 if geometry == "point" else 2) if shape else None
            if width is not None and len(detection[geometry]) != width:
                return _("a detection's coordinates do not match its case image's dimensions")
    return None


def read_masks(phase: Phase, output_dir: Path, cases: Sequence[Case]) -> dict[str, Any] | Failure:
    masks = validated_masks(phase, output_dir, cases)
    if isinstance(masks, Failure):
        return masks
    written: list[str] = []
    return {case_id: {"mask": store_mask(mask, "predictions", written)}
            for case_id, mask in masks.items()}


def validated_masks(phase: Phase, output_dir: Path,
                    cases: Sequence[Case]) -> dict[str, np.ndarray] | Failure:
    """Every case's mask in `output_dir`, checked (shape, labels), by case id; nothing stored
    (the set-up wizard's preview uses it as it is)."""
    found = {case.case_id: mask_files(output_dir, case.case_id) for case in cases}
    if not any(found.values()):
        return Failure(FailureReason.OUTPUT_MISSING, _("no mask files in /output"))
    missing = sum(1 for paths in found.values() if not paths)
    if missing:
        return Failure(FailureReason.OUTPUT_INVALID, _(
            "masks missing for %(missing)d of %(n)d cases") % {"missing": missing, "n": len(cases)})
    if any(len(paths) > 1 for paths in found.values()):
        return Failure(FailureReason.OUTPUT_INVALID, _("two mask files for one case"))
    n_labels = len(phase.challenge.labels)
    masks: dict[str, np.ndarray] = {}
    for case in cases:
        shape = case_shape(case)
        if shape is None:
            raise ShapeUnknown(f"case {case.pk} has no readable image shape")
        try:
            masks[case.case_id] = read_mask_output(found[case.case_id][0], expected_shape=shape,
                                                   n_labels=n_labels)
        except OutputInvalid as exc:
            return Failure(FailureReason.OUTPUT_INVALID, exc.rule)
    return masks
