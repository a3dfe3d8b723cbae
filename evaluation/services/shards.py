"""Sharded runs: a phase with `shards` > 1 splits its cases into that many disjoint parts, each
run as its own task by whichever worker of the phase's queue is free (one container per part,
one part per worker at a time), and merged before scoring.

The submission is claimed once (queued -> running) and stays running while its parts run. Each
part is claimed, run, recorded and retried (platform failures only) on its own; the part that
records last merges them all under the submission's row lock, so the merge happens exactly
once. Lock order everywhere: the submission's row, then the part's.
"""

import logging
import shutil
from datetime import datetime
from functools import partial
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from challenges.models import Phase
from challenges.selectors import cases_for_run
from evaluation.models import FailureReason, RunShard, Status, Submission
from evaluation.services.runs import (
    Failure,
    Heartbeat,
    connection_refresh,
    db_text,
    evict_unused_images,
    failure_of,
    node_name,
    platform_failure,
    record_durably,
    record_outcome,
    run_part,
    run_workdir,
)
from sandbox.backends.base import RunOutcome

logger = logging.getLogger(__name__)
State = RunShard.State
FINISHED = (State.DONE, State.FAILED, State.SKIPPED)


def shard_count(phase: Phase, n_cases: int) -> int:
    """How many parts a run of `phase` over `n_cases` cases is split into (at least one)."""
    return max(1, min(phase.shards, n_cases))


def shards_dispatch(submission: Submission, n_cases: int) -> list[RunShard]:
    """Create the parts of a claimed submission's run and enqueue them after commit."""
    from evaluation.tasks import enqueue_shard

    count = shard_count(submission.phase, n_cases)
    queue = submission.phase.queue
    with transaction.atomic():
        RunShard.objects.filter(submission=submission).delete()
        shards = RunShard.objects.bulk_create(
            RunShard(submission=submission, index=i, count=count) for i in range(count))
        for shard in shards:
            transaction.on_commit(partial(enqueue_shard, shard.pk, queue))
    return shards


def _claim(shard_id: int) -> RunShard | None:
    """queued -> running, or skipped when the run was cancelled or another part already failed."""
    with transaction.atomic():
        submission_id = RunShard.objects.filter(pk=shard_id).values_list(
            "submission_id", flat=True).first()
        if submission_id is None:
            return None
        submission = Submission.objects.select_for_update().get(pk=submission_id)
        shard = RunShard.objects.select_for_update().select_related(
            "submission__phase__challenge", "submission__image").get(pk=shard_id)
        if shard.state != State.QUEUED:
            return None
        if submission.status != Status.RUNNING or RunShard.objects.filter(
                submission=submission, state=State.FAILED).exists():
            shard.state, shard.finished_at = State.SKIPPED, timezone.now()
            shard.save(update_fields=["state", "finished_at"])
            _merge_if_complete(submission)
            return None
        shard.state = State.RUNNING
        shard.started_at = shard.heartbeat_at = timezone.now()
        shard.attempts += 1
        shard.node = node_name()
        shard.save(update_fields=["state", "started_at", "heartbeat_at", "attempts", "node"])
        return shard


