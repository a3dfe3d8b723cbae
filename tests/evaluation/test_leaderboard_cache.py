"""The leaderboard's cache with a cache that every process shares (here: files, as Redis would).

Requests read the phase's version token from the cache; the services that change a board give the
phase a new token once they commit. Whatever they change shows on the very next request, on the
page and in the API. Rankings are queued at most once per phase while one is pending.
"""

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from challenges.errors import ChallengeNotFound
from challenges.models import LeaderboardVisibility, Phase
from challenges.selectors import access_phase_by_user
from evaluation import tasks
from evaluation.models import CaseResult, LeaderboardSnapshot, PhaseRanking, Status, Submission
from evaluation.selectors.leaderboard import (
    _version_key,
    cache_is_shared,
    leaderboard_changed,
    leaderboard_version,
)
from evaluation.services.publication import phase_publish
from evaluation.services.ranking import phase_ranking_update
from evaluation.services.scoring import submission_score
from tests import factories
from tests.evaluation.test_leaderboard_queries import LABELS, scored_board


@pytest.fixture
def shared_cache(settings, tmp_path):
    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(tmp_path / "cache")}}
    assert cache_is_shared()


def urls(slug: str) -> tuple[str, str]:
    return (f"/challenges/{slug}/test/leaderboard/",
            f"/api/v1/challenges/{slug}/phases/test/leaderboard/")


def add_result(world, phase: Phase, name: str) -> Submission:
    """One more team with a scored submission on `phase` (stored predictions -> scoring)."""
    team = factories.TeamFactory(slug=name, name=name.title())
    image = factories.image_record(team, world.member, image_id=f"sha256:{abs(hash(name)):064x}")
    submission = Submission.objects.create(phase=phase, team=team, image=image,
                                           submitted_by=world.member, status=Status.SCORING)
    scores = np.random.default_rng(7).uniform(size=len(LABELS))
    CaseResult.objects.bulk_create(
        CaseResult(submission=submission, case=case, prediction={"score": float(score)})
        for case, score in zip(phase.cases.order_by("case_id"), scores, strict=True))
    submission_score(submission_id=submission.pk)
    return submission


def board_of(client, slug: str) -> tuple[str, list[dict]]:
    page_url, api_url = urls(slug)
    page, api = client.get(page_url), client.get(api_url)
    assert page.status_code == 200 and api.status_code == 200
    return page.content.decode(), api.json()["entries"]


@pytest.mark.django_db
def test_a_cached_request_costs_one_query_for_the_phase(shared_cache, world, client):
    slug, phase_id = scored_board(world, 3)
    page_url, api_url = urls(slug)
    board_of(client, slug)  # builds and caches

    for url in (page_url, api_url):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        assert len(queries) == 1, [q["sql"] for q in queries]  # the phase, its challenge, society
        assert "challenges_phase" in queries[0]["sql"]
    with CaptureQueriesContext(connection) as queries:
        leaderboard_version(Phase.objects.select_related("challenge").get(pk=phase_id))
    assert len(queries) == 1  # the get above: the version itself came from the cache


@pytest.mark.django_db
def test_a_new_result_shows_on_the_next_request(shared_cache, world, client, queued,
                                                django_capture_on_commit_callbacks):
    slug, phase_id = scored_board(world, 2)
    html, entries = board_of(client, slug)
    assert len(entries) == 2 and "Newcomer" not in html
    board_of(client, slug)  # served from the cache now

    with django_capture_on_commit_callbacks(execute=True):  # commits: the scoring's signals run
        submission = add_result(world, Phase.objects.get(pk=phase_id), "newcomer")

    html, entries = board_of(client, slug)  # before the ranking it asked for has run
    assert queued == [phase_id]
    assert "Newcomer" in html and html.count("<tr>") == 3 + 1
    assert submission.pk in [e["submission_id"] for e in entries]


@pytest.mark.django_db
def test_a_new_ranking_shows_on_the_next_request(shared_cache, world, client,
                                                 django_capture_on_commit_callbacks):
    slug, phase_id = scored_board(world, 2)
    PhaseRanking.objects.filter(phase_id=phase_id).delete()
    cache.delete(_version_key(phase_id))
    html, entries = board_of(client, slug)
    assert all(e["rank_low"] is None for e in entries) and "Rank stability" not in html

    with django_capture_on_commit_callbacks(execute=True):
        phase_ranking_update(phase_id=phase_id)

    html, entries = board_of(client, slug)
    assert all(e["rank_low"] is not None for e in entries) and "Rank stability" in html


@pytest.mark.django_db
def test_publishing_shows_on_the_next_request(shared_cache, world, client,
                                              django_capture_on_commit_callbacks):
    slug, phase_id = scored_board(world, 2)
    Phase.objects.filter(pk=phase_id).update(
        leaderboard_visibility=LeaderboardVisibility.ON_PUBLISH)
    page_url, api_url = urls(slug)
    assert client.get(api_url).status_code == 403
    assert "Published snapshots" not in client.get(page_url).content.decode()
    admin = factories.society_member(world.society, "admin", "society-admin")

    with django_capture_on_commit_callbacks(execute=True):
        snapshot = phase_publish(phase=Phase.objects.get(pk=phase_id), actor=admin)

    html, entries = board_of(client, slug)
    assert len(entries) == 2
    assert "Published snapshots" in html and f"#{snapshot.pk} " in html


