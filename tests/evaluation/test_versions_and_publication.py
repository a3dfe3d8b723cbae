"""Versioned spec and truth, re-evaluation from stored predictions, frozen snapshots, exports."""

import csv
import io
import json

import pytest
from rest_framework.test import APIClient

from challenges.models import GroundTruth
from config.errors import DomainError
from evaluation.models import LeaderboardSnapshot, PhaseRanking, Result
from evaluation.selectors import leaderboard_for
from evaluation.services.publication import phase_publish
from evaluation.services.scoring import phase_reevaluate
from evaluation.services.specs import SpecRejected, challenge_spec_update
from tests import factories
from tests.evaluation.test_submission_flow import predict, submit

pytestmark = pytest.mark.usefixtures("fake_sandbox")


@pytest.fixture
def scored(world, django_capture_on_commit_callbacks):
    """Two teams on ten cases: team-a ranks cases perfectly, team-b at chance."""
    factories.add_cases(world.phase, ["present", "absent"] * 5)
    perfect = predict(lambda c: 1.0 if int(c[-3:]) % 2 == 0 else 0.0)
    noisy = predict(lambda c: [0.3, 0.6, 0.2, 0.9, 0.5][int(c[-3:]) % 5])
    submit(world, perfect, image_id="sha256:" + "0a" * 32,
           django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    submit(world, noisy, team=world.other_team, user=world.outsider,
           image_id="sha256:" + "0b" * 32,
           django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    return world


def admin_of(world):
    return factories.society_member(world.society, "admin", "society-admin")


def test_leaderboard_has_every_metric_and_a_rank_interval(scored):
    board = leaderboard_for(scored.outsider, scored.phase)

    assert [e.team for e in board.entries] == ["team-a", "team-b"]
    top = board.entries[0]
    assert {k for k, _ in board.columns} == {"auroc", "sensitivity", "specificity", "accuracy"}
    assert top.metrics["auroc"]["value"] == 1.0
    assert top.metrics["auroc"]["ci_low"] <= 1.0
    assert top.rank_low is not None and top.rank_high is not None
    assert top.rank_low <= top.rank <= top.rank_high
    assert board.ranking is not None and board.ranking.blob_svg.startswith("<?xml")


def test_a_truth_change_is_a_new_version_and_reevaluation_reuses_predictions(
        scored, django_capture_on_commit_callbacks):
    phase = scored.phase
    first = {r.submission_id: r.primary_value for r in Result.objects.filter(is_current=True)}
    flipped = {c.case_id: ("absent" if c.truths.get(version=1).value == "present" else "present")
               for c in phase.cases.all()[:2]}
    from challenges.case_store import truth_update

    version = truth_update(phase, flipped)

    assert version == 2
    assert GroundTruth.objects.filter(case__phase=phase, version=1).count() == 10
    assert GroundTruth.objects.filter(case__phase=phase, version=2).count() == 10
    with django_capture_on_commit_callbacks(execute=True):
        assert phase_reevaluate(phase=phase) == 2
    current = Result.objects.filter(is_current=True)
    assert {r.truth_version for r in current} == {2}
    assert Result.objects.filter(is_current=False, truth_version=1).count() == 2
    team_a = next(r for r in current if r.team.slug == "team-a")
    before = first[team_a.submission_id]
    assert team_a.primary_value is not None and before is not None
    assert team_a.primary_value < before
    assert PhaseRanking.objects.filter(phase=phase, truth_version=2).exists()


def test_a_spec_change_is_versioned_and_validated(scored, django_capture_on_commit_callbacks):
    challenge = scored.phase.challenge
    spec = {**challenge.metric_spec, "metrics": [{"name": "average_precision", "primary": True},
                                                 {"name": "brier"}]}

    challenge = challenge_spec_update(challenge=challenge, spec=spec)
    with django_capture_on_commit_callbacks(execute=True):
        phase_reevaluate(phase=scored.phase)

    assert challenge.metric_version == 2
    scored.phase.challenge.refresh_from_db()
    board = leaderboard_for(scored.outsider, scored.phase)
    assert board.primary == "average_precision"
    assert {k for k, _ in board.columns} == {"average_precision", "brier"}
    with pytest.raises(SpecRejected) as rejected:
        challenge_spec_update(challenge=challenge, spec={**spec, "metrics": [{"name": "nope"}]})
    assert "unknown metric 'nope'" in rejected.value.message


def test_spec_api_reads_for_all_and_writes_for_admins(scored):
    admin, team = APIClient(), APIClient()
    admin.force_authenticate(admin_of(scored))
    team.force_authenticate(scored.member)
    url = "/api/v1/challenges/lesions/spec/"
    spec = {**team.get(url).json()["spec"], "bootstrap": {"resamples": 200, "confidence": 0.9,
                                                          "seed": 3}}

    assert team.put(url, spec, format="json").status_code == 403
    response = admin.put(url, spec, format="json")
    assert (response.status_code, response.json()["version"]) == (200, 2)
    bad = admin.put(url, {"task": "binary-classification"}, format="json")
    assert bad.status_code == 400 and "metrics" in bad.json()["detail"]


def test_publishing_freezes_a_snapshot_that_never_changes(scored):
    admin = admin_of(scored)
    with pytest.raises(DomainError):
        phase_publish(phase=scored.phase, actor=scored.member)

    snapshot = phase_publish(phase=scored.phase, actor=admin)
    frozen = json.dumps(snapshot.entries, sort_keys=True)
    challenge_spec_update(challenge=scored.phase.challenge, spec={
        **scored.phase.challenge.metric_spec,
        "metrics": [{"name": "brier", "primary": True}]})
    phase_reevaluate(phase=scored.phase)
    scored.phase.challenge.refresh_from_db()

    snapshot = LeaderboardSnapshot.objects.get(pk=snapshot.pk)
    assert json.dumps(snapshot.entries, sort_keys=True) == frozen
    assert snapshot.entries[0]["team"] == "team-a" and "auroc" in snapshot.entries[0]
    scored.phase.refresh_from_db()
    assert scored.phase.results_published


def test_exports_are_complete_and_respect_visibility(scored, client):
    rows = list(csv.DictReader(io.StringIO(
        client.get("/challenges/lesions/test/leaderboard.csv").content.decode())))
    as_json = client.get("/challenges/lesions/test/leaderboard.json").json()

    assert [r["team"] for r in rows] == ["team-a", "team-b"]
    assert {"rank", "rank_low", "rank_high", "auroc", "auroc_ci_low", "image"} <= set(rows[0])
    assert as_json[0]["auroc"] == 1.0
    assert client.get("/challenges/lesions/test/leaderboard/blob.svg")["Content-Type"] == (
        "image/svg+xml")
    scored.phase.leaderboard_visibility = "on-publish"
    scored.phase.save()
    assert client.get("/challenges/lesions/test/leaderboard.csv").status_code == 404


def test_reevaluate_api_is_for_admins(scored):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {factories.api_token_for(scored.member)}")
    assert client.post("/api/v1/challenges/lesions/phases/test/reevaluate/").status_code == 403


def test_publish_page_action_is_for_admins_only(scored, client):
    client.force_login(scored.member)
    refused = client.post("/challenges/lesions/test/publish/", follow=True)
    assert LeaderboardSnapshot.objects.count() == 0
    assert "Only the society" in refused.content.decode()

    factories.login_verified(client, admin_of(scored))
    page = client.get("/challenges/lesions/test/leaderboard/").content.decode()
    assert "Publish results" in page
    client.post("/challenges/lesions/test/publish/")
    assert LeaderboardSnapshot.objects.count() == 1


def test_results_hidden_again_take_their_snapshots_with_them(scored):
    from challenges.models import LeaderboardVisibility

    phase = scored.phase
    phase.leaderboard_visibility = LeaderboardVisibility.ON_PUBLISH
    phase.save()
    phase_publish(phase=phase, actor=admin_of(scored))
    url = f"/api/v1/challenges/{phase.challenge.slug}/phases/{phase.slug}/snapshots/"
    assert len(APIClient().get(url).json()) == 1

    phase.results_published = False  # the society hides the results again
    phase.save()
    society = APIClient()
    society.force_authenticate(scored.steward)
    assert APIClient().get(url).json() == []
    assert len(society.get(url).json()) == 1
