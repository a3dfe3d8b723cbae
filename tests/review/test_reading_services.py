"""Reader studies' services: reading lists, assignment, reads and their history, answer checks
against the task, merging reads into ground truth (majority with ties, adjudicator)."""

import pytest

from audit.models import AuditEvent
from challenges.models import Case, GroundTruth
from config.errors import Conflict, DomainError, Forbidden
from review.models import MergeRule, Read, ReadingList
from review.selectors.reading import (
    agreement_of,
    merge_outcome,
    my_reading_lists,
    next_unread,
    progress_of,
)
from review.services_reading import (
    answer_check,
    read_record,
    readers_assign,
    reading_list_create,
    reading_merge_apply,
)
from tests import factories
from tests.review.conftest import detection_case

pytestmark = pytest.mark.django_db


def third_physician(w):
    return factories.society_member(w.phase.challenge.society, "physician", "dr-third")


def listed(w, case_ids, **kwargs) -> ReadingList:
    return reading_list_create(actor=w.admin, phase=w.phase, title="Study", case_ids=case_ids,
                               **kwargs)


def read(w, reading_list, user, case_id, label, **extra):
    return read_record(actor=user, reading_list=reading_list, case=w.cases[case_id],
                       answer={"label": label, **extra})


def test_a_list_takes_all_cases_a_seeded_sample_or_named_cases(review_world):
    w = review_world
    everything = reading_list_create(actor=w.admin, phase=w.phase, title="All")
    assert [i.case.case_id for i in everything.items.order_by("position")] == sorted(w.cases)
    one = reading_list_create(actor=w.admin, phase=w.phase, title="S1", sample_size=3, seed=7)
    two = reading_list_create(actor=w.admin, phase=w.phase, title="S2", sample_size=3, seed=7)
    ids = [set(rl.items.values_list("case__case_id", flat=True)) for rl in (one, two)]
    assert ids[0] == ids[1] and len(ids[0]) == 3 and one.sample_seed == 7
    drawn = reading_list_create(actor=w.admin, phase=w.phase, title="S3", sample_size=2)
    assert drawn.sample_seed is not None  # drawn and recorded: the sample can be drawn again
    again = reading_list_create(actor=w.admin, phase=w.phase, title="S4", sample_size=2,
                                seed=drawn.sample_seed)
    assert set(drawn.items.values_list("case__case_id", flat=True)) == set(
        again.items.values_list("case__case_id", flat=True))
    named = listed(w, ["c-003", "c-001"])
    assert [i.case.case_id for i in named.items.order_by("position")] == ["c-003", "c-001"]
    assert AuditEvent.objects.filter(action="review.reading_list_created").count() == 6


def test_a_list_refuses_unknown_cases_bad_samples_and_non_admins(review_world):
    w = review_world
    with pytest.raises(DomainError) as exc:
        listed(w, ["c-000", "nope"])
    assert exc.value.code == "unknown_case" and "nope" in exc.value.message
    with pytest.raises(DomainError):
        reading_list_create(actor=w.admin, phase=w.phase, title="S", sample_size=99)
    with pytest.raises(Forbidden):
        reading_list_create(actor=w.physician, phase=w.phase, title="S")
    with pytest.raises(DomainError) as exc:
        listed(w, ["c-000"], merge_rule=MergeRule.ADJUDICATOR, adjudicator="jrs-steward")
    assert exc.value.code == "not_a_physician"
    assert not ReadingList.objects.exists()


def test_only_the_societys_physicians_are_assigned_and_numbered_in_order(review_world):
    w = review_world
    reading_list = listed(w, ["c-000"])
    for name in ("jrs-steward", "alice", "dr-other"):
        with pytest.raises(DomainError):
            readers_assign(actor=w.admin, reading_list=reading_list, usernames=[name])
    with pytest.raises(Forbidden):
        readers_assign(actor=w.physician, reading_list=reading_list, usernames=["dr-tanaka"])
    readers_assign(actor=w.admin, reading_list=reading_list, usernames=["dr-tanaka", "dr-member"])
    readers_assign(actor=w.admin, reading_list=reading_list, usernames=["dr-tanaka"])
    assert list(reading_list.assignments.values_list("reader__username", "number")) == [
        ("dr-tanaka", 1), ("dr-member", 2)]


