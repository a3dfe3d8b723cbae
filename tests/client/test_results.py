"""`enclave submit`, `status` and `leaderboard` against a live server (fake sandbox)."""

import json
from pathlib import Path

import pytest
from enclave_client import cli as enclave_cli

from evaluation import services
from evaluation.models import Result, Status, Submission
from sandbox.backends.fake import FakeBackend
from tests import factories

GOOD_ID = "sha256:" + "ab" * 32
BAD_ID = "sha256:" + "cd" * 32

pytestmark = pytest.mark.usefixtures("fake_sandbox")


def predict(score_of):
    def behaviour(input_dir: Path, output_dir: Path) -> int:
        manifest = json.loads((input_dir / "manifest.json").read_text())
        predictions = {c["id"]: {"score": score_of(c["id"])} for c in manifest["cases"]}
        (output_dir / "predictions.json").write_text(json.dumps(predictions))
        return 0
    return behaviour


def mostly_right(case_id: str) -> float:
    """Even cases are positive; cases 0 and 1 come out the wrong way round."""
    index = int(case_id[-3:])
    return {0: 0.3, 1: 0.6}.get(index, 0.9 if index % 2 == 0 else 0.1)


@pytest.fixture
def images(world):
    factories.add_cases(world.phase, ["present", "absent"] * 6)
    FakeBackend.register(GOOD_ID, predict(mostly_right))
    FakeBackend.register(BAD_ID, predict(lambda case_id: 1.5))
    factories.image_record(world.team, world.member, GOOD_ID)
    factories.image_record(world.team, world.member, BAD_ID)


def test_submit_by_digest_prefix_then_status_shows_scores_with_their_intervals(
        signed_in, images, cli):
    submitted = cli("submit", "--challenge", "lesions", "--phase", "test", "--image", "abababab")

    assert submitted.code == 0, submitted.err
    submission = Submission.objects.get()
    assert (submission.image.image_id, submission.team.slug) == (GOOD_ID, "team-a")
    assert f"submission {submission.pk}" in submitted.out

    shown = cli("status", str(submission.pk))

    assert shown.code == 0, shown.err
    assert "status  succeeded" in shown.out
    metrics = Result.objects.get(submission=submission, is_current=True).metrics["metrics"]
    auroc = metrics["auroc"]
    assert auroc["ci_low"] < auroc["value"] <= auroc["ci_high"]
    assert (f"auroc        {auroc['value']:.4f}  [{auroc['ci_low']:.4f}, {auroc['ci_high']:.4f}]"
            in shown.out)
    (row,) = cli("status").out.splitlines()[1:]
    assert row.split()[:4] == [str(submission.pk), "lesions/test", "team-a", "succeeded"]


def test_status_watch_polls_until_the_run_is_final_and_names_the_broken_rule(
        signed_in, images, cli, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr("evaluation.tasks.enqueue_run", lambda pk, queue, **_: queued.append(pk))
    submitted = cli("submit", "--challenge", "lesions", "--phase", "test", "--image", BAD_ID,
                    "--json")
    submission_id = json.loads(submitted.out)["id"]
    assert json.loads(submitted.out)["status"] == "queued"
    polls: list[float] = []

    def run_while_waiting(seconds: float) -> None:  # the worker gets to it between two polls
        polls.append(seconds)
        services.submission_execute(submission_id=queued.pop())

    monkeypatch.setattr(enclave_cli, "sleep", run_while_waiting)

    watched = cli("status", str(submission_id), "--watch", "--interval", "0.5")

    assert watched.code == 1
    assert polls == [0.5]
    assert f"submission {submission_id}: queued" in watched.err
    assert Submission.objects.get().status == Status.FAILED
    assert "status  failed" in watched.out
    assert ('failure output_invalid: the outputs broke a rule of the contract '
            '(each case needs a "score" that is a number in [0, 1])') in watched.out


def test_leaderboard_lists_the_teams_with_intervals(signed_in, images, cli):
    cli("submit", "--challenge", "lesions", "--phase", "test", "--image", GOOD_ID)
    result = Result.objects.get(is_current=True)
    ci = result.metrics["metrics"]["auroc"]

    board = cli("leaderboard", "--challenge", "lesions", "--phase", "test")

    assert board.code == 0, board.err
    assert "primary metric auroc" in board.out
    row = next(line for line in board.out.splitlines() if line.startswith("1 "))
    assert "Team-A" in row
    assert f"{result.primary_value:.4f}  [{ci['ci_low']:.4f}, {ci['ci_high']:.4f}]" in row
    as_json = json.loads(cli("leaderboard", "--challenge", "lesions", "--phase", "test",
                             "--json").out)
    assert [e["team"] for e in as_json["entries"]] == ["team-a"]


def test_refusals_come_back_with_the_servers_reason(signed_in, images, world, cli):
    world.phase.submission_limit = 0
    world.phase.save()

    over_quota = cli("submit", "--challenge", "lesions", "--phase", "test", "--image", GOOD_ID)
    unknown = cli("submit", "--challenge", "lesions", "--phase", "test", "--image", "ffffffff")
    no_phase = cli("leaderboard", "--challenge", "lesions", "--phase", "nope")

    assert over_quota.code == 1 and "error:" in over_quota.err
    assert unknown.code == 1 and "enclave images" in unknown.err
    assert no_phase.code == 1 and "nope" in no_phase.err
    assert not Submission.objects.exists()


def test_leaderboard_pages_through_the_whole_board(signed_in, world, cli, monkeypatch):
    from enclave_client import api as client_api

    from tests.evaluation.test_leaderboard_queries import scored_board

    slug, _ = scored_board(world, 5)
    monkeypatch.setattr(client_api, "LEADERBOARD_PAGE", 2)  # five entries come in three pages

    whole = json.loads(cli("leaderboard", "--challenge", slug, "--phase", "test", "--json").out)
    top = json.loads(cli("leaderboard", "--challenge", slug, "--phase", "test", "--json",
                         "--top", "3").out)

    assert whole["count"] == 5
    assert [e["rank"] for e in whole["entries"]] == sorted(e["rank"] for e in whole["entries"])
    assert len({e["team"] for e in whole["entries"]}) == 5
    assert [e["team"] for e in top["entries"]] == [e["team"] for e in whole["entries"][:3]]
    with pytest.raises(SystemExit) as refused:
        cli("leaderboard", "--challenge", slug, "--phase", "test", "--top", "0")
    assert refused.value.code == 2
