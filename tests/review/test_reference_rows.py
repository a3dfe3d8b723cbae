"""Human reference rows: readers' reads scored by the metrics engine on the cases every row has,
against hand-computed values; publication on the leaderboard, pseudonymous unless named."""

import pytest
from django.test import Client

from audit.models import AuditEvent
from challenges.models import Phase
from config.errors import Conflict, Forbidden
from evaluation.selectors import reference_rows_for
from review.models import ReferenceKind, ReferenceRow
from review.services_reading import read_record, readers_assign, reading_list_create
from review.services_reference import (
    prediction_entry,
    reference_row_publish,
    reference_rows_compute,
)
from tests import factories

pytestmark = pytest.mark.django_db

# truth of c-000..c-005: present absent present absent present absent
READER_1 = ["present", "absent", "present", "absent", "absent", "absent"]  # misses c-004
READER_2 = ["present", "absent", "present", "absent", "absent"]  # c-005 unread


def study(w):
    reading_list = reading_list_create(actor=w.admin, phase=w.phase, title="Readers")
    readers_assign(actor=w.admin, reading_list=reading_list, usernames=["dr-tanaka", "dr-member"])
    for index, label in enumerate(READER_1):
        read_record(actor=w.physician, reading_list=reading_list, case=w.cases[f"c-{index:03d}"],
                    answer={"label": label})
    for index, label in enumerate(READER_2):
        answer = {"label": label, **({"confidence": 0.5} if index == 4 else {})}
        read_record(actor=w.conflicted, reading_list=reading_list,
                    case=w.cases[f"c-{index:03d}"], answer=answer)
    return reading_list


def test_answers_become_engine_predictions(review_world):
    challenge = review_world.phase.challenge
    assert prediction_entry(challenge, {"label": "present"}) == {"score": 1.0}
    assert prediction_entry(challenge, {"label": "absent"}) == {"score": 0.0}
    # confidence 0.5 in "absent": P(absent) = 1/2 + 0.5·1/2 = 0.75, so the score is 0.25
    assert prediction_entry(challenge, {"label": "absent", "confidence": 0.5}) == {
        "score": pytest.approx(0.25)}


def test_reference_rows_match_hand_computed_metrics_on_the_common_cases(review_world):
    w = review_world
    rows = {(r.kind, r.reader_number): r
            for r in reference_rows_compute(actor=w.admin, reading_list=study(w))}
    assert set(rows) == {(ReferenceKind.READER, 1), (ReferenceKind.READER, 2),
                         (ReferenceKind.CONSENSUS, None)}
    # Common cases: c-000..c-004 (reader 2 did not read c-005); truth P A P A P.
    assert {r.n_cases for r in rows.values()} == {5}
    one = rows[(ReferenceKind.READER, 1)].metrics["metrics"]
    # Reader 1 scores 1 0 1 0 0: accuracy 4/5, sensitivity 2/3, specificity 1; AUROC: of the
    # 3 × 2 positive-negative pairs, 5 are ordered right and 2 are ties (½ each) -> 5/6.
    assert one["accuracy"]["value"] == pytest.approx(0.8)
    assert one["sensitivity"]["value"] == pytest.approx(2 / 3)
    assert one["specificity"]["value"] == pytest.approx(1.0)
    assert one["auroc"]["value"] == pytest.approx(5 / 6)
    # Reader 2 scores 1 0 1 0 0.25 (unsure on c-004): every pair ordered right -> AUROC 1,
    # while at the 0.5 threshold c-004 is still missed -> accuracy 4/5.
    two = rows[(ReferenceKind.READER, 2)]
    assert two.primary_value == pytest.approx(1.0)
    assert two.metrics["metrics"]["accuracy"]["value"] == pytest.approx(0.8)
    for row in rows.values():
        low, value, high = row.primary_ci_low, row.primary_value, row.primary_ci_high
        assert low is not None and value is not None and high is not None
        assert low <= value <= high
        assert row.truth_version == 1 and not row.published
    assert AuditEvent.objects.filter(action="review.reference_scored").exists()


def test_publication_shows_rows_pseudonymously_unless_named_and_never_ranked(review_world):
    w = review_world
    reading_list = study(w)
    rows = reference_rows_compute(actor=w.admin, reading_list=reading_list)
    first = next(r for r in rows if r.reader_number == 1)
    consensus = next(r for r in rows if r.kind == ReferenceKind.CONSENSUS)
    with pytest.raises(Forbidden):
        reference_row_publish(actor=w.physician, row=first, published=True)
    assert reference_rows_for(w.admin, w.phase) == []
    reference_row_publish(actor=w.admin, row=first, published=True)
    reference_row_publish(actor=w.admin, row=consensus, published=True)
    names = [e.name for e in reference_rows_for(w.admin, w.phase)]
    assert sorted(names) == ["Reader 1", "Reader consensus"]
    assert "dr-tanaka" not in str(reference_rows_for(w.admin, w.phase))
    reference_row_publish(actor=w.admin, row=first, published=True, public_name="Dr Sato")
    assert "Dr Sato" in [e.name for e in reference_rows_for(w.admin, w.phase)]

    client = Client()
    factories.login_verified(client, w.admin)
    html = client.get("/challenges/lesions/test/leaderboard/").content.decode()
    assert "Reference readers" in html and "Dr Sato" in html and "Reader consensus" in html
    assert "dr-tanaka" not in html and "dr-member" not in html
    api = Client().get("/api/v1/challenges/lesions/phases/test/leaderboard/").json()
    assert sorted(r["name"] for r in api["references"]) == ["Dr Sato", "Reader consensus"]
    assert all(r["n_cases"] == 5 for r in api["references"])
    assert all("rank" not in r for r in api["references"])
    # On a live board everyone sees the references; once results wait for publication, only
    # the society does.
    assert len(reference_rows_for(w.member, w.phase)) == 2
    Phase.objects.filter(pk=w.phase.pk).update(leaderboard_visibility="on-publish",
                                              results_published=False)
    w.phase.refresh_from_db()
    assert reference_rows_for(w.member, w.phase) == []
    assert len(reference_rows_for(w.admin, w.phase)) == 2


def test_rows_scored_on_an_older_truth_leave_the_board(review_world):
    w = review_world
    reading_list = study(w)
    row = reference_rows_compute(actor=w.admin, reading_list=reading_list)[0]
    reference_row_publish(actor=w.admin, row=row, published=True)
    assert len(reference_rows_for(w.admin, w.phase)) == 1
    Phase.objects.filter(pk=w.phase.pk).update(truth_version=2)  # as a merge or correction would
    w.phase.refresh_from_db()
    assert reference_rows_for(w.admin, w.phase) == []
    assert ReferenceRow.objects.get(pk=row.pk).published  # kept, to be scored again


def test_no_common_case_is_a_clear_refusal(review_world):
    w = review_world
    reading_list = reading_list_create(actor=w.admin, phase=w.phase, title="Empty")
    readers_assign(actor=w.admin, reading_list=reading_list, usernames=["dr-tanaka"])
    with pytest.raises(Conflict) as exc:
        reference_rows_compute(actor=w.admin, reading_list=reading_list)
    assert exc.value.code == "no_common_cases"
