"""Leaderboard reads: built once per `leaderboard_version` and cached, so reading one costs the
same few queries whatever its number of entries; the services that change a board call
`leaderboard_changed` so that the next request sees the change.
"""

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.core.cache import cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction
from django.db.models import Count, Func, IntegerField, Max, QuerySet, Subquery
from django.utils.translation import gettext as _

from accounts.permissions import AnyUser, can_see_hidden_data
from challenges.models import Phase
from config.errors import Forbidden
from evaluation.models import (
    LeaderboardSnapshot,
    PhaseRanking,
    Result,
)
from evaluation.selectors.submissions import scores_are_public

T = TypeVar("T")


@dataclass(frozen=True)
class LeaderboardEntry:
    rank: int
    team: str
    team_name: str
    submission_id: int
    image: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n_cases: int
    metrics: dict[str, dict[str, Any]]
    created: str
    rank_low: int | None = None
    rank_high: int | None = None
    median_rank: float | None = None


@dataclass(frozen=True)
class Leaderboard:
    phase: Phase
    primary: str
    columns: list[tuple[str, str]]  # (metric key, direction)
    ranking_method: str
    entries: list[LeaderboardEntry]
    spec_version: int
    truth_version: int
    stability: dict[str, Any] = field(default_factory=dict)
    ranking: PhaseRanking | None = None  # its data and plots load on first access
    version: str = ""  # leaderboard_version() of the state it was built from
    # Published human reference rows (review app's reader studies): shown apart, never ranked.
    references: list[Any] = field(default_factory=list)


# A built leaderboard is cached under its version, which changes with every new result and
# ranking; the timeout only bounds how long a renamed team keeps its old name on the board.
LEADERBOARD_CACHE_SECONDS = 600


def leaderboard_visible(user: AnyUser, phase: Phase) -> bool:
    return scores_are_public(phase) or can_see_hidden_data(user, phase.challenge.society)


def _better(direction: str, a: float | None, b: float | None) -> bool:
    if a is None:
        return False
    if b is None:
        return True
    return a > b if direction == "higher" else a < b


def _current_results(phase: Phase) -> QuerySet[Result]:
    return Result.objects.filter(phase=phase, is_current=True,
                                 spec_version=phase.challenge.metric_version,
                                 truth_version=phase.truth_version)


def _current_ranking(phase: Phase) -> QuerySet[PhaseRanking]:
    return PhaseRanking.objects.filter(phase=phase, spec_version=phase.challenge.metric_version,
                                       truth_version=phase.truth_version)


def best_results(phase: Phase, direction: str) -> list[Result]:
    """Each team's best current result under the current spec and truth versions."""
    results = (_current_results(phase).select_related("team", "submission__image")
               .order_by("created"))
    best: dict[int, Result] = {}
    for result in results:
        held = best.get(result.team_id)
        if held is None or _better(direction, result.primary_value, held.primary_value):
            best[result.team_id] = result
    return list(best.values())


def results_state(phase: Phase) -> dict[str, int]:
    """How many current results the phase has under the current versions, and the newest one's
    id: a new or re-scored result changes it (one query)."""
    state = _current_results(phase).aggregate(n=Count("pk"), last=Max("pk"))
    return {"n": state["n"], "last": state["last"] or 0}


def _value_ranks(results: list[Result], direction: str) -> dict[int, int]:
    sign = -1.0 if direction == "higher" else 1.0
    ordered = sorted(results, key=lambda r: (r.primary_value is None,
                                             sign * (r.primary_value or 0.0), r.created))
    ranks: dict[int, int] = {}
    previous: Result | None = None
    for position, result in enumerate(ordered, start=1):
        tied = previous is not None and previous.primary_value == result.primary_value
        ranks[result.submission_id] = ranks[previous.submission_id] if tied and previous else position
        previous = result
    return ranks


def _fingerprint(phase: Phase) -> str:
    """A digest of everything the phase's leaderboard page is built from, read from the database
    in one query whatever the number of entries: the challenge's spec, the current results under
    the current versions, the phase's ranking and its latest snapshot."""
    from evaluation.services.specs import spec_dict_of

    def scalar(queryset: QuerySet[Any], expression: Any) -> Subquery:
        return Subquery(queryset.order_by().values("phase")
                        .annotate(value=expression).values("value")[:1])

    from review.selectors.reference import reference_rows_of_phase

    results = _current_results(phase)
    references = reference_rows_of_phase(phase)
    state = Phase.objects.filter(pk=phase.pk).values_list(
        scalar(results, Count("pk")), scalar(results, Max("pk")), scalar(results, Max("created")),
        scalar(_current_ranking(phase), Max("computed")),
        scalar(LeaderboardSnapshot.objects.filter(phase=phase), Max("pk")),
        scalar(references, Count("pk")), scalar(references, Max("updated")),
    ).first()
    digest = [phase.pk, phase.challenge.metric_version, phase.truth_version,
              spec_dict_of(phase.challenge), state]
    return hashlib.sha256(json.dumps(digest, sort_keys=True, default=str).encode()).hexdigest()


