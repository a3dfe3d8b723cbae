"""Running a submission on a worker: stage the phase's cases, run the sandbox, keep the outputs.

Three steps, each safe to repeat: claim (queued -> running, in a short transaction), run (no
transaction open: it takes minutes), record (running -> scoring or failed). Scoring is enqueued
only after the record commits.
"""

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from django.utils import timezone

from challenges.models import Case, Phase
from challenges.selectors import cases_for_run
from evaluation.metrics.formats import FormatError, entries_of, predictions_from_json
from evaluation.metrics.spec import Spec
from evaluation.models import AlgorithmImage, FailureReason, RunRecord, Status, Submission
from evaluation.services.images import image_tarball_open_verified
from evaluation.services.staging import stage_inputs
from sandbox.backends import get_backend
from sandbox.backends.base import RunOutcome
from sandbox.errors import ImageUnrunnable, OutputInvalid, OutputMissing, SandboxError
from sandbox.limits import RunLimits
from sandbox.outputs import read_json_output

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    reason: str
    detail: str = ""


def phase_limits(phase: Phase) -> RunLimits:
    return RunLimits(
        wall_seconds=phase.wall_seconds, memory_mb=phase.memory_mb, cpus=phase.cpus,
        gpus=phase.gpus, output_mb=phase.output_mb, pids=phase.pids, output_files=phase.output_files,
    )


def validate_predictions(spec: Spec, data: Any, case_ids: list[str]) -> dict[str, Any] | Failure:
    """Check predictions.json against the contract of the spec's task; keep the entries.

    Failure details name the broken rule, never a value from the outputs or the inputs."""
    try:
        parsed = predictions_from_json(spec, data, tuple(case_ids))
    except FormatError as exc:
        return Failure(FailureReason.OUTPUT_INVALID, exc.rule)
    return entries_of(spec, parsed)


def failure_of(outcome: RunOutcome, predictions: Any) -> Failure | None:
    """The run's failure: the sandbox's verdict first, then what the predictions broke."""
    if outcome.verdict == "completed":
        return predictions if isinstance(predictions, Failure) else None
    if outcome.verdict == "exit_code":
        return Failure(FailureReason.EXIT_CODE, f"exit code {outcome.exit_code}")
    if outcome.verdict == "output_invalid":
        return Failure(FailureReason.OUTPUT_INVALID, outcome.output_error or "")
    return Failure(outcome.verdict)


def node_name() -> str:
    """This worker's name as runs record it (ENCLAVE_NODE_NAME, else host and process)."""
    return os.environ.get("ENCLAVE_NODE_NAME") or f"{socket.gethostname()}:{os.getpid()}"


def _claim(submission_id: int) -> Submission | None:
    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update().select_related("phase__challenge", "image")
            .filter(pk=submission_id).first()
        )
        if submission is None or submission.status != Status.QUEUED:
            return None
        submission.status = Status.RUNNING
        submission.started_at = submission.heartbeat_at = timezone.now()
        submission.attempts += 1
        submission.node = node_name()
        submission.save(update_fields=["status", "started_at", "heartbeat_at", "attempts", "node"])
        return submission


class Heartbeat:
    """While a run lasts, stamp `heartbeat_at` every HEARTBEAT_SECONDS from a side thread, so
    that the sweeper can tell a live run from one whose worker died (the shard's too, for a
    part of a sharded run)."""

    def __init__(self, submission_id: int, shard_id: int | None = None) -> None:
        self.submission_id, self.shard_id = submission_id, shard_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True,
                                       name=f"heartbeat-{submission_id}")

    def _beat(self) -> None:
        try:
            while not self.stop.wait(settings.ENCLAVE_HEARTBEAT_SECONDS):
                try:
                    self._stamp()
                except DatabaseError:  # the database went away: keep beating once it is back
                    logger.warning("heartbeat of submission %s missed", self.submission_id)
                    connection.close()
        finally:
            connection.close()

    def _stamp(self) -> None:
        from evaluation.models import RunShard

        now = timezone.now()
        Submission.objects.filter(pk=self.submission_id, status=Status.RUNNING).update(
            heartbeat_at=now)
        if self.shard_id is not None:
            RunShard.objects.filter(pk=self.shard_id, state=RunShard.State.RUNNING).update(
                heartbeat_at=now)

    def __enter__(self) -> "Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def read_predictions(spec: Spec, output_dir: Path,
                     case_ids: list[str]) -> dict[str, Any] | Failure:
    """predictions.json in a collected /output, checked against the spec's task."""
    try:
        data = read_json_output(output_dir / "predictions.json")
    except OutputMissing:
        return Failure(FailureReason.OUTPUT_MISSING)
    except OutputInvalid as exc:
        return Failure(FailureReason.OUTPUT_INVALID, f"predictions.json: {exc.rule}")
    return validate_predictions(spec, data, case_ids)


