"""Scoring: per-case values and aggregate metrics with a bootstrap CI on the primary metric."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from challenges.selectors import ground_truth_for_scoring
from evaluation.metrics.catalogue import per_case_binary, score_binary_classification
from evaluation.models import CaseResult, FailureReason, Result, Status, Submission


def store_predictions(submission: Submission, scores: dict[str, float]) -> None:
    """Keep the validated predictions, one row per case (caller holds the transaction)."""
    case_pks = dict(submission.phase.cases.values_list("case_id", "pk"))
    CaseResult.objects.filter(submission=submission).delete()
    CaseResult.objects.bulk_create(
        CaseResult(submission=submission, case_id=case_pks[case_id], prediction={"score": score})
        for case_id, score in scores.items()
    )


def submission_score(*, submission_id: int) -> None:
    """Score a submission whose predictions are stored; idempotent."""
    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update().select_related("phase__challenge")
            .filter(pk=submission_id).first()
        )
        if submission is None or submission.status != Status.SCORING:
            return
        phase = submission.phase
        positive = phase.challenge.positive_label
        truth = ground_truth_for_scoring(phase)
        rows = list(submission.case_results.select_related("case").order_by("case__case_id"))
        if len(rows) != len(truth) or any(r.case.case_id not in truth for r in rows):
            submission.status = Status.FAILED
            submission.failure_reason = FailureReason.PLATFORM_ERROR
            submission.finished_at = timezone.now()
            submission.save()
            return
        y_true = [int(truth[r.case.case_id] == positive) for r in rows]
        scores = [float(r.prediction["score"]) for r in rows]
        for row, label in zip(rows, y_true, strict=True):
            row.values = per_case_binary(label, row.prediction["score"])
        CaseResult.objects.bulk_update(rows, ["values"])
        summary = score_binary_classification(
            y_true, scores, n_resamples=settings.ENCLAVE_BOOTSTRAP_RESAMPLES, seed=submission.pk
        )
        primary = summary["metrics"][phase.challenge.primary_metric]
        Result.objects.update_or_create(submission=submission, defaults={
            "phase": phase, "team_id": submission.team_id, "metrics": summary,
            "primary_value": primary["value"], "primary_ci_low": primary.get("ci_low"),
            "primary_ci_high": primary.get("ci_high"), "n_cases": len(rows),
        })
        submission.status = Status.SUCCEEDED
        submission.finished_at = timezone.now()
        submission.save()
