"""Review queues on the known world (tests/review/conftest.py): order, conflicts of interest
left out before anything is computed, blinded names, and a query count independent of size."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evaluation.models import CaseResult
from review.models import CaseFlag
from review.selectors.access import algorithms_for, letter
from review.selectors.queues import SAMPLE_SIZE, queue_for
from review.services import review_settings_update
from tests import factories

pytestmark = pytest.mark.django_db


def ids(queue):
    return [item.case_id for item in queue.items]


def test_letters_are_stable_and_spreadsheet_like():
    assert [letter(i) for i in (0, 1, 25, 26, 27, 701, 702)] == [
        "A", "B", "Z", "AA", "AB", "ZZ", "AAA"]


def test_algorithms_are_named_blinded_by_submission_order_and_ranked(review_world):
    algorithms = algorithms_for(review_world.physician, review_world.phase)
    # AUROC: team-c 0.833, team-a 0.722, team-b 0.556
    assert [(a.code, a.name, a.rank) for a in algorithms] == [
        ("C", "Algorithm C", 1), ("A", "Algorithm A", 2), ("B", "Algorithm B", 3)]


def test_without_blinding_algorithms_are_named_by_team(review_world):
    review_settings_update(actor=review_world.admin, phase=review_world.phase, blinded=False)
    names = [a.name for a in algorithms_for(review_world.physician, review_world.phase)]
    assert names[0] == f"Team-C (submission {review_world.submissions['team-c'].pk})"


def test_worst_cases_of_one_algorithm_most_wrong_first(review_world):
    queue = queue_for(review_world.physician, review_world.phase, "worst", algorithm="A")
    # team-a's losses |score - truth|: .1 .1 .2 .2 .9 .3
    assert ids(queue) == ["c-004", "c-005", "c-002", "c-003", "c-000", "c-001"]
    assert queue.items[0].value == pytest.approx(0.9)
    default = queue_for(review_world.physician, review_world.phase, "worst")
    assert default.algorithm is not None and default.algorithm.code == "C"  # the best-ranked
    assert ids(default)[:2] == ["c-004", "c-001"]  # team-c: .7 .6


def test_top_teams_disagree_on_c001_and_c002(review_world):
    queue = queue_for(review_world.physician, review_world.phase, "disagreement")
    assert ids(queue) == ["c-001", "c-002"]
    assert queue.items[0].value == pytest.approx(2 / 3)  # two of three say absent


def test_label_error_candidates_are_the_cases_most_teams_miss(review_world):
    queue = queue_for(review_world.physician, review_world.phase, "label-errors")
    assert ids(queue) == ["c-004"]
    assert queue.items[0].value == 1.0
    assert "3 of 3" in queue.items[0].note


def test_a_conflicted_physician_never_sees_their_team_in_any_queue(review_world):
    physician, phase = review_world.conflicted, review_world.phase
    assert [a.code for a in algorithms_for(physician, phase)] == ["A", "B"]
    # Without team-c: A and B agree on c-001 (absent) and split on c-002.
    assert ids(queue_for(physician, phase, "disagreement")) == ["c-002"]
    assert queue_for(physician, phase, "disagreement").items[0].value == 1.0
    assert "2 of 2" in queue_for(physician, phase, "label-errors").items[0].note
    worst = queue_for(physician, phase, "worst", algorithm="C")  # asking for team-c
    assert worst.algorithm is not None and worst.algorithm.code == "A"  # what they may see


def test_a_declared_conflict_is_left_out_too(review_world):
    from review.services import conflict_declare

    conflict_declare(actor=review_world.physician, team_slug="team-a")
    assert [a.code for a in algorithms_for(review_world.physician, review_world.phase)] == [
        "C", "B"]


def test_the_random_sample_is_reproducible_per_seed(review_world):
    first = ids(queue_for(review_world.physician, review_world.phase, "random", seed=3))
    again = ids(queue_for(review_world.physician, review_world.phase, "random", seed=3))
    assert first == again and sorted(first) == sorted(review_world.cases)
    assert len(first) == min(SAMPLE_SIZE, 6)
    others = {tuple(ids(queue_for(review_world.physician, review_world.phase, "random",
                                  seed=s))) for s in range(5)}
    assert len(others) > 1


def test_flagged_cases_by_number_of_open_flags(review_world):
    cases = review_world.cases
    for user, case in [(review_world.physician, "c-003"), (review_world.steward, "c-003"),
                       (review_world.physician, "c-001")]:
        CaseFlag.objects.create(case=cases[case], raised_by=user, reason="?", truth_version=1)
    CaseFlag.objects.create(case=cases["c-005"], raised_by=review_world.admin, reason="?",
                            truth_version=1, status="dismissed")
    queue = queue_for(review_world.physician, review_world.phase, "flagged")
    assert ids(queue) == ["c-003", "c-001"]
    assert [i.value for i in queue.items] == [2.0, 1.0]


def test_queue_queries_do_not_grow_with_the_number_of_cases(review_world):
    def count(key):
        with CaptureQueriesContext(connection) as queries:
            queue_for(review_world.physician, review_world.phase, key)
        return len(queries)

    keys = ("worst", "disagreement", "label-errors")
    for key in keys:
        count(key)  # the leaderboard is built and cached on the first read
    before = {key: count(key) for key in keys}
    more = factories.add_cases(review_world.phase, ["present"] * 30, prefix="more")
    CaseResult.objects.bulk_create(
        CaseResult(submission=submission, case=case, prediction={"score": 0.5},
                   values={"score": 0.5, "label": 1, "predicted": 1, "correct": True})
        for submission in review_world.submissions.values() for case in more)
    after = {key: count(key) for key in keys}
    assert before == after
    assert len(queue_for(review_world.physician, review_world.phase, "worst").items) == 36
