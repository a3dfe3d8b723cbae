"""Running a submission on a worker: stage the phase's cases, run the sandbox, keep the outputs.

Three steps, each safe to repeat: claim (queued -> running, in a short transaction), run (no
transaction open: it takes minutes), record (running -> scoring or failed). Scoring is enqueued
only after the record commits.
"""

import json
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from challenges.models import Case, Phase
from challenges.selectors import cases_for_run
from evaluation.metrics.formats import FormatError, predictions_from_json
from evaluation.metrics.spec import Spec
from evaluation.models import FailureReason, RunRecord, Status, Submission
from evaluation.services.specs import spec_of
from sandbox.backends import get_backend
from sandbox.backends.base import RunOutcome
from sandbox.errors import OutputInvalid, OutputMissing, SandboxError
from sandbox.limits import RunLimits
from sandbox.outputs import read_json_output

logger = logging.getLogger(__name__)
CONTRACT = "enclave/v1"


@dataclass(frozen=True)
class Failure:
    reason: str
    detail: str = ""


def phase_limits(phase: Phase) -> RunLimits:
    return RunLimits(
        wall_seconds=phase.wall_seconds, memory_mb=phase.memory_mb, cpus=phase.cpus,
        gpus=phase.gpus, output_mb=phase.output_mb,
    )


def manifest_for(phase: Phase, cases: list[Case]) -> dict[str, Any]:
    challenge = phase.challenge
    return {
        "contract": CONTRACT,
        "task": {"type": challenge.task_type, "labels": challenge.labels,
                 "positive_label": challenge.positive_label},
        "cases": [
            {"id": case.case_id, "files": [f"{case.case_id}/{f.name}" for f in case.files.all()],
             "modality": case.modality or None, "pixel_spacing": case.pixel_spacing}
            for case in cases
        ],
    }


def _link_or_copy(key: str, target: Path) -> None:
    try:
        os.link(default_storage.path(key), target)
    except (NotImplementedError, OSError):
        with default_storage.open(key, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 4 * 1024 * 1024)
        target.chmod(0o644)


def stage_inputs(phase: Phase, input_dir: Path) -> list[str]:
    """Write manifest.json and one folder per case; return the case ids in manifest order."""
    cases = list(cases_for_run(phase))
    for case in cases:
        case_dir = input_dir / case.case_id
        case_dir.mkdir(mode=0o755)
        for case_file in case.files.all():
            _link_or_copy(case_file.storage_key, case_dir / case_file.name)
    manifest = input_dir / "manifest.json"
    manifest.write_text(json.dumps(manifest_for(phase, cases)))
    manifest.chmod(0o644)
    return [case.case_id for case in cases]


def validate_predictions(spec: Spec, data: Any, case_ids: list[str]) -> dict[str, Any] | Failure:
    """Check predictions.json against the contract of the spec's task; keep the entries.

    Failure details name the broken rule, never a value from the outputs or the inputs."""
    try:
        predictions_from_json(spec, data, tuple(case_ids))
    except FormatError as exc:
        return Failure(FailureReason.OUTPUT_INVALID, exc.rule)
    return {case_id: data[case_id] for case_id in case_ids}


def _failure_of(outcome: RunOutcome) -> Failure | None:
    if outcome.verdict == "completed":
        return None
    if outcome.verdict == "exit_code":
        return Failure(FailureReason.EXIT_CODE, f"exit code {outcome.exit_code}")
    if outcome.verdict == "output_invalid":
        return Failure(FailureReason.OUTPUT_INVALID, outcome.output_error or "")
    return Failure(outcome.verdict)


def _claim(submission_id: int) -> Submission | None:
    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update().select_related("phase__challenge", "image")
            .filter(pk=submission_id).first()
        )
        if submission is None or submission.status != Status.QUEUED:
            return None
        submission.status = Status.RUNNING
        submission.started_at = timezone.now()
        submission.save(update_fields=["status", "started_at"])
        return submission


def _run(submission: Submission, work: Path) -> tuple[RunOutcome, dict[str, Any] | Failure | None]:
    """Stage, run and read the predictions; (outcome, predictions or the failure they caused)."""
    input_dir, output_dir = work / "input", work / "output"
    input_dir.mkdir(mode=0o755)
    output_dir.mkdir(mode=0o700)
    case_ids = stage_inputs(submission.phase, input_dir)
    backend = get_backend()
    image = submission.image
    backend.ensure_image(image_id=image.image_id,
                         open_tarball=lambda: cast(BinaryIO, default_storage.open(image.storage_key, "rb")))
    outcome = backend.run(image_id=image.image_id, input_dir=input_dir, output_dir=output_dir,
                          limits=phase_limits(submission.phase))
    predictions: dict[str, Any] | Failure | None = None
    if outcome.verdict == "completed":
        try:
            data = read_json_output(output_dir / "predictions.json")
        except OutputMissing:
            predictions = Failure(FailureReason.OUTPUT_MISSING)
        except OutputInvalid as exc:
            predictions = Failure(FailureReason.OUTPUT_INVALID, f"predictions.json: {exc.rule}")
        else:
            predictions = validate_predictions(spec_of(submission.phase.challenge), data, case_ids)
    return outcome, predictions


def submission_execute(*, submission_id: int) -> None:
    """Run a queued submission in the sandbox and record what happened."""
    from evaluation.tasks import enqueue_score

    submission = _claim(submission_id)
    if submission is None:
        return
    root = Path(settings.SANDBOX_WORK_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"sub{submission_id}-", dir=root))
    work.chmod(0o755)
    predictions: Any = None
    try:
        outcome, predictions = _run(submission, work)
        failure = _failure_of(outcome) or (predictions if isinstance(predictions, Failure) else None)
    except Exception as exc:  # anything here is the platform's fault, never the team's
        logger.exception("platform failure running submission %s", submission_id)
        failure = Failure(FailureReason.PLATFORM_ERROR)
        kind = "sandbox" if isinstance(exc, SandboxError) else type(exc).__name__
        outcome = RunOutcome(verdict="platform_error", exit_code=None, duration_s=0.0,
                             logs=f"platform error ({kind}); see the worker log", output_error=None)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission_id)
        if submission.status != Status.RUNNING:
            return
        RunRecord.objects.update_or_create(submission=submission, defaults={
            "verdict": outcome.verdict, "exit_code": outcome.exit_code,
            "duration_s": outcome.duration_s, "logs": outcome.logs,
            "output_error": (outcome.output_error or "")[:200], "node": socket.gethostname(),
        })
        submission.exit_code = outcome.exit_code
        if failure is not None:
            submission.status = Status.FAILED
            submission.failure_reason = failure.reason
            submission.failure_detail = failure.detail[:200]
            submission.finished_at = timezone.now()
        else:
            from evaluation.services.scoring import store_predictions

            store_predictions(submission, predictions)
            submission.status = Status.SCORING
            transaction.on_commit(lambda: enqueue_score(submission_id))
        submission.save()