def shard_execute(*, shard_id: int) -> None:
    """Run one part of a sharded submission on this worker and record it; the last part to
    finish merges the run."""
    shard = _claim(shard_id)
    if shard is None:
        return
    submission = shard.submission
    cases = list(cases_for_run(submission.phase))[shard.index::shard.count]
    work = run_workdir(f"sub{submission.pk}-part{shard.index}-")
    predictions: Any = None
    try:
        with Heartbeat(submission.pk, shard_id=shard.pk):
            outcome, predictions = run_part(submission.phase, submission.image, cases, work)
        failure = failure_of(outcome, predictions)
    except Exception as exc:  # the platform's (or, rarely, the image's) fault
        logger.exception("platform failure running %s", shard)
        outcome, failure = platform_failure(exc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    connection_refresh()
    evict_unused_images()
    record_durably(lambda: _record(shard_id, outcome, failure, None if failure else predictions),
                   lambda: _record(shard_id, platform_failure(RuntimeError("record"))[0],
                                   Failure(FailureReason.PLATFORM_ERROR), None),
                   what=f"part {shard_id}")


def _record(shard_id: int, outcome: RunOutcome, failure: Failure | None,
            predictions: dict[str, Any] | None) -> None:
    from evaluation.tasks import enqueue_shard

    with transaction.atomic():
        submission_id = RunShard.objects.values_list("submission_id", flat=True).get(pk=shard_id)
        submission = Submission.objects.select_for_update().select_related("phase").get(
            pk=submission_id)
        shard = RunShard.objects.select_for_update().get(pk=shard_id)
        if shard.state != State.RUNNING:
            return
        shard.verdict, shard.exit_code = outcome.verdict, outcome.exit_code
        shard.duration_s, shard.logs = outcome.duration_s, db_text(outcome.logs)
        shard.output_error = db_text(outcome.output_error or "")[:200]
        shard.peak_memory_bytes, shard.cpu_seconds = outcome.peak_memory_bytes, outcome.cpu_seconds
        shard.output_bytes = outcome.output_bytes
        retry = (failure is not None and failure.reason == FailureReason.PLATFORM_ERROR
                 and submission.status == Status.RUNNING
                 and shard.attempts < settings.ENCLAVE_RUN_ATTEMPTS)
        if retry:
            _requeue(shard, delay=5 * 2 ** (shard.attempts - 1), enqueue=enqueue_shard,
                     queue=submission.phase.queue)
            return
        shard.state = State.FAILED if failure else State.DONE
        shard.failure_reason = failure.reason if failure else ""
        shard.failure_detail = db_text(failure.detail)[:200] if failure else ""
        shard.predictions = predictions
        shard.finished_at = timezone.now()
        shard.save()
        _merge_if_complete(submission)


def _requeue(shard: RunShard, *, delay: float, enqueue: Any, queue: str) -> None:
    shard.state, shard.node, shard.queued_at = State.QUEUED, "", timezone.now()
    shard.save()
    transaction.on_commit(lambda: enqueue(shard.pk, queue, delay=delay))


def _merged_outcome(shards: list[RunShard]) -> tuple[RunOutcome, Failure | None]:
    """The run's outcome: the first failed part (by index) decides; logs keep every part."""
    failed = next((s for s in shards if s.state == State.FAILED), None)
    decisive = failed or shards[0]
    logs = "".join(f"[shard {s.index + 1}/{s.count}] ({s.state})\n{s.logs}" for s in shards)
    outcome = RunOutcome(verdict=cast(Any, decisive.verdict), exit_code=decisive.exit_code,
                         duration_s=max(s.duration_s for s in shards), logs=logs,
                         output_error=decisive.output_error or None,
                         peak_memory_bytes=_known(max, [s.peak_memory_bytes for s in shards]),
                         cpu_seconds=_known(sum, [s.cpu_seconds for s in shards]),
                         output_bytes=_known(sum, [s.output_bytes for s in shards]))
    failure = Failure(failed.failure_reason, failed.failure_detail) if failed else None
    return outcome, failure


def _known(combine: Any, values: list[Any]) -> Any:
    """`combine` (max or sum) of the parts' measurements; None when no part was measured."""
    known = [value for value in values if value is not None]
    return combine(known) if known else None


def _merge_if_complete(submission: Submission) -> None:
    """Within the caller's transaction, holding the submission's row lock: once every part has
    finished, record the run as one (failed, or its merged predictions sent to scoring)."""
    shards = list(RunShard.objects.filter(submission=submission).order_by("index"))
    if not shards or any(s.state not in FINISHED for s in shards):
        return
    if submission.status != Status.RUNNING:  # cancelled meanwhile: outputs are dropped
        RunShard.objects.filter(submission=submission).update(predictions=None)
        return
    outcome, failure = _merged_outcome(shards)
    if failure is None and any(s.state == State.SKIPPED for s in shards):
        failure = Failure(FailureReason.PLATFORM_ERROR)  # cannot happen without a failed part
    merged: dict[str, Any] = {}
    for shard in shards:
        merged |= shard.predictions or {}
    submission.node = ",".join(sorted({s.node for s in shards if s.node}))[:128]
    record_outcome(submission, outcome, failure, None if failure else merged, retry=False)
    RunShard.objects.filter(submission=submission).update(predictions=None)


def shards_sweep(cutoff: datetime) -> dict[str, int]:
    """Recover parts whose worker stopped beating before `cutoff`: requeue them while attempts
    remain, else fail them as the platform's failure (never counted). Returns the counts."""
    from evaluation.tasks import enqueue_shard

    counts = {"requeued": 0, "failed": 0}
    stale = RunShard.objects.filter(state=State.RUNNING, heartbeat_at__lt=cutoff)
    for shard_id, submission_id in stale.values_list("pk", "submission_id"):
        with transaction.atomic():
            submission = Submission.objects.select_for_update().select_related("phase").get(
                pk=submission_id)
            shard = RunShard.objects.select_for_update().get(pk=shard_id)
            if shard.state != State.RUNNING or shard.heartbeat_at is None or (
                    shard.heartbeat_at >= cutoff):
                continue
            logger.warning("%s on %s lost its heartbeat", shard, shard.node)
            if submission.status == Status.RUNNING and shard.attempts < settings.ENCLAVE_RUN_ATTEMPTS:
                _requeue(shard, delay=0, enqueue=enqueue_shard, queue=submission.phase.queue)
                counts["requeued"] += 1
                continue
            shard.state, shard.verdict = State.FAILED, "platform_error"
            shard.failure_reason = FailureReason.PLATFORM_ERROR
            shard.finished_at = timezone.now()
            shard.save()
            counts["failed"] += 1
            _merge_if_complete(submission)
    return counts