# With a cache that every web and worker process shares, the services that change what a board
# shows give its phase a fresh version token after they commit (`leaderboard_changed`), and a
# request reads the token with one cache get. The token expires after a while all the same: a
# change whose signal was lost shows after this many seconds at the latest. Tokens are the
# database's fingerprint of the board, so an expired token that is read again is the same.
LEADERBOARD_VERSION_SECONDS = 60


def cache_is_shared() -> bool:
    """Whether the default cache is one that every process sees (Redis, memcached, files, the
    database), not a per-process one: only then may one process tell the others through it."""
    return not isinstance(caches["default"], LocMemCache | DummyCache)


def _version_key(phase_id: int) -> str:
    return f"enclave:leaderboard:version:{phase_id}"


def leaderboard_version(phase: Phase) -> str:
    """The version of the phase's leaderboard: it changes with every new result, ranking, snapshot,
    spec and ground truth version. With a shared cache, a cache get (the token
    `leaderboard_changed` gave the phase), or on a miss the database's fingerprint (one query);
    with a per-process cache always the fingerprint."""
    token: str | None = None
    if cache_is_shared():
        key = _version_key(phase.pk)
        token = cache.get(key)
        if token is None:
            token = _fingerprint(phase)
            cache.add(key, token, LEADERBOARD_VERSION_SECONDS)  # a newer token set meanwhile wins
    else:
        token = _fingerprint(phase)
    return f"{phase.pk}.{phase.challenge.metric_version}.{phase.truth_version}.{token}"


def leaderboard_changed(*, phase_ids: Iterable[int]) -> None:
    """Tell readers that these phases' leaderboards change with the current transaction: call it
    inside the transaction that changes results, rankings, snapshots or specs. Their version is
    forgotten now (a reader falls back to the database's fingerprint) and set to a fresh token
    once the transaction commits, so the very next request after the commit builds the board
    again, and a reader that read the database before the commit cannot keep the old one."""
    ids = sorted(set(phase_ids))
    if not ids or not cache_is_shared():
        return
    cache.delete_many([_version_key(phase_id) for phase_id in ids])
    transaction.on_commit(lambda: _versions_renew(ids))


def _versions_renew(phase_ids: list[int]) -> None:
    """The phases' tokens, set to the database's fingerprints: the token a reader computes when
    the cached one expires is then the same, and the board is not built again for nothing."""
    phases = Phase.objects.select_related("challenge").filter(pk__in=phase_ids)
    cache.set_many({_version_key(phase.pk): _fingerprint(phase) for phase in phases},
                   LEADERBOARD_VERSION_SECONDS)


def _leaderboard_build(phase: Phase, version: str) -> Leaderboard:
    """The leaderboard from the database: three queries, whatever the number of entries."""
    from evaluation.services.specs import spec_of

    spec = spec_of(phase.challenge)
    direction = spec.primary.direction
    results = best_results(phase, direction)
    # Only the parts of the ranking the board shows: not its per-resample distributions'
    # significance matrix, nor its plots (Leaderboard.ranking loads those when asked).
    parts = _current_ranking(phase).values_list(
        "data__submissions", "data__ranks", "data__stability", "data__summary").first()
    covers = parts is not None and parts[0] == sorted(r.submission_id for r in results)
    ranking = _current_ranking(phase).only(
        "phase", "spec_version", "truth_version", "computed").first() if covers else None
    _submissions, ranks_data, stability, summary = parts if parts and covers else ([], {}, {}, {})
    ranks = {int(k): v for k, v in (ranks_data or {}).items()} or _value_ranks(results, direction)
    stability = stability or {}
    entries = []
    for result in results:
        team_stability = stability.get(str(result.submission_id), {})
        entries.append(LeaderboardEntry(
            rank=ranks[result.submission_id], team=result.team.slug, team_name=result.team.name,
            submission_id=result.submission_id, image=result.submission.image.image_id,
            value=result.primary_value, ci_low=result.primary_ci_low,
            ci_high=result.primary_ci_high, n_cases=result.n_cases,
            metrics=result.metrics["metrics"], created=result.created.isoformat(),
            rank_low=team_stability.get("rank_low"), rank_high=team_stability.get("rank_high"),
            median_rank=team_stability.get("median_rank"),
        ))
    entries.sort(key=lambda e: (e.rank, e.created))
    return Leaderboard(
        phase=phase, primary=spec.primary.key,
        columns=[(m.key, m.direction) for m in spec.metrics],
        ranking_method=spec.ranking_method, entries=entries,
        spec_version=phase.challenge.metric_version, truth_version=phase.truth_version,
        stability=summary or {}, ranking=ranking, version=version,
        references=_reference_entries(phase),
    )


def _reference_entries(phase: Phase) -> list[Any]:
    """The phase's published human reference rows (one query; the review app scores them)."""
    from review.selectors.reference import published_reference_rows

    return published_reference_rows(phase)


def leaderboard_version_for(user: AnyUser, phase: Phase) -> str:
    """The phase's leaderboard version, for a user who may see the leaderboard."""
    if not leaderboard_visible(user, phase):
        raise Forbidden("leaderboard_hidden",
                        _("The society has not published this phase's results yet."))
    return leaderboard_version(phase)