def test_reads_are_checked_against_the_task(review_world):
    w = review_world
    reading_list = listed(w, ["c-000", "c-001"], grades=["low", "high"])
    readers_assign(actor=w.admin, reading_list=reading_list, usernames=["dr-tanaka"])
    for answer, code in [({"label": "maybe"}, "bad_label"), ({}, "bad_label"),
                         ({"label": "present", "confidence": 1.5}, "bad_confidence"),
                         ({"label": "present", "grade": 2}, "bad_grade")]:
        with pytest.raises(DomainError) as exc:
            read_record(actor=w.physician, reading_list=reading_list, case=w.cases["c-000"],
                        answer=answer)
        assert exc.value.code == code
    with pytest.raises(DomainError) as exc:
        read(w, reading_list, w.physician, "c-002", "present")
    assert exc.value.code == "case_not_listed"
    with pytest.raises(Forbidden):
        read(w, reading_list, w.conflicted, "c-000", "present")  # not assigned
    assert not Read.objects.exists()
    stored = read(w, reading_list, w.physician, "c-000", "present", confidence=0.8, grade=1)
    assert stored.answer == {"label": "present", "confidence": 0.8, "grade": 1}


def test_detection_points_must_lie_inside_the_image(review_world):
    case = detection_case(review_world)
    phase = case.phase
    reading_list = ReadingList(phase=phase, grades=[])
    assert answer_check(reading_list, case, {"lesions": [{"point": [5, 19]}]}) == {
        "lesions": [{"point": [5.0, 19.0]}]}
    for lesions in ([{"point": [5, 25]}], [{"point": [1, 2, 3]}], "5 5"):
        with pytest.raises(DomainError) as exc:
            answer_check(reading_list, case, {"lesions": lesions})
        assert exc.value.code == "bad_lesions" and exc.value.message
    unknown = Case.objects.create(phase=phase, case_id="d-001")
    with pytest.raises(DomainError) as exc:
        answer_check(reading_list, unknown, {"lesions": []})
    assert exc.value.code == "no_shape"


def test_a_re_read_replaces_the_answer_and_keeps_the_history(review_world):
    w = review_world
    reading_list = listed(w, ["c-000", "c-001"])
    readers_assign(actor=w.admin, reading_list=reading_list, usernames=["dr-tanaka"])
    assert next_unread(reading_list, w.physician) == w.cases["c-000"]
    read(w, reading_list, w.physician, "c-000", "absent")
    assert next_unread(reading_list, w.physician) == w.cases["c-001"]
    read(w, reading_list, w.physician, "c-000", "present")
    read(w, reading_list, w.physician, "c-000", "present")  # the same answer: nothing new
    rows = list(Read.objects.filter(case=w.cases["c-000"]).order_by("version")
                .values_list("version", "is_current", "answer__label"))
    assert rows == [(1, False, "absent"), (2, True, "present")]
    assert [(p.number, p.n_read, p.n_assigned) for p in progress_of(reading_list)] == [(1, 1, 2)]
    mine = my_reading_lists(w.physician)
    assert [(m.reading_list, m.n_read, m.n_assigned) for m in mine] == [(reading_list, 1, 2)]
    assert AuditEvent.objects.filter(action="review.read_recorded").count() == 2


def three_readers(w, case_ids, **kwargs):
    third = third_physician(w)
    reading_list = listed(w, case_ids, **kwargs)
    readers_assign(actor=w.admin, reading_list=reading_list,
                   usernames=["dr-tanaka", "dr-member", "dr-third"])
    return reading_list, (w.physician, w.conflicted, third)


