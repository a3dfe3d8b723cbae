"""Where a team's submission stands: its place in its Celery queue, an estimate of when it
starts, and what is left of the team's quota.

Other teams appear only as counts: how many submissions wait ahead on the same queue, never
whose, nor of which challenge or phase. The start estimate is rough on purpose and says so: the
median wall time of the queue's last RECENT_RUNS runs, times the runs ahead (queued before it
and running now), divided by the workers seen on the queue lately; no run history, no estimate.
"""

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from accounts.models import Team
from challenges.models import Phase
from evaluation.models import FailureReason, RunRecord, Status, Submission

RECENT_RUNS = 20
WORKERS_SEEN_WITHIN = timedelta(hours=6)
GPU_QUEUE, CPU_QUEUE = "sandbox-gpu", "sandbox-cpu"


@dataclass(frozen=True)
class QueuePlace:
    position: int  # 1-based among the queued submissions of its queue, oldest first
    estimated_start: datetime | None  # None without run history on the queue


def on_queue(queue: str, path: str = "phase__") -> Q:
    """Rows whose phase runs on `queue`: the database form of `Phase.queue`."""
    return Q(**{f"{path}gpus__gt": 0}) if queue == GPU_QUEUE else Q(**{f"{path}gpus": 0})


def _typical_run_s(queue: str) -> float | None:
    """The median wall time of the queue's last RECENT_RUNS runs (platform failures, which
    end at once, left out); None when the queue has run nothing yet."""
    durations = list(
        RunRecord.objects.filter(on_queue(queue, "submission__phase__"))
        .exclude(verdict="platform_error").order_by("-pk")
        .values_list("duration_s", flat=True)[:RECENT_RUNS]
    )
    return statistics.median(durations) if durations else None


def queue_places(submissions: Iterable[Submission]) -> dict[int, QueuePlace]:
    """submission id -> its QueuePlace, for the queued ones among `submissions` (which must
    come with their phase). One query for every position at once, plus one per queue they wait
    on for its run history; none when nothing is queued."""
    queued = [s for s in submissions if s.status == Status.QUEUED]
    if not queued:
        return {}
    queues = sorted({s.phase.queue for s in queued})
    since = timezone.now() - WORKERS_SEEN_WITHIN
    counts: dict[str, Count] = {}
    for s in queued:
        counts[f"ahead_{s.pk}"] = Count("pk", filter=Q(status=Status.QUEUED) & on_queue(
            s.phase.queue) & (Q(created__lt=s.created) | Q(created=s.created, pk__lt=s.pk)))
    for queue in queues:
        counts[f"running_{queue}"] = Count(
            "pk", filter=Q(status=Status.RUNNING) & on_queue(queue))
        counts[f"workers_{queue}"] = Count(
            "node", distinct=True,
            filter=Q(started_at__gte=since) & ~Q(node="") & on_queue(queue))
    totals = Submission.objects.filter(
        Q(status__in=[Status.QUEUED, Status.RUNNING]) | Q(started_at__gte=since)
    ).order_by().aggregate(**counts)
    typical = {queue: _typical_run_s(queue) for queue in queues}
    now = timezone.now()
    places = {}
    for s in queued:
        queue, ahead = s.phase.queue, totals[f"ahead_{s.pk}"]
        running = totals[f"running_{queue}"]
        workers = max(totals[f"workers_{queue}"], running, 1)
        run_s = typical[queue]
        start = None if run_s is None else now + timedelta(
            seconds=run_s * (ahead + running) / workers)
        places[s.pk] = QueuePlace(position=ahead + 1, estimated_start=start)
    return places


# --- quotas --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Quota:
    limit: int
    used: int
    window_hours: int
    next_frees_at: datetime | None  # when the oldest counted submission leaves the window

    @property
    def left(self) -> int:
        return max(self.limit - self.used, 0)


def counted_submissions(phase: Phase) -> QuerySet[Submission]:
    """The submissions to `phase` (all teams) that count against their team's quota now: those
    created in the current window, except failures caused by the platform and cancelled ones.
    The one definition of the quota: `submission_create` enforces it, pages show it."""
    since = timezone.now() - timedelta(hours=phase.limit_window_hours)
    return (Submission.objects.filter(phase=phase, created__gte=since)
            .exclude(failure_reason=FailureReason.PLATFORM_ERROR)
            .exclude(status=Status.CANCELLED))


def quotas_of(phase: Phase, teams: Iterable[Team]) -> dict[int, Quota]:
    """team id -> its Quota on `phase`, for each of `teams`, in one query."""
    team_ids = [team.pk for team in teams]
    rows = {row["team"]: row for row in counted_submissions(phase).filter(team__in=team_ids)
            .order_by().values("team").annotate(used=Count("pk"), oldest=Min("created"))}
    window = timedelta(hours=phase.limit_window_hours)
    quotas = {}
    for team_id in team_ids:
        row = rows.get(team_id)
        quotas[team_id] = Quota(
            limit=phase.submission_limit, used=row["used"] if row else 0,
            window_hours=phase.limit_window_hours,
            next_frees_at=row["oldest"] + window if row else None)
    return quotas


def quota_of(phase: Phase, team: Team) -> Quota:
    return quotas_of(phase, [team])[team.pk]
