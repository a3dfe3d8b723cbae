"""Ranking methods chosen per challenge, on the platform: per-case metrics let teams be ranked
case by case (rank-then-aggregate) or by paired Wilcoxon tests with Holm (test-then-rank)."""

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss

from evaluation.metrics import ranking
from evaluation.metrics.per_case import absolute_error, case_brier
from evaluation.models import CaseResult, PhaseRanking
from evaluation.selectors import leaderboard_for
from evaluation.services.specs import challenge_spec_update
from tests import factories
from tests.evaluation.test_submission_flow import predict, submit

pytestmark = pytest.mark.usefixtures("fake_sandbox")
TRUTH = ["present", "absent"] * 10


def test_per_case_metrics_match_their_aggregate_references():
    y = np.array([1, 0, 1, 1, 0])
    p = np.array([0.9, 0.2, 0.4, 0.7, 0.6])
    assert case_brier(y, p).mean() == pytest.approx(brier_score_loss(y, p), abs=1e-15)
    assert absolute_error([1.0, 2.0], [1.5, 1.0]).tolist() == [0.5, 1.0]


def three_teams(world, capture, method):
    factories.add_cases(world.phase, TRUTH)
    challenge_spec_update(challenge=world.phase.challenge, spec={
        "task": "binary-classification", "labels": ["absent", "present"],
        "positive_label": "present",
        "metrics": [{"name": "case_brier", "primary": True}, {"name": "auroc"}],
        "bootstrap": {"resamples": 300, "confidence": 0.95, "seed": 5},
        "ranking": {"method": method, "alpha": 0.05},
    })
    world.phase.challenge.refresh_from_db()
    good = predict(lambda c: 0.9 if int(c[-3:]) % 2 == 0 else 0.1)
    fair = predict(lambda c: 0.6 if int(c[-3:]) % 2 == 0 else 0.4)
    poor = predict(lambda c: 0.2 if int(c[-3:]) % 2 == 0 else 0.8)
    third = factories.TeamFactory(slug="team-c")
    carol = factories.team_member(third, "carol")
    factories.register_team(world.phase.challenge, third)
    for team, user, behaviour, n in [(world.team, world.member, good, 1),
                                     (world.other_team, world.outsider, fair, 2),
                                     (third, carol, poor, 3)]:
        submit(world, behaviour, team=team, user=user, image_id="sha256:" + f"{n:02d}" * 32,
               django_capture_on_commit_callbacks=capture)


@pytest.mark.parametrize("method", ["rank-then-aggregate", "test-then-rank"])
def test_case_by_case_ranking_methods(world, django_capture_on_commit_callbacks, method):
    three_teams(world, django_capture_on_commit_callbacks, method)

    board = leaderboard_for(world.outsider, world.phase)

    assert board.ranking_method == method
    assert [(e.team, e.rank) for e in board.entries] == [("team-a", 1), ("team-b", 2),
                                                         ("team-c", 3)]
    assert board.entries[0].metrics["case_brier"]["statistic"] == "mean"
    values = {
        slug: np.array([r.values["case_brier"] for r in CaseResult.objects.filter(
            submission__team__slug=slug).order_by("case__case_id")])
        for slug in ("team-a", "team-b", "team-c")
    }
    if method == "test-then-rank":
        _wins, expected, _p = ranking.test_then_rank(values, direction="lower", alpha=0.05)
        significance = PhaseRanking.objects.get().data["significance"]
        assert significance["significant"][0][2] is True  # team-a beats team-c, Holm-adjusted
    else:
        expected = ranking.rank_then_aggregate(values, direction="lower")[1]
    assert {e.team: e.rank for e in board.entries} == expected


def test_set_metrics_cannot_rank_case_by_case(world):
    from evaluation.services.specs import SpecRejected

    with pytest.raises(SpecRejected, match="per-case primary"):
        challenge_spec_update(challenge=world.phase.challenge, spec={
            "task": "binary-classification", "labels": ["absent", "present"],
            "positive_label": "present", "metrics": [{"name": "auroc", "primary": True}],
            "ranking": {"method": "test-then-rank"}})
