"""The leaderboard page and API cost the same number of queries whatever their number of entries.

Each board is scored and ranked by the real services (stored predictions -> submission_score ->
phase_ranking_update), so the ranked path with rank intervals is the one counted. The first
request after a (re)ranking builds the board (nothing is cached under its new version yet); the
second is served from the cache. Both are counted, for 3 and for 30 entries, with a per-process
cache and with a shared one.
"""

from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evaluation.models import CaseResult, PhaseRanking, Status, Submission
from evaluation.services.ranking import phase_ranking_update
from evaluation.services.scoring import submission_score
from tests import factories

LABELS = ["present", "absent"] * 4


def scored_board(world, n_teams: int) -> tuple[str, int]:
    """A published challenge whose live leaderboard has `n_teams` ranked entries: its slug and
    the phase's id."""
    slug = f"board-{n_teams}"
    phase = factories.PhaseFactory.create(challenge__society=world.society, challenge__slug=slug)
    cases = factories.add_cases(phase, LABELS, prefix=slug)
    rng = np.random.default_rng(n_teams)
    for i in range(n_teams):
        team = factories.TeamFactory(slug=f"{slug}-team-{i}")
        image = factories.image_record(team, world.member, image_id=f"sha256:{n_teams:032x}{i:032x}")
        submission = Submission.objects.create(phase=phase, team=team, image=image,
                                               submitted_by=world.member, status=Status.SCORING)
        CaseResult.objects.bulk_create(
            CaseResult(submission=submission, case=case, prediction={"score": float(score)})
            for case, score in zip(cases, rng.uniform(size=len(cases)), strict=True))
        submission_score(submission_id=submission.pk)
    phase_ranking_update(phase_id=phase.pk)
    assert PhaseRanking.objects.filter(phase=phase).exists()
    return slug, phase.pk


def count_queries(client, url: str) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response


def page_and_api_queries(client, board: tuple[str, int], n_teams: int) -> dict[str, int]:
    slug, phase_id = board
    page_url = f"/challenges/{slug}/test/leaderboard/"
    api_url = f"/api/v1/challenges/{slug}/phases/test/leaderboard/"
    counts = {}
    counts["page_cold"], page = count_queries(client, page_url)
    html = page.content.decode()
    assert html.count("<tr>") == n_teams + 1  # + the header row
    assert f"{slug}-team-0".title() in html  # the team's name
    counts["page_warm"], _ = count_queries(client, page_url)
    phase_ranking_update(phase_id=phase_id)  # a new version: the API builds the board again
    counts["api_cold"], api = count_queries(client, api_url)
    entries = api.json()["entries"]
    assert len(entries) == n_teams
    assert all(entry["rank_low"] is not None for entry in entries)  # ranked, with intervals
    counts["api_warm"], _ = count_queries(client, api_url)
    return counts


@pytest.fixture(params=["per-process", "shared"])
def cache_kind(request, settings, tmp_path) -> str:
    """The tests' per-process memory cache (the version is the database's fingerprint, one query)
    and a cache every process shares (files here, Redis in production: the version is a cache
    get)."""
    if request.param == "shared":
        settings.CACHES = {"default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache")}}
    return request.param


@pytest.mark.django_db
def test_leaderboard_queries_do_not_grow_with_entries(world, client, cache_kind):
    few = page_and_api_queries(client, scored_board(world, 3), 3)
    many = page_and_api_queries(client, scored_board(world, 30), 30)

    assert few == many
    assert many["page_warm"] <= many["page_cold"] and many["api_warm"] <= many["api_cold"]
    # A warm request: the phase (with its challenge and society), plus the fingerprint when the
    # cache is per process.
    warm = 1 if cache_kind == "shared" else 2
    assert many["page_warm"] == many["api_warm"] == warm
