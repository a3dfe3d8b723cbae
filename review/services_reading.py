"""Writes for reader studies: reading lists, their readers, reads, and merging reads into ground
truth. Every write is audited; bad input raises a DomainError with a translated message and
stores nothing.

- A society admin (or an operator) creates a list of a phase's cases (chosen by id, a seeded
  random sample, or all of them) with its merge rule, and assigns the society's physicians.
- An assigned reader answers the task's own question per case (`answer_check`): a label with an
  optional confidence for classification, lesions (points or boxes) for detection, and an
  optional grade when the list declares grades. A re-read never edits a stored read: it adds the
  next version and the earlier one is kept, no longer current.
- `reading_merge_apply` writes the merged reads as one new ground-truth version (the same
  private helper as `challenges.services.truth_correct`, the phase locked, audited as
  "truths.correct"); the individual reads stay.
"""

import math
import random
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from accounts.models import SocietyMembership, SocietyRole, User
from accounts.permissions import can_manage_society
from audit.services import audit_record
from challenges.case_store import truth_update
from challenges.contract import case_shape, detection_geometry
from challenges.models import Case, GroundTruth, Phase, TaskType
from challenges.truths import _case_lesions
from config.errors import Conflict, DomainError, Forbidden
from evaluation.selectors import leaderboard_changed
from review.masks_reading import forget, fused_reference, mask_answer
from review.models import (
    MergeRule,
    Read,
    ReadingAssignment,
    ReadingList,
    ReadingListCase,
    ReadingMerge,
)
from review.selectors.reading import LABEL_TASKS, MergeOutcome, merge_outcome

MAX_CASES = 5000
MAX_GRADES = 20
MAX_NOTE = 2000


def _require_admin(actor: User, phase: Phase) -> None:
    if not can_manage_society(actor, phase.challenge.society):
        raise Forbidden("not_society_admin", _("Only the society's admins may do this."))


def _grades(grades: list[str]) -> list[str]:
    cleaned = [g.strip() for g in grades if g.strip()]
    if len(cleaned) > MAX_GRADES or any(len(g) > 64 for g in cleaned):
        raise DomainError("bad_grades", _("Give at most %(n)d grades of at most 64 characters.")
                          % {"n": MAX_GRADES})
    if len(set(cleaned)) != len(cleaned):
        raise DomainError("bad_grades", _("Each grade may appear only once."))
    return cleaned


def _chosen_cases(phase: Phase, case_ids: list[str], sample_size: int | None,
                  seed: int | None) -> list[Case]:
    cases = {c.case_id: c for c in phase.cases.order_by("case_id")}
    if case_ids:
        unknown = [c for c in case_ids if c not in cases]
        if unknown:
            raise DomainError("unknown_case", _("Not cases of this phase: %(cases)s.") % {
                "cases": ", ".join(c[:64] for c in unknown[:10])})
        chosen = list(dict.fromkeys(case_ids))
    elif sample_size:
        if sample_size < 1 or sample_size > len(cases):
            raise DomainError("bad_sample", _(
                "A sample takes from 1 to %(n)d cases.") % {"n": len(cases)})
        chosen = sorted(random.Random(seed).sample(sorted(cases), sample_size))
    else:
        chosen = sorted(cases)
    if not chosen:
        raise DomainError("no_cases", _("This phase has no cases to read."))
    if len(chosen) > MAX_CASES:
        raise DomainError("too_many_cases", _("A reading list holds at most %(n)d cases.") % {
            "n": MAX_CASES})
    return [cases[c] for c in chosen]


def _physician(phase: Phase, username: str) -> User:
    user = User.objects.filter(username=username.strip(), is_active=True).first()
    if user is None or not SocietyMembership.objects.filter(
            user=user, society=phase.challenge.society, role=SocietyRole.PHYSICIAN).exists():
        raise DomainError("not_a_physician", _(
            "%(name)s is not a physician of the society.") % {"name": username.strip()[:150]})
    return user


