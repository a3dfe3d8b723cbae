"""Scoring: per-case values and aggregates with bootstrap CIs, under versioned spec and truth.

A submission's validated predictions are stored once (CaseResult.prediction); scoring and every
later re-evaluation read them back, so a change of metric spec or ground truth never re-runs a
container. Each scoring adds a Result naming the spec and truth versions it used and makes it the
submission's current one.
"""

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit.services import audit_record
from challenges.models import Phase
from challenges.selectors import ground_truth_for_scoring
from evaluation.metrics.catalogue import per_case_binary
from evaluation.metrics.engine import Evaluation, evaluate
from evaluation.metrics.formats import FormatError, predictions_from_json, truth_from_values
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


def evaluate_stored(submission: Submission, spec: Spec) -> tuple[Evaluation, list[CaseResult]]:
    """Evaluate the stored predictions against the phase's current ground truth."""
    rows = list(submission.case_results.select_related("case").order_by("case__case_id"))
    case_ids = tuple(r.case.case_id for r in rows)
    truth = truth_from_values(spec, ground_truth_for_scoring(submission.phase), case_ids)
    predictions = predictions_from_json(spec, {r.case.case_id: r.prediction for r in rows},
                                        case_ids)
    evaluation = evaluate(spec, truth, predictions)
    for row, index in zip(rows, range(len(rows)), strict=True):
        values: dict[str, Any] = dict(evaluation.per_case.get(row.case.case_id, {}))
        if spec.task == "binary-classification":
            values |= per_case_binary(int(truth.values[index]), float(predictions.values[index]))
        row.values = values
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
        except FormatError:
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
