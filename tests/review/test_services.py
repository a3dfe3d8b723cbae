"""Verdicts, flags and ground-truth corrections: who may, what is stored, what is audited, and
that a correction makes a new truth version instead of changing anything silently."""

import pytest

from audit.models import AuditEvent
from audit.services import audit_verify_chain
from challenges.models import GroundTruth, Phase
from config.errors import Conflict, DomainError, Forbidden
from evaluation.models import Result
from review.errors import ReviewNotFound
from review.models import CaseFlag, CaseVerdict, ConflictOfInterest, FlagStatus
from review.services import (
    conflict_declare,
    flag_dismiss,
    flag_raise,
    review_settings_update,
    truth_correct_from_flag,
    verdict_record,
)

pytestmark = pytest.mark.django_db


def actions(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


def test_a_verdict_is_recorded_changed_and_audited(review_world):
    w = review_world
    case, submission = w.cases["c-004"], w.submissions["team-a"]
    verdict_record(actor=w.physician, case=case, submission=submission, verdict="incorrect",
                   comment="missed the lesion")
    verdict_record(actor=w.physician, case=case, submission=submission, verdict="uncertain")
    record = CaseVerdict.objects.get()
    assert (record.verdict, record.comment, record.reviewer) == ("uncertain", "", w.physician)
    events = actions("review.verdict_recorded")
    assert [e.detail["created"] for e in events] == [True, False]
    assert events[0].detail["submission"] == submission.pk


@pytest.mark.parametrize(("verdict", "comment", "code"), [
    ("wrong", "", "bad_verdict"), ("correct", "x" * 2001, "comment_too_long")])
def test_a_bad_verdict_is_refused_and_nothing_is_stored(review_world, verdict, comment, code):
    w = review_world
    with pytest.raises(DomainError) as refused:
        verdict_record(actor=w.physician, case=w.cases["c-000"],
                       submission=w.submissions["team-a"], verdict=verdict, comment=comment)
    assert refused.value.code == code and refused.value.message
    assert not CaseVerdict.objects.exists() and not actions("review.verdict_recorded")


def test_no_verdict_on_the_own_team_nor_by_outsiders(review_world):
    w = review_world
    with pytest.raises(ReviewNotFound):  # dr-member is in team-c
        verdict_record(actor=w.conflicted, case=w.cases["c-000"],
                       submission=w.submissions["team-c"], verdict="correct")
    verdict_record(actor=w.conflicted, case=w.cases["c-000"], submission=w.submissions["team-a"],
                   verdict="correct")
    for outsider in (w.member, w.other_physician):
        with pytest.raises(ReviewNotFound):
            verdict_record(actor=outsider, case=w.cases["c-000"],
                           submission=w.submissions["team-b"], verdict="correct")
    assert CaseVerdict.objects.count() == 1


def test_a_flag_needs_a_reason_and_is_raised_once(review_world):
    w = review_world
    with pytest.raises(DomainError):
        flag_raise(actor=w.physician, case=w.cases["c-004"], reason="   ")
    flag = flag_raise(actor=w.physician, case=w.cases["c-004"], reason="looks absent to me")
    assert (flag.status, flag.truth_version) == (FlagStatus.OPEN, 1)
    with pytest.raises(Conflict):
        flag_raise(actor=w.physician, case=w.cases["c-004"], reason="again")
    flag_raise(actor=w.steward, case=w.cases["c-004"], reason="agree")
    assert CaseFlag.objects.count() == 2 and len(actions("review.flag_raised")) == 2
    with pytest.raises(ReviewNotFound):
        flag_raise(actor=w.member, case=w.cases["c-004"], reason="team members may not")


def test_correcting_the_truth_makes_a_new_version_and_resolves_every_open_flag(
        review_world, django_capture_on_commit_callbacks, monkeypatch):
    w = review_world
    queued = []
    monkeypatch.setattr("evaluation.tasks.enqueue_reevaluate",
                        lambda phase_id, actor_id: queued.append((phase_id, actor_id)))
    case = w.cases["c-004"]
    first = flag_raise(actor=w.physician, case=case, reason="looks absent")
    second = flag_raise(actor=w.steward, case=case, reason="agree")
    other = flag_raise(actor=w.physician, case=w.cases["c-001"], reason="another case")
    with django_capture_on_commit_callbacks(execute=True):
        version = truth_correct_from_flag(actor=w.admin, flag=first, value="absent",
                                          note="re-read by two radiologists", reevaluate=True)

    phase = Phase.objects.get(pk=w.phase.pk)
    assert version == phase.truth_version == 2
    # the old version is kept whole; the new one carries every other case over unchanged
    v1 = dict(GroundTruth.objects.filter(case__phase=phase, version=1)
              .values_list("case__case_id", "value"))
    v2 = dict(GroundTruth.objects.filter(case__phase=phase, version=2)
              .values_list("case__case_id", "value"))
    assert v1["c-004"] == "present" and v2["c-004"] == "absent"
    assert {k: v for k, v in v1.items() if k != "c-004"} == {
        k: v for k, v in v2.items() if k != "c-004"}
    for flag in (first, second):
        flag.refresh_from_db()
        assert (flag.status, flag.truth_version_created, flag.resolved_by) == (
            FlagStatus.RESOLVED, 2, w.admin)
    other.refresh_from_db()
    assert other.status == FlagStatus.OPEN
    correction = actions("truths.correct")[0]
    assert correction.detail == {"case": "c-004", "from_version": 1, "to_version": 2,
                                 "reason": "re-read by two radiologists", "flag": first.pk}
    assert actions("review.flag_resolved")[0].detail["flags"] == sorted([first.pk, second.pk])
    assert queued == [(phase.pk, w.admin.pk)]  # re-evaluation offered and queued after commit
    # results of version 1 stay as they were until re-evaluated
    assert set(Result.objects.filter(phase=phase).values_list("truth_version", flat=True)) == {1}
    assert audit_verify_chain() is None


def test_a_correction_to_the_same_label_or_a_bad_label_changes_nothing(review_world):
    w = review_world
    flag = flag_raise(actor=w.physician, case=w.cases["c-004"], reason="?")
    for value, code in [("present", "truth_unchanged"), ("maybe", "bad_label")]:
        with pytest.raises(DomainError) as refused:
            truth_correct_from_flag(actor=w.admin, flag=flag, value=value)
        assert refused.value.code == code
    assert Phase.objects.get(pk=w.phase.pk).truth_version == 1
    assert GroundTruth.objects.filter(version=2).count() == 0
    assert not actions("truths.correct")
    flag.refresh_from_db()
    assert flag.status == FlagStatus.OPEN


def test_only_society_admins_correct_or_dismiss(review_world):
    w = review_world
    flag = flag_raise(actor=w.physician, case=w.cases["c-004"], reason="?")
    for actor in (w.physician, w.steward, w.conflicted, w.member):
        with pytest.raises(Forbidden):
            truth_correct_from_flag(actor=actor, flag=flag, value="absent")
        with pytest.raises(Forbidden):
            flag_dismiss(actor=actor, flag=flag)
    flag_dismiss(actor=w.admin, flag=flag, note="the truth stands")
    flag.refresh_from_db()
    assert (flag.status, flag.resolution_note) == (FlagStatus.DISMISSED, "the truth stands")
    with pytest.raises(Conflict):
        flag_dismiss(actor=w.admin, flag=flag)
    assert Phase.objects.get(pk=w.phase.pk).truth_version == 1


def test_blinding_is_for_admins_and_audited(review_world):
    w = review_world
    with pytest.raises(Forbidden):
        review_settings_update(actor=w.physician, phase=w.phase, blinded=False)
    review_settings_update(actor=w.admin, phase=w.phase, blinded=False)
    assert actions("review.settings_changed")[0].detail == {"blinded": False}


def test_declaring_a_conflict_is_kept_once(review_world):
    w = review_world
    conflict_declare(actor=w.physician, team_slug="team-b", note="co-author")
    conflict_declare(actor=w.physician, team_slug="team-b")
    assert ConflictOfInterest.objects.filter(user=w.physician).count() == 1
    assert len(actions("review.conflict_declared")) == 1
    with pytest.raises(DomainError):
        conflict_declare(actor=w.physician, team_slug="no-such-team")