@transaction.atomic
def reading_list_create(*, actor: User, phase: Phase, title: str, case_ids: list[str] | None = None,
                        sample_size: int | None = None, seed: int | None = None,
                        merge_rule: str = MergeRule.MAJORITY, adjudicator: str = "",
                        grades: list[str] | None = None) -> ReadingList:
    """A reading list of the phase's cases: `case_ids` when given, else a random sample of
    `sample_size` cases drawn with `seed` (the same seed draws the same cases; without one a
    seed is drawn, and recorded like a given one), else all."""
    _require_admin(actor, phase)
    sampled = bool(sample_size) and not case_ids
    if sampled and seed is None:
        seed = random.SystemRandom().randrange(10**9)
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise DomainError("bad_title", _("Give the list a title of at most 200 characters."))
    if merge_rule not in MergeRule.values:
        raise DomainError("bad_merge_rule", _("Choose majority vote, an adjudicator or mask "
                                              "fusion."))
    if merge_rule == MergeRule.MASK_FUSION and phase.challenge.task_type != TaskType.SEGMENTATION:
        raise DomainError("bad_merge_rule", _("Mask fusion merges masks: it is for "
                                              "segmentation tasks."))
    judge = None
    if merge_rule == MergeRule.ADJUDICATOR:
        if not (adjudicator or "").strip():
            raise DomainError("adjudicator_required", _("Name the adjudicator."))
        judge = _physician(phase, adjudicator)
    cases = _chosen_cases(phase, case_ids or [], sample_size, seed)
    reading_list = ReadingList.objects.create(
        phase=phase, title=title, merge_rule=merge_rule, adjudicator=judge,
        grades=_grades(grades or []), sample_seed=seed if sampled else None,
        created_by=actor)
    ReadingListCase.objects.bulk_create(
        ReadingListCase(reading_list=reading_list, case=case, position=index)
        for index, case in enumerate(cases))
    if judge is not None:
        _assign(reading_list, judge, actor)
    audit_record(actor=actor, action="review.reading_list_created", target_type="phase",
                 target_id=phase.pk, detail={"list": reading_list.pk, "cases": len(cases),
                                             "rule": merge_rule, "seed": reading_list.sample_seed})
    return reading_list


def _assign(reading_list: ReadingList, reader: User, actor: User) -> ReadingAssignment:
    held = ReadingAssignment.objects.filter(reading_list=reading_list, reader=reader).first()
    if held is not None:
        return held
    number = (reading_list.assignments.aggregate(n=Max("number"))["n"] or 0) + 1
    return ReadingAssignment.objects.create(reading_list=reading_list, reader=reader,
                                            number=number, assigned_by=actor)


@transaction.atomic
def readers_assign(*, actor: User, reading_list: ReadingList,
                   usernames: list[str]) -> list[ReadingAssignment]:
    """Assign the society's physicians (by user name) to the list; assigning one twice keeps
    the first assignment and its reader number."""
    phase = reading_list.phase
    _require_admin(actor, phase)
    names = [n for n in dict.fromkeys(u.strip() for u in usernames) if n]
    if not names:
        raise DomainError("no_readers", _("Name at least one physician."))
    readers = [_physician(phase, name) for name in names]
    ReadingList.objects.select_for_update().filter(pk=reading_list.pk).first()
    assignments = [_assign(reading_list, reader, actor) for reader in readers]
    audit_record(actor=actor, action="review.readers_assigned", target_type="phase",
                 target_id=phase.pk, detail={"list": reading_list.pk,
                                             "readers": [a.number for a in assignments]})
    return assignments


