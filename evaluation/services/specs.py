"""Metric specifications: validated, versioned, audited.

A challenge stores its spec as JSON; an empty spec means the default for its task (version 1,
`default_spec`): binary AUROC; multi-class balanced accuracy; segmentation Dice over every
foreground label; detection FROC score with points hit within `radius_mm`. Every change is a new
version recorded in MetricSpecVersion; results name the version they used.
"""

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from audit.services import audit_record
from challenges.contract import DEFAULT_DETECTION_HIT, DETECTION_GEOMETRY
from challenges.models import Challenge, GroundTruth, MetricSpecVersion, TaskType
from config.errors import DomainError
from evaluation.metrics.spec import Spec, SpecError, default_binary_spec, parse_spec
from evaluation.selectors import leaderboard_changed


class SpecRejected(DomainError):
    """A metric specification with problems; the message lists them all."""


DEFAULT_RADIUS_MM = 10.0
_BOOTSTRAP = {"resamples": 10_000, "confidence": 0.95, "seed": 0}


def default_spec(task_type: str, labels: list[str], positive_label: str = "") -> dict[str, Any]:
    """The spec of a challenge that has none, per task type (docs/metrics-spec.md)."""
    if task_type == TaskType.BINARY_CLASSIFICATION:
        return default_binary_spec(labels, positive_label)
    if task_type == TaskType.MULTICLASS_CLASSIFICATION:
        metrics: list[dict[str, Any]] = [
            {"name": "balanced_accuracy", "primary": True}, {"name": "accuracy"},
            {"name": "macro_f1"}, {"name": "auroc_ovr_macro"}]
    elif task_type == TaskType.SEGMENTATION:
        classes = list(range(1, len(labels)))
        metrics = [{"name": "dice", "primary": True, "classes": classes},
                   {"name": "iou", "classes": classes}, {"name": "hd95", "classes": classes},
                   {"name": "nsd", "tolerance_mm": 2.0, "classes": classes, "label": "nsd@2mm"}]
    else:
        match = {"hit": DEFAULT_DETECTION_HIT, "radius_mm": DEFAULT_RADIUS_MM}
        metrics = [{"name": "froc_score", "primary": True, "label": "froc", **match},
                   {"name": "ap_detection", "label": "ap", **match},
                   {"name": "detection_sensitivity", "threshold": 0.5, "label": "sensitivity",
                    **match},
                   {"name": "detection_precision", "threshold": 0.5, "label": "precision",
                    **match}]
    return {"task": task_type, "labels": labels, "metrics": metrics,
            "bootstrap": dict(_BOOTSTRAP), "ranking": {"method": "aggregate-then-rank"}}


def spec_dict_of(challenge: Challenge) -> dict[str, Any]:
    return challenge.metric_spec or default_spec(challenge.task_type, challenge.labels,
                                                 challenge.positive_label)


def spec_of(challenge: Challenge) -> Spec:
    return parse_spec(spec_dict_of(challenge))


def validate_spec(spec: Any) -> Spec:
    try:
        return parse_spec(spec)
    except SpecError as exc:
        raise SpecRejected("bad_spec", "; ".join(exc.problems)) from exc


@transaction.atomic
def challenge_spec_update(*, challenge: Challenge, spec: dict[str, Any],
                          actor: User | None = None) -> Challenge:
    """Adopt `spec` as the challenge's next version (a no-op when nothing changed)."""
    parsed = validate_spec(spec)
    if parsed.task != challenge.task_type:
        raise SpecRejected("bad_spec", _("The spec is for another task type."))
    if parsed.task == TaskType.DETECTION:
        _check_detection_hit(challenge, parsed)
    challenge = Challenge.objects.select_for_update().get(pk=challenge.pk)
    if spec == spec_dict_of(challenge):
        return challenge
    if not MetricSpecVersion.objects.filter(challenge=challenge).exists():
        MetricSpecVersion.objects.create(challenge=challenge, version=challenge.metric_version,
                                         spec=spec_dict_of(challenge))
    challenge.metric_version += 1
    challenge.metric_spec = spec
    challenge.save(update_fields=["metric_version", "metric_spec"])
    MetricSpecVersion.objects.create(challenge=challenge, version=challenge.metric_version,
                                     spec=spec)
    leaderboard_changed(phase_ids=challenge.phases.values_list("pk", flat=True))
    audit_record(actor=actor, action="challenge.spec", target_type="challenge",
                 target_id=challenge.pk, detail={"version": challenge.metric_version})
    return challenge


def _check_detection_hit(challenge: Challenge, spec: Spec) -> None:
    """A detection spec matches with one hit criterion, whose lesion geometry (points or boxes)
    the ground truth already imported has."""
    hits = {m.params.get("hit") for m in spec.metrics}
    if len(hits) != 1 or None in hits:
        raise SpecRejected("bad_spec", _(
            "Every detection metric needs the same \"hit\" criterion."))
    lesion = DETECTION_GEOMETRY[str(hits.pop())][1]
    truths = GroundTruth.objects.filter(case__phase__challenge=challenge).values_list(
        "value", flat=True)
    for value in truths.iterator():
        lesions = value.get("lesions", []) if isinstance(value, dict) else []
        if any(lesion not in item for item in lesions):
            raise SpecRejected("bad_spec", _(
                "This hit criterion matches lesion points, but the ground truth holds boxes.")
                if lesion == "point" else _(
                "This hit criterion matches lesion boxes, but the ground truth holds points."))
