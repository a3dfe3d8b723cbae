"""Recovering the messages a broker lost, so that no submission waits forever.

The run sweeper (`runs.runs_sweep`) recovers runs whose worker died. This covers the two states in
which a submission waits on a message rather than on a worker: `queued` (a run message no worker
has taken) and `scoring` (a score message not yet handled). A broker restarted without
persistence loses both kinds, and so does a publish that fails after its transaction committed.

The broker cannot say which messages it holds, only how many wait in each queue. When a queue
holds fewer messages than there are submissions waiting on it, the oldest of those that have been
waiting longer than ENCLAVE_STALLED_SECONDS are sent again to make up the difference. Sending
again is safe: claiming a run and scoring both check the submission's status under a row lock,
so a duplicate message finds nothing to do; and comparing counts keeps duplicates few (a queue
that still holds its messages is never topped up).
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F
from django.db.models.functions import Coalesce
from django.utils import timezone

from challenges.models import Phase
from evaluation.models import RunShard, Status, Submission

logger = logging.getLogger(__name__)

SCORE_QUEUE = "default"
DEFAULT_STALLED_SECONDS = 300.0


def broker_queue_length(queue: str) -> int:
    """Messages ready in `queue` on the broker (0 for a queue the broker does not know).

    Messages a worker has taken but not acknowledged are not counted."""
    from config.celery import app

    with app.connection_for_read() as conn:
        channel = conn.channel()
        try:
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
        except conn.channel_errors:
            return 0
        finally:
            try:
                channel.close()
            except conn.channel_errors + conn.connection_errors:  # already closed by a 404
                pass


def _waiting_on_queues(status: str) -> dict[str, int]:
    """How many submissions in `status` (and, for `queued`, parts of sharded runs) wait on each
    queue."""
    totals: dict[str, int] = defaultdict(int)
    phases = Phase.objects.filter(submissions__status=status).annotate(n=Count("submissions"))
    for phase in phases:
        totals[phase.queue if status == Status.QUEUED else SCORE_QUEUE] += phase.n
    if status == Status.QUEUED:
        for phase in Phase.objects.filter(submissions__shards__state=RunShard.State.QUEUED).annotate(
                n=Count("submissions__shards")):
            totals[phase.queue] += phase.n
    return totals


def _stalled_shards(cutoff: datetime) -> list[tuple[int, str]]:
    """(id, queue) of queued parts of running sharded runs waiting since before `cutoff`."""
    rows = (RunShard.objects.filter(state=RunShard.State.QUEUED, queued_at__lt=cutoff,
                                    submission__status=Status.RUNNING)
            .order_by("queued_at", "pk").select_related("submission__phase"))
    return [(shard.pk, shard.submission.phase.queue) for shard in rows]


def _stalled(status: str, cutoff: datetime) -> list[tuple[int, str]]:
    """(id, queue) of submissions in `status` untouched since `cutoff`, oldest first."""
    rows = (
        Submission.objects.filter(status=status)
        .alias(since=Coalesce(F("heartbeat_at"), F("created")))
        .filter(since__lt=cutoff)
        .order_by("since", "pk")
        .select_related("phase")
    )
    if status == Status.SCORING:
        rows = rows.filter(results__isnull=True)
    return [(s.pk, s.phase.queue if status == Status.QUEUED else SCORE_QUEUE) for s in rows]


def stalled_requeue(*, stalled_after_s: float | None = None,
                    queue_length: Callable[[str], int] = broker_queue_length) -> dict[str, int]:
    """Send again the run and score messages the broker lost (see the module's docstring).

    `queued`: submissions no worker has claimed, untouched (created, or last beating before a
    retry) for `stalled_after_s`; `scoring`: submissions whose run was recorded that long ago
    and that have no result. Returns how many of each were sent again."""
    from evaluation.tasks import enqueue_run, enqueue_score, enqueue_shard

    if stalled_after_s is None:
        stalled_after_s = getattr(settings, "ENCLAVE_STALLED_SECONDS", DEFAULT_STALLED_SECONDS)
    cutoff = timezone.now() - timedelta(seconds=stalled_after_s)
    counts = {"queued": 0, "scoring": 0, "parts": 0}
    for status, key in ((Status.QUEUED, "queued"), (Status.SCORING, "scoring")):
        stalled = [("submission", pk, queue) for pk, queue in _stalled(status, cutoff)]
        if status == Status.QUEUED:
            stalled += [("part", pk, queue) for pk, queue in _stalled_shards(cutoff)]
        if not stalled:
            continue
        missing = {queue: total - queue_length(queue)
                   for queue, total in _waiting_on_queues(status).items()}
        for kind, pk, queue in stalled:
            if missing.get(queue, 0) <= 0:
                continue
            missing[queue] -= 1
            logger.warning("%s %s stalled while %s: sending its message again", kind, pk, status)
            if kind == "part":
                enqueue_shard(pk, queue)
                counts["parts"] += 1
            elif status == Status.QUEUED:
                enqueue_run(pk, queue)
                counts[key] += 1
            else:
                enqueue_score(pk)
                counts[key] += 1
    return counts