def _confidence(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or not 0 <= number <= 1:
        raise DomainError("bad_confidence", _("The confidence is a number from 0 to 1."))
    return number


def answer_check(reading_list: ReadingList, case: Case, raw: dict[str, Any],
                 written: list[str] | None = None) -> dict[str, Any]:
    """The answer as stored, checked against the task: a label of the challenge's label set
    (with an optional confidence in [0, 1]), lesions inside the case image's shape, or a mask
    file (`raw["mask_upload"]`: name and bytes) of the image's shape and labels, stored (its
    keys appended to `written`); and a grade of the list's grades when given. DomainError
    names what is wrong."""
    challenge = reading_list.phase.challenge
    answer: dict[str, Any] = {}
    if challenge.task_type in LABEL_TASKS:
        label = raw.get("label")
        if label not in challenge.labels:
            raise DomainError("bad_label", _("Choose one of the labels: %(labels)s.") % {
                "labels": ", ".join(challenge.labels)})
        answer["label"] = label
        confidence = _confidence(raw.get("confidence"))
        if confidence is not None:
            answer["confidence"] = confidence
    elif challenge.task_type == TaskType.DETECTION:
        shape = case_shape(case)
        if shape is None:
            raise DomainError("no_shape", _("This case's image size is unknown; it cannot be "
                                            "marked."))
        try:
            answer["lesions"] = _case_lesions(raw.get("lesions", []), shape,
                                              detection_geometry(challenge)[1])
        except ValueError as exc:
            raise DomainError("bad_lesions", str(exc)) from exc
    elif challenge.task_type == TaskType.SEGMENTATION:
        shape = case_shape(case)
        if shape is None:
            raise DomainError("no_shape", _("This case's image size is unknown; it cannot be "
                                            "marked."))
        if not raw.get("mask_upload"):
            raise DomainError("mask_required", _("Upload a mask file for this case."))
        answer.update(mask_answer(raw["mask_upload"], shape, len(challenge.labels),
                                  written if written is not None else []))
    else:
        raise DomainError("task_not_readable", _("Reads of this task type are not supported."))
    grade = raw.get("grade")
    if grade not in (None, ""):
        if isinstance(grade, bool) or not isinstance(grade, int | str) or not str(grade).isdigit() \
                or int(grade) >= len(reading_list.grades):
            raise DomainError("bad_grade", _("Choose one of the list's grades."))
        answer["grade"] = int(grade)
    return answer


@transaction.atomic
def read_record(*, actor: User, reading_list: ReadingList, case: Case,
                answer: dict[str, Any]) -> Read:
    """Record the actor's answer for a case of a list they are assigned to. A re-read adds the
    next version; the earlier reads are kept (not current)."""
    if not ReadingAssignment.objects.filter(reading_list=reading_list, reader=actor).exists():
        raise Forbidden("not_a_reader", _("You are not a reader of this list."))
    if not ReadingListCase.objects.filter(reading_list=reading_list, case=case).exists():
        raise DomainError("case_not_listed", _("This case is not on the reading list."))
    written: list[str] = []
    try:
        return _read_store(actor, reading_list, case, answer_check(reading_list, case, answer,
                                                                   written))
    except Exception:
        forget(written)
        raise


def _read_store(actor: User, reading_list: ReadingList, case: Case,
                checked: dict[str, Any]) -> Read:
    previous = (Read.objects.select_for_update()
                .filter(reading_list=reading_list, case=case, reader=actor)
                .order_by("-version").first())
    if previous is not None and previous.is_current and previous.answer == checked:
        return previous  # the same answer again: nothing new to keep
    Read.objects.filter(reading_list=reading_list, case=case, reader=actor,
                        is_current=True).update(is_current=False)
    read = Read.objects.create(reading_list=reading_list, case=case, reader=actor,
                               version=(previous.version + 1) if previous else 1, answer=checked)
    audit_record(actor=actor, action="review.read_recorded", target_type="case",
                 target_id=case.pk, detail={"list": reading_list.pk, "version": read.version})
    return read


@transaction.atomic
def reading_merge_apply(*, actor: User, reading_list: ReadingList, note: str = "") -> ReadingMerge:
    """Merge the list's current reads into ground truth by its rule: one new truth version for
    every resolved case whose truth differs (none when nothing differs); unresolved and unread
    cases keep their truth and are recorded. Audited as "truths.correct" and
    "review.reads_merged"; the reads are kept."""
    phase = Phase.objects.select_for_update().select_related("challenge__society").get(
        pk=reading_list.phase_id)
    _require_admin(actor, phase)
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise DomainError("note_too_long", _("Write at most %(n)d characters.") % {"n": MAX_NOTE})
    outcome = merge_outcome(reading_list)
    if not outcome.resolved:
        raise Conflict("nothing_to_merge", _("No case of this list is resolved by its rule yet."))
    written: list[str] = []
    try:
        return _merge_write(actor, reading_list, phase, outcome, note, written)
    except Exception:
        forget(written)
        raise


def materialized(value: Any, prefix: str, written: list[str]) -> Any:
    """A merged value as a truth value: fused masks are fused and stored under `prefix`."""
    if isinstance(value, dict) and "fuse" in value:
        return fused_reference(value["fuse"], prefix, written)
    return value


def _merge_write(actor: User, reading_list: ReadingList, phase: Phase, outcome: MergeOutcome,
                 note: str, written: list[str]) -> ReadingMerge:
    resolved = {c: materialized(v, "truths", written) for c, v in outcome.resolved.items()}
    before = phase.truth_version
    current = dict(GroundTruth.objects.filter(case__phase=phase, version=before)
                   .values_list("case__case_id", "value"))
    changed = sorted(c for c, v in resolved.items() if current.get(c) != v)
    version = truth_update(phase, {c: resolved[c] for c in changed}) if changed else before
    merge = ReadingMerge.objects.create(
        reading_list=reading_list, rule=outcome.rule, from_version=before, to_version=version,
        changed=changed, unresolved=sorted(outcome.unresolved + outcome.unread), merged_by=actor)
    if changed:
        audit_record(actor=actor, action="truths.correct", target_type="phase", target_id=phase.pk,
                     detail={"cases": changed, "from_version": before, "to_version": version,
                             "reason": note or _("merged reads"), "reading_list": reading_list.pk,
                             "rule": outcome.rule})
        leaderboard_changed(phase_ids=[phase.pk])
    audit_record(actor=actor, action="review.reads_merged", target_type="phase",
                 target_id=phase.pk, detail={"list": reading_list.pk, "merge": merge.pk,
                                             "changed": len(changed),
                                             "unresolved": len(merge.unresolved),
                                             "truth_version": version})
    return merge
