"""Scoring: per-case values and aggregates with bootstrap CIs, under versioned spec and truth.

A submission's validated predictions are stored once (CaseResult.prediction); scoring and every
later re-evaluation read them back, so a change of metric spec or ground truth never re-runs a
container. Each scoring adds a Result naming the spec and truth versions it used and makes it the
submission's current one.

`case_data` turns stored truth and predictions into the engine's inputs for every task type:
labels and predictions.json entries (`evaluation.metrics.formats`), detection lesions with each
case's pixel spacing, segmentation masks loaded from storage (checked against their SHA-256). A
case's spacing is its own (DICOM PixelSpacing) when it has as many values as the case has
dimensions, else the spec's `spacing_mm`; segmentation and `point_in_radius` detection fail to
score (a platform error, logged) without either. Per-case rows hold the case metrics' values and,
per task, what review pages show beside a case.
"""

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit.services import audit_record
from challenges.contract import case_shape
from challenges.models import Case, Phase
from challenges.selectors import ground_truth_for_scoring
from challenges.truths import load_mask
from evaluation.metrics.catalogue import per_case_binary
from evaluation.metrics.detection import match_cases
from evaluation.metrics.engine import Evaluation, evaluate
from evaluation.metrics.formats import (
    CaseData,
    FormatError,
    predictions_from_json,
    truth_from_values,
)
from evaluation.metrics.spec import Spec
from evaluation.models import CaseResult, FailureReason, Result, Status, Submission
from evaluation.selectors import leaderboard_changed
from evaluation.services.specs import spec_of

logger = logging.getLogger(__name__)


def store_predictions(submission: Submission, entries: dict[str, Any]) -> None:
    """Keep the validated predictions, one row per case (caller holds the transaction)."""
    case_pks = dict(submission.phase.cases.values_list("case_id", "pk"))
    CaseResult.objects.filter(submission=submission).delete()
    CaseResult.objects.bulk_create(
        CaseResult(submission=submission, case_id=case_pks[case_id], prediction=entry)
        for case_id, entry in entries.items()
    )


# What scoring cannot get past: unusable stored data or a case the engine refuses (no spacing)
SCORING_ERRORS = (FormatError, ValueError, OSError)


class MaskLoader:
    """Stored masks by reference, each read once per loader (a ranking reads the truth once)."""

    def __init__(self) -> None:
        self.loaded: dict[str, np.ndarray] = {}

    def __call__(self, value: Any) -> np.ndarray:
        reference = value.get("mask") if isinstance(value, dict) else None
        if not isinstance(reference, dict) or "storage_key" not in reference:
            raise FormatError("a segmentation truth or prediction is not a stored mask")
        key = reference["storage_key"]
        if key not in self.loaded:
            self.loaded[key] = load_mask(reference)
        return self.loaded[key]


def _spacing(case: Case, ndim: int | None, spec: Spec) -> tuple[float, ...] | None:
    for candidate in (case.pixel_spacing, spec.spacing_mm):
        if candidate and ndim is not None and len(candidate) == ndim:
            return tuple(float(v) for v in candidate)
    return None


def case_data(spec: Spec, cases: Sequence[Case], truth_values: dict[str, Any],
              entries: dict[str, Any], masks: MaskLoader | None = None) -> tuple[CaseData, CaseData]:
    """(truth, predictions) of `cases`, in their order, as the engine takes them."""
    case_ids = tuple(case.case_id for case in cases)
    if spec.task == "segmentation":
        masks = masks or MaskLoader()
        missing = [c for c in case_ids if c not in truth_values]
        if missing:
            raise FormatError(f"the ground truth lacks {len(missing)} cases")
        references = [truth_values[c] for c in case_ids]
        truth_masks = [masks(value) for value in references]
        spacing = tuple(_spacing(case, mask.ndim, spec)
                        for case, mask in zip(cases, truth_masks, strict=True))
        predicted = [masks(entries.get(c)) for c in case_ids]
        return (CaseData(case_ids, truth_masks, spacing), CaseData(case_ids, predicted))
    truth = truth_from_values(spec, truth_values, case_ids)
    predictions = predictions_from_json(spec, entries, case_ids)
    if spec.task == "detection":
        shapes = [case_shape(case) for case in cases]
        truth = replace(truth, spacing=tuple(
            _spacing(case, len(shape) if shape else None, spec)
            for case, shape in zip(cases, shapes, strict=True)))
    return truth, predictions