def test_majority_vote_merges_into_a_new_truth_version_and_lists_ties(review_world):
    w = review_world
    reading_list, (r1, r2, r3) = three_readers(w, ["c-000", "c-001", "c-002", "c-003"])
    for user, label in [(r1, "present"), (r2, "present"), (r3, "absent")]:
        read(w, reading_list, user, "c-000", label)  # present: the truth already
    read(w, reading_list, r1, "c-001", "present")
    read(w, reading_list, r2, "c-001", "absent")  # a tie: unresolved
    for user in (r1, r2, r3):
        read(w, reading_list, user, "c-002", "absent")  # truth says present: changed
    outcome = merge_outcome(reading_list)
    assert outcome.resolved == {"c-000": "present", "c-002": "absent"}
    assert outcome.unresolved == ["c-001"] and outcome.unread == ["c-003"]

    merge = reading_merge_apply(actor=w.admin, reading_list=reading_list, note="panel")
    w.phase.refresh_from_db()
    assert (merge.from_version, merge.to_version, w.phase.truth_version) == (1, 2, 2)
    assert merge.changed == ["c-002"] and merge.unresolved == ["c-001", "c-003"]
    truths = dict(GroundTruth.objects.filter(case__phase=w.phase, version=2)
                  .values_list("case__case_id", "value"))
    assert truths == {"c-000": "present", "c-001": "absent", "c-002": "absent",
                      "c-003": "absent", "c-004": "present", "c-005": "absent"}
    assert GroundTruth.objects.get(case=w.cases["c-002"], version=1).value == "present"
    assert Read.objects.filter(reading_list=reading_list).count() == 8  # reads are kept
    event = AuditEvent.objects.get(action="truths.correct")
    assert event.detail["cases"] == ["c-002"] and event.detail["to_version"] == 2
    assert event.detail["reason"] == "panel" and event.detail["reading_list"] == reading_list.pk

    again = reading_merge_apply(actor=w.admin, reading_list=reading_list)
    assert again.changed == [] and again.to_version == 2  # nothing changed: no new version
    assert AuditEvent.objects.filter(action="truths.correct").count() == 1


def test_the_adjudicators_read_wins(review_world):
    w = review_world
    reading_list, (r1, r2, r3) = three_readers(
        w, ["c-000", "c-001"], merge_rule=MergeRule.ADJUDICATOR, adjudicator="dr-third")
    assert reading_list.assignments.get(reader=r3).number == 1  # assigned on creation
    for user, label in [(r1, "present"), (r2, "present"), (r3, "absent")]:
        read(w, reading_list, user, "c-000", label)
    read(w, reading_list, r1, "c-001", "present")  # no adjudicator read: unresolved
    outcome = merge_outcome(reading_list)
    assert outcome.resolved == {"c-000": "absent"} and outcome.unresolved == ["c-001"]


def test_merging_needs_a_resolved_case_and_an_admin(review_world):
    w = review_world
    reading_list, (r1, _r2, _r3) = three_readers(w, ["c-000"])
    with pytest.raises(Conflict):
        reading_merge_apply(actor=w.admin, reading_list=reading_list)
    read(w, reading_list, r1, "c-000", "absent")
    with pytest.raises(Forbidden):
        reading_merge_apply(actor=r1, reading_list=reading_list)
    w.phase.refresh_from_db()
    assert w.phase.truth_version == 1


def test_agreement_is_cohens_kappa_for_two_readers_and_fleiss_for_three(review_world):
    w = review_world
    reading_list, (r1, r2, r3) = three_readers(w, ["c-000", "c-001", "c-002", "c-003"])
    labels = {  # r1, r2, r3 per case
        "c-000": ("present", "present", "present"),
        "c-001": ("absent", "absent", "present"),
        "c-002": ("present", "absent", "present"),
        "c-003": ("absent", "absent", "absent"),
    }
    for case_id, answers in labels.items():
        for user, label in zip((r1, r2, r3), answers, strict=True):
            read(w, reading_list, user, case_id, label)
    agreement = agreement_of(reading_list)
    # Table (absent, present): [0,3], [2,1], [1,2], [3,0]; P_i = 1, 1/3, 1/3, 1 -> P̄ = 2/3;
    # p = (6/12, 6/12) -> P̄e = 1/2; κ = (2/3 − 1/2) / (1/2) = 1/3.
    assert agreement.method == "fleiss" and agreement.n_cases == 4
    assert agreement.kappa == pytest.approx(1 / 3)

    two = listed(w, ["c-000", "c-001", "c-002", "c-003"])
    readers_assign(actor=w.admin, reading_list=two, usernames=["dr-tanaka", "dr-member"])
    for case_id, answers in labels.items():
        for user, label in zip((r1, r2), answers[:2], strict=True):
            read(w, two, user, case_id, label)
    # r1 vs r2: agree on 3 of 4 (p_o = 3/4); r1 present 2/4, r2 present 1/4:
    # p_e = 2/4·1/4 + 2/4·3/4 = 1/2 -> κ = (3/4 − 1/2) / (1/2) = 1/2.
    agreement = agreement_of(two)
    assert agreement.method == "cohen" and agreement.kappa == pytest.approx(0.5)