class _Recent:
    """This process's copies of the few leaderboards it served last, in front of the shared
    cache: a hit costs no cache round trip nor unpickling. Keys carry the version, so a copy is
    never stale; it expires with the shared cache's timeout all the same."""

    size = 16

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        item = self._items.get(key)
        return item[1] if item is not None and item[0] > time.monotonic() else None

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + LEADERBOARD_CACHE_SECONDS, value)
            while len(self._items) > self.size:
                del self._items[next(iter(self._items))]


_recent = _Recent()


# A request that finds a new version unbuilt waits this long for another process building it,
# polling the shared cache, before it builds the board itself: a burst of requests right after
# a new result builds the board once, not once per request.
BUILD_WAIT_SECONDS = 5.0


def _made_once(key: str, make: Callable[[], T]) -> T:
    lock = f"{key}:building"
    if cache_is_shared() and not cache.add(lock, 1, int(BUILD_WAIT_SECONDS) + 1):
        deadline = time.monotonic() + BUILD_WAIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.02)
            made: T | None = cache.get(key)
            if made is not None:
                return made
    value = make()
    cache.set(key, value, LEADERBOARD_CACHE_SECONDS)
    return value


def _cached(key: str, make: Callable[[], T]) -> T:
    """`make()` once per key: from this process's copies, else the shared cache, else made."""
    value: T | None = _recent.get(key)
    if value is None:
        value = cache.get(key)
        if value is None:
            value = _made_once(key, make)
        _recent.put(key, value)
    return value


def _board(phase: Phase, version: str) -> Leaderboard:
    board = _cached(f"enclave:leaderboard:{version}", lambda: _leaderboard_build(phase, version))
    return dataclasses.replace(board, phase=phase)


def leaderboard_for(user: AnyUser, phase: Phase, *, fresh: bool = False) -> Leaderboard:
    """Each team's best result with every metric's CI, ranked by the spec's method; the rank
    interval comes from the phase's paired bootstrap when it covers exactly these entries.

    Built once per leaderboard version and cached: a request costs a cache read (see
    `leaderboard_version`), whatever the number of entries. `fresh` builds it from the database
    (what publication freezes must not depend on the cache)."""
    if fresh:
        leaderboard_version_for(user, phase)  # the permission check
        return _leaderboard_build(phase, _fingerprint(phase))
    return _board(phase, leaderboard_version_for(user, phase))


def leaderboard_cached(user: AnyUser, phase: Phase, name: str,
                       make: Callable[[Leaderboard], T], *, version: str | None = None) -> T:
    """`make(board)` — say, the API's JSON or the page's table — computed once per leaderboard
    version and cached under `name`, for a user who may see the leaderboard. `version`: the
    phase's `leaderboard_version`, when the caller has read it already."""
    if not leaderboard_visible(user, phase):
        raise Forbidden("leaderboard_hidden",
                        _("The society has not published this phase's results yet."))
    version = version or leaderboard_version(phase)
    return _cached(f"enclave:leaderboard:{name}:{version}",
                   lambda: make(_board(phase, version)))


class _JSONArrayLength(Func):
    function = "JSON_ARRAY_LENGTH"  # SQLite
    output_field = IntegerField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, function="JSONB_ARRAY_LENGTH", **extra)


def leaderboard_snapshots(phase: Phase, limit: int = 20, *,
                          version: str | None = None) -> list[dict[str, Any]]:
    """The phase's latest published snapshots: id (`pk`), `created`, `spec_version`,
    `truth_version` and number of entries (`n_entries`), not their entries. Cached under the
    phase's leaderboard `version` when the caller gives it (publishing changes the version)."""
    def read() -> list[dict[str, Any]]:
        rows = (phase.snapshots.annotate(n_entries=_JSONArrayLength("entries"))
                .values("pk", "created", "spec_version", "truth_version", "n_entries")[:limit])
        return [dict(row) for row in rows]

    if version is None:
        return read()
    return _cached(f"enclave:leaderboard:snapshots:{limit}:{version}", read)


def leaderboard_rows(board: Leaderboard) -> list[dict[str, Any]]:
    """Flat rows for CSV/JSON export: rank, rank interval, team, image, date, every metric."""
    rows = []
    for e in board.entries:
        row: dict[str, Any] = {
            "rank": e.rank, "rank_low": e.rank_low, "rank_high": e.rank_high, "team": e.team,
            "submission_id": e.submission_id, "image": e.image, "date": e.created,
            "n_cases": e.n_cases,
        }
        for key, _direction in board.columns:
            metric = e.metrics.get(key, {})
            row[key] = metric.get("value")
            row[f"{key}_ci_low"] = metric.get("ci_low")
            row[f"{key}_ci_high"] = metric.get("ci_high")
        rows.append(row)
    return rows


def reference_rows_for(user: AnyUser, phase: Phase) -> list[Any]:
    """The phase's published human reference rows, from the cached board; none where the board
    is hidden from `user`."""
    if not leaderboard_visible(user, phase):
        return []
    return list(leaderboard_for(user, phase).references)