def run_part(phase: Phase, image: AlgorithmImage, cases: list[Case],
             work: Path) -> tuple[RunOutcome, dict[str, Any] | Failure | None]:
    """Stage `cases`, run the image on them once and read its outputs for those cases, per the
    challenge's task (`evaluation.services.outputs`); (outcome, predictions or the failure they
    caused, None when the run itself failed)."""
    from evaluation.services.outputs import read_outputs

    backend = get_backend()
    backend.ensure_image(image_id=image.image_id,
                         open_tarball=lambda: image_tarball_open_verified(image))
    input_dir, output_dir = work / "input", work / "output"
    input_dir.mkdir(mode=0o755)
    output_dir.mkdir(mode=0o700)
    stage_inputs(phase, input_dir, cases)
    outcome = backend.run(image_id=image.image_id, input_dir=input_dir, output_dir=output_dir,
                          limits=phase_limits(phase))
    if outcome.verdict != "completed":
        return outcome, None
    return outcome, read_outputs(phase, output_dir, cases)


def run_workdir(prefix: str) -> Path:
    """A fresh private folder under SANDBOX_WORK_ROOT for one run; the caller removes it."""
    root = Path(settings.SANDBOX_WORK_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    work.chmod(0o755)
    return work


def platform_failure(exc: Exception) -> tuple[RunOutcome, Failure]:
    if isinstance(exc, ImageUnrunnable):
        failure = Failure(FailureReason.IMAGE_INVALID, "the image breaks a run-time rule of the sandbox")
    else:
        failure = Failure(FailureReason.PLATFORM_ERROR)
    kind = "sandbox" if isinstance(exc, SandboxError) else type(exc).__name__
    outcome = RunOutcome(verdict="platform_error", exit_code=None, duration_s=0.0,
                         logs=f"platform error ({kind}); see the worker log", output_error=None)
    return outcome, failure


def _retry_later(submission: Submission) -> bool:
    """Requeue after a platform failure while attempts remain (after commit)."""
    from evaluation.tasks import enqueue_run

    if submission.attempts >= settings.ENCLAVE_RUN_ATTEMPTS:
        return False
    submission.status = Status.QUEUED
    submission.node = ""
    delay = 5 * 2 ** (submission.attempts - 1)
    transaction.on_commit(lambda: enqueue_run(submission.pk, submission.phase.queue, delay=delay))
    return True


def submission_execute(*, submission_id: int) -> None:
    """Run a queued submission in the sandbox and record what happened.

    A phase with `shards` > 1 hands its cases to that many shard tasks instead (see
    `evaluation.services.shards`). Platform failures are retried (ENCLAVE_RUN_ATTEMPTS in all)
    and never count against the team's quota; a submission cancelled meanwhile keeps its status
    and its outputs are dropped.
    """
    from evaluation.services.shards import shard_count, shards_dispatch

    submission = _claim(submission_id)
    if submission is None:
        return
    cases = list(cases_for_run(submission.phase))
    if shard_count(submission.phase, len(cases)) > 1:
        shards_dispatch(submission, len(cases))
        return
    work = run_workdir(f"sub{submission_id}-")
    predictions: Any = None
    try:
        with Heartbeat(submission_id):
            outcome, predictions = run_part(submission.phase, submission.image, cases, work)
        failure = failure_of(outcome, predictions)
    except Exception as exc:  # anything here is the platform's (or, rarely, the image's) fault
        logger.exception("platform failure running submission %s", submission_id)
        outcome, failure = platform_failure(exc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    connection_refresh()
    evict_unused_images()
    record_durably(lambda: _record(submission_id, outcome, failure, predictions),
                   lambda: _record(submission_id, platform_failure(RuntimeError("record"))[0],
                                   Failure(FailureReason.PLATFORM_ERROR), None),
                   what=f"the run of submission {submission_id}")


RECORD_RETRY_DELAYS_S = (1, 2, 4, 8)


def connection_refresh() -> None:
    """After a run of minutes, drop a database connection that died meanwhile (the next query
    reconnects); never inside a transaction, whose connection belongs to the caller."""
    if not connection.in_atomic_block:
        close_old_connections()


def record_durably(record: Callable[[], None], fallback: Callable[[], None], *, what: str) -> None:
    """Commit a run's record: retried (after RECORD_RETRY_DELAYS_S) while the database is
    unreachable; a record the database refuses outright is replaced by `fallback` (a platform
    failure), so that nothing stays running."""
    for delay in (*RECORD_RETRY_DELAYS_S, None):
        try:
            record()
            return
        except (OperationalError, InterfaceError):
            if delay is None:
                raise
            logger.warning("database unreachable while recording %s; retrying in %s s", what, delay)
            connection.close()
            time.sleep(delay)
        except DatabaseError:
            logger.exception("could not record %s", what)
            fallback()
            return


def evict_unused_images() -> None:
    """Keep this node's loaded images under SANDBOX_IMAGE_CACHE_BYTES, least recently used
    first, never touching an image a queued or running submission needs (best effort)."""
    try:
        needed = set(Submission.objects.filter(status__in=[Status.QUEUED, Status.RUNNING])
                     .values_list("image__image_id", flat=True))
        get_backend().evict(settings.SANDBOX_IMAGE_CACHE_BYTES, needed)
    except (SandboxError, DatabaseError):
        logger.exception("sandbox: image eviction failed on %s", node_name())


def node_reap() -> int:
    """Remove the containers and output mounts of this node's dead runs (at worker start)."""
    try:
        reaped = get_backend().reap()
    except SandboxError:
        logger.exception("sandbox: reaping %s failed", node_name())
        return 0
    if reaped:
        logger.warning("sandbox: reaped %d run(s) a dead worker left on %s", reaped, node_name())
    return reaped


def db_text(value: str) -> str:
    """Container text as the database can hold it (PostgreSQL text refuses NUL)."""
    return value.replace("\x00", "\ufffd")


def _record(submission_id: int, outcome: RunOutcome, failure: Failure | None,
            predictions: Any) -> None:
    with transaction.atomic():
        submission = Submission.objects.select_for_update().select_related("phase").get(
            pk=submission_id)
        if submission.status != Status.RUNNING:
            return
        record_outcome(submission, outcome, failure, predictions, retry=True)


def record_outcome(submission: Submission, outcome: RunOutcome, failure: Failure | None,
                   predictions: Any, *, retry: bool) -> None:
    """Within the caller's transaction, on a locked RUNNING submission: keep the run record,
    then fail the submission, requeue it (a platform failure, while `retry` and attempts
    remain) or store its predictions and enqueue scoring after commit."""
    from evaluation.tasks import enqueue_score

    RunRecord.objects.update_or_create(submission=submission, defaults={
        "verdict": outcome.verdict, "exit_code": outcome.exit_code,
        "duration_s": outcome.duration_s, "logs": db_text(outcome.logs),
        "output_error": db_text(outcome.output_error or "")[:200], "node": submission.node,
        "peak_memory_bytes": outcome.peak_memory_bytes, "cpu_seconds": outcome.cpu_seconds,
        "output_bytes": outcome.output_bytes,
    })
    submission.exit_code = outcome.exit_code
    if failure is not None and failure.reason == FailureReason.PLATFORM_ERROR and retry and (
            _retry_later(submission)):
        pass
    elif failure is not None:
        submission.status = Status.FAILED
        submission.failure_reason = failure.reason
        submission.failure_detail = db_text(failure.detail)[:200]
        submission.finished_at = timezone.now()
    else:
        from evaluation.services.scoring import store_predictions

        store_predictions(submission, predictions)
        submission.status = Status.SCORING
        transaction.on_commit(lambda: enqueue_score(submission.pk))
    submission.save()


def runs_sweep(*, stale_after_s: float | None = None) -> dict[str, int]:
    """Recover runs whose worker stopped beating: requeue them (a platform failure, so never
    counted against the quota), or fail them once attempts are spent. Returns the counts."""
    stale_after_s = stale_after_s or settings.ENCLAVE_HEARTBEAT_STALE_SECONDS
    cutoff = timezone.now() - timedelta(seconds=stale_after_s)
    counts = {"requeued": 0, "failed": 0}
    stale = Submission.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff).filter(
        shards__isnull=True)  # sharded runs are swept shard by shard
    for submission_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            submission = Submission.objects.select_for_update().select_related("phase").get(
                pk=submission_id)
            if submission.status != Status.RUNNING or submission.heartbeat_at is None or (
                    submission.heartbeat_at >= cutoff):
                continue
            logger.warning("run of submission %s on %s lost its heartbeat", submission.pk,
                           submission.node)
            if _retry_later(submission):
                counts["requeued"] += 1
            else:
                submission.status = Status.FAILED
                submission.failure_reason = FailureReason.PLATFORM_ERROR
                submission.finished_at = timezone.now()
                counts["failed"] += 1
            submission.save()
    from evaluation.services.shards import shards_sweep

    for key, value in shards_sweep(cutoff).items():
        counts[key] += value
    return counts