@pytest.mark.django_db
def test_a_reader_that_read_before_the_commit_does_not_keep_the_old_version(
        shared_cache, world, django_capture_on_commit_callbacks):
    _, phase_id = scored_board(world, 2)
    phase = Phase.objects.select_related("challenge").get(pk=phase_id)
    before = leaderboard_version(phase)
    with django_capture_on_commit_callbacks(execute=True):
        add_result(world, phase, "late-team")  # forgets the token, renews it on commit
        assert cache.get(_version_key(phase_id)) is None
        # a reader that read the database before the commit puts back what it saw
        cache.add(_version_key(phase_id), before.rsplit(".", 1)[1])
    assert leaderboard_version(phase) != before


@pytest.mark.django_db
def test_an_expired_token_read_again_is_the_same_version(shared_cache, world,
                                                         django_capture_on_commit_callbacks):
    """Tokens are the database's fingerprint: when one expires, the board is not rebuilt."""
    _, phase_id = scored_board(world, 2)
    phase = Phase.objects.select_related("challenge").get(pk=phase_id)
    with django_capture_on_commit_callbacks(execute=True):
        leaderboard_changed(phase_ids=[phase_id])
    renewed = leaderboard_version(phase)
    cache.delete(_version_key(phase_id))  # expired
    assert leaderboard_version(phase) == renewed


@pytest.mark.django_db
def test_publishing_freezes_the_database_not_a_cached_board(shared_cache, world, client):
    """Even when a change's signal was lost (the cache still holds the old version), the
    snapshot is built from the database."""
    slug, phase_id = scored_board(world, 2)
    board_of(client, slug)
    stale = cache.get(_version_key(phase_id))
    add_result(world, Phase.objects.get(pk=phase_id), "late-team")
    cache.set(_version_key(phase_id), stale)  # the signal lost
    assert len(board_of(client, slug)[1]) == 2  # what a lost signal costs until the token expires

    admin = factories.society_member(world.society, "admin", "society-admin")
    phase_publish(phase=Phase.objects.get(pk=phase_id), actor=admin)
    snapshot = LeaderboardSnapshot.objects.get(phase_id=phase_id)
    assert "late-team" in [row["team"] for row in snapshot.entries]


@pytest.mark.django_db
def test_the_phase_lookup_is_one_query_and_keeps_its_answers(world):
    challenge = world.phase.challenge
    with CaptureQueriesContext(connection) as queries:
        phase = access_phase_by_user(AnonymousUser(), challenge.slug, world.phase.slug)
        assert phase.challenge.society.slug == "jrs"
    assert len(queries) == 1
    with pytest.raises(ChallengeNotFound) as missing_phase:
        access_phase_by_user(AnonymousUser(), challenge.slug, "no-such-phase")
    assert missing_phase.value.code == "phase_not_found"
    challenge.is_published = False
    challenge.save(update_fields=["is_published"])
    with pytest.raises(ChallengeNotFound) as hidden:
        access_phase_by_user(world.outsider, challenge.slug, world.phase.slug)
    assert hidden.value.code == "challenge_not_found"
    assert access_phase_by_user(world.steward, challenge.slug, world.phase.slug) == world.phase


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """The phases whose ranking went to the broker."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.phase_ranking, "apply_async",
                        lambda args, queue: sent.append(args[0]))
    return sent


@pytest.mark.django_db
def test_one_ranking_is_pending_per_phase(shared_cache, world, queued):
    other = factories.PhaseFactory.create(challenge=world.phase.challenge, slug="other")
    for _ in range(3):
        tasks.enqueue_ranking(world.phase.pk)
    tasks.enqueue_ranking(other.pk)
    assert queued == [world.phase.pk, other.pk]

    tasks.phase_ranking(world.phase.pk)  # the queued one starts: later results queue another
    tasks.enqueue_ranking(world.phase.pk)
    tasks.enqueue_ranking(world.phase.pk)
    assert queued == [world.phase.pk, other.pk, world.phase.pk]


@pytest.mark.django_db
def test_a_ranking_that_could_not_be_queued_does_not_hold_off_the_next(shared_cache, world,
                                                                        monkeypatch):
    def broker_down(args, queue):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.phase_ranking, "apply_async", broker_down)
    with pytest.raises(ConnectionError):
        tasks.enqueue_ranking(world.phase.pk)
    assert cache.get(tasks.ranking_pending_key(world.phase.pk)) is None


@pytest.mark.django_db
def test_with_a_per_process_cache_every_call_queues(world, queued):
    assert not cache_is_shared()  # the tests' default: memory of this process
    tasks.enqueue_ranking(world.phase.pk)
    tasks.enqueue_ranking(world.phase.pk)
    assert queued == [world.phase.pk, world.phase.pk]


@pytest.mark.django_db
def test_a_queued_ranking_with_nothing_new_keeps_the_ranking(world):
    _slug, phase_id = scored_board(world, 2)
    first = PhaseRanking.objects.get(phase_id=phase_id)

    tasks.phase_ranking(phase_id)  # nothing new since the ranking: kept as it is
    assert PhaseRanking.objects.get(phase_id=phase_id).computed == first.computed

    late = add_result(world, Phase.objects.get(pk=phase_id), "late-team")
    tasks.phase_ranking(phase_id)
    ranking = PhaseRanking.objects.get(phase_id=phase_id)
    assert ranking.computed > first.computed and late.pk in ranking.data["submissions"]