def _case_rows(spec: Spec, truth: CaseData, predictions: CaseData) -> list[dict[str, Any]]:
    """Per task, what a case's row shows besides its case metrics (JSON types)."""
    n = len(truth.case_ids)
    if spec.task == "binary-classification":
        return [per_case_binary(int(truth.values[i]), float(predictions.values[i]))
                for i in range(n)]
    if spec.task == "multiclass-classification":
        labels = spec.labels
        predicted = np.asarray(predictions.values).argmax(axis=1) if n else []
        return [{"label": labels[int(truth.values[i])], "predicted": labels[int(predicted[i])],
                 "correct": int(truth.values[i]) == int(predicted[i])} for i in range(n)]
    if spec.task == "detection":
        matches, _params = match_cases(truth.values, predictions.values, spacing=truth.spacing,
                                       params=spec.primary.params)
        return [{"lesions": m.n_lesions, "detections": int(m.scores.size),
                 "hits": int(m.is_tp.sum())} for m in matches]
    return [{} for _ in range(n)]


def evaluate_stored(submission: Submission, spec: Spec) -> tuple[Evaluation, list[CaseResult]]:
    """Evaluate the stored predictions against the phase's current ground truth."""
    rows = list(submission.case_results.select_related("case").order_by("case__case_id"))
    truth, predictions = case_data(spec, [r.case for r in rows],
                                   ground_truth_for_scoring(submission.phase),
                                   {r.case.case_id: r.prediction for r in rows})
    evaluation = evaluate(spec, truth, predictions)
    extras = _case_rows(spec, truth, predictions)
    for row, extra in zip(rows, extras, strict=True):
        row.values = {**evaluation.per_case.get(row.case.case_id, {}), **extra}
    return evaluation, rows


def _record(submission: Submission, evaluation: Evaluation, rows: list[CaseResult], *,
            spec_version: int, truth_version: int) -> Result:
    CaseResult.objects.bulk_update(rows, ["values"])
    Result.objects.filter(submission=submission).update(is_current=False)
    primary = evaluation.metrics[evaluation.primary]
    result, _ = Result.objects.update_or_create(
        submission=submission, spec_version=spec_version, truth_version=truth_version,
        defaults={
            "phase_id": submission.phase_id, "team_id": submission.team_id, "is_current": True,
            "metrics": evaluation.as_dict(), "primary_value": primary.value,
            "primary_ci_low": primary.ci_low, "primary_ci_high": primary.ci_high,
            "n_cases": len(rows),
        },
    )
    leaderboard_changed(phase_ids=[submission.phase_id])
    return result


def _fail_platform(submission: Submission) -> None:
    submission.status = Status.FAILED
    submission.failure_reason = FailureReason.PLATFORM_ERROR
    submission.finished_at = timezone.now()
    submission.save()


def submission_score(*, submission_id: int) -> None:
    """Score a submission whose predictions are stored; idempotent."""
    from evaluation.tasks import enqueue_ranking

    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update().select_related("phase__challenge")
            .filter(pk=submission_id).first()
        )
        if submission is None or submission.status != Status.SCORING:
            return
        phase = submission.phase
        try:
            evaluation, rows = evaluate_stored(submission, spec_of(phase.challenge))
        except SCORING_ERRORS:
            logger.exception("stored predictions or truth unusable for submission %s", submission_id)
            _fail_platform(submission)
            return
        _record(submission, evaluation, rows, spec_version=phase.challenge.metric_version,
                truth_version=phase.truth_version)
        submission.status = Status.SUCCEEDED
        submission.finished_at = timezone.now()
        submission.save()
        transaction.on_commit(lambda: enqueue_ranking(phase.pk))


def phase_reevaluate(*, phase: Phase, actor: User | None = None) -> int:
    """Re-score every succeeded submission of the phase under the current spec and truth,
    from the stored predictions (no container runs). Returns how many were re-scored."""
    from evaluation.tasks import enqueue_ranking

    phase = Phase.objects.select_related("challenge").get(pk=phase.pk)
    spec = spec_of(phase.challenge)
    done = 0
    for submission_id in Submission.objects.filter(
            phase=phase, status=Status.SUCCEEDED).values_list("pk", flat=True):
        with transaction.atomic():
            submission = Submission.objects.select_for_update().select_related(
                "phase__challenge").get(pk=submission_id)
            evaluation, rows = evaluate_stored(submission, spec)
            _record(submission, evaluation, rows, spec_version=phase.challenge.metric_version,
                    truth_version=phase.truth_version)
            done += 1
    audit_record(actor=actor, action="phase.reevaluate", target_type="phase", target_id=phase.pk,
                 detail={"submissions": done, "spec_version": phase.challenge.metric_version,
                         "truth_version": phase.truth_version})
    transaction.on_commit(lambda: enqueue_ranking(phase.pk))
    return done
