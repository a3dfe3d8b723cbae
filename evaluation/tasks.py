"""Celery tasks: each takes an id and calls a service. Enqueue them only after commit."""

from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.core.cache import cache

from evaluation import services

RUN_TASK = "evaluation.submission_run"
SCORE_TASK = "evaluation.submission_score"
RANKING_TASK = "evaluation.phase_ranking"
SWEEP_TASK = "evaluation.runs_sweep"
REEVALUATE_TASK = "evaluation.phase_reevaluate"
SHARD_TASK = "evaluation.shard_run"


@shared_task(name=RUN_TASK, acks_late=True, reject_on_worker_lost=True)
def submission_run(submission_id: int) -> None:
    services.submission_execute(submission_id=submission_id)


@shared_task(name=SHARD_TASK, acks_late=True, reject_on_worker_lost=True)
def shard_run(shard_id: int) -> None:
    from evaluation.services.shards import shard_execute

    shard_execute(shard_id=shard_id)


@shared_task(name=SCORE_TASK, acks_late=True, reject_on_worker_lost=True)
def submission_score(submission_id: int) -> None:
    services.submission_score(submission_id=submission_id)


@shared_task(name=SWEEP_TASK, acks_late=True)
def runs_sweep() -> None:
    from evaluation.services.recovery import stalled_requeue
    from evaluation.services.runs import runs_sweep as sweep
    from evaluation.services.uploads import uploads_sweep

    sweep()
    uploads_sweep()
    stalled_requeue()


def enqueue_run(submission_id: int, queue: str, *, delay: float = 0) -> None:
    submission_run.apply_async(args=[submission_id], queue=queue, countdown=delay or None)


def enqueue_shard(shard_id: int, queue: str, *, delay: float = 0) -> None:
    shard_run.apply_async(args=[shard_id], queue=queue, countdown=delay or None)


def enqueue_score(submission_id: int) -> None:
    submission_score.apply_async(args=[submission_id], queue="default")


# How long a queued ranking holds off others for its phase: past this, one lost on the way does
# not keep the phase from being ranked again.
RANKING_PENDING_SECONDS = 15 * 60


def ranking_pending_key(phase_id: int) -> str:
    return f"enclave:ranking-pending:{phase_id}"


@shared_task(name=RANKING_TASK, acks_late=True, reject_on_worker_lost=True)
def phase_ranking(phase_id: int) -> None:
    """Clears the phase's pending mark before reading its results, so a result that comes later
    queues another ranking; skips the work when the ranking already covers the current results."""
    from evaluation.services.ranking import phase_ranking_update

    cache.delete(ranking_pending_key(phase_id))
    phase_ranking_update(phase_id=phase_id, unless_current=True)


@shared_task(name=REEVALUATE_TASK, acks_late=True, reject_on_worker_lost=True)
def phase_reevaluate(phase_id: int, actor_id: int | None = None) -> None:
    from accounts.models import User
    from challenges.models import Phase
    from evaluation.services.scoring import phase_reevaluate as reevaluate

    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    reevaluate(phase=Phase.objects.get(pk=phase_id), actor=actor)


def enqueue_ranking(phase_id: int) -> None:
    """Queue a re-ranking of the phase unless one is queued and not started yet: that one ranks
    every result committed before it starts. The mark lives in the cache, so this holds with a
    cache all processes share; with a per-process cache every call queues a ranking (those with
    nothing new to rank return at once)."""
    from evaluation.selectors import cache_is_shared

    key = ranking_pending_key(phase_id)
    if cache_is_shared() and not cache.add(key, 1, RANKING_PENDING_SECONDS):
        return
    try:
        phase_ranking.apply_async(args=[phase_id], queue="default")
    except Exception:
        cache.delete(key)  # not queued: let the next call try
        raise


def enqueue_reevaluate(phase_id: int, actor_id: int | None) -> None:
    phase_reevaluate.apply_async(args=[phase_id, actor_id], queue="default")


@worker_ready.connect
def reap_node_on_start(sender: Any = None, **_: Any) -> None:
    """A sandbox worker starting on a node first cleans up what a dead predecessor left."""
    consumer = getattr(sender, "task_consumer", None)
    queues = {queue.name for queue in getattr(consumer, "queues", [])}
    if any(name.startswith("sandbox-") for name in queues):
        from evaluation.services.runs import node_reap

        node_reap()
