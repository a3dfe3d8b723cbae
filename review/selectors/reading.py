"""Reads for reader studies: who sees a phase's reading lists, a reader's lists and progress,
the next unread case, a list's current reads, how they would merge, and agreement.

Reading lists hold hidden cases: only the owning society's hidden-data roles and operators see
them (`can_see_hidden_data`); everyone else gets ReviewNotFound (404). Only a list's assigned
readers answer it. Readers are "Reader 1..n" by the order they were assigned.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from accounts.models import SocietyMembership, SocietyRole, User
from accounts.permissions import AnyUser, can_see_hidden_data
from challenges.models import Case, Phase, TaskType
from review.agreement import cohen_kappa, fleiss_kappa, fleiss_table
from review.errors import ReviewNotFound
from review.models import MergeRule, Read, ReadingAssignment, ReadingList, ReadingListCase

LABEL_TASKS = (TaskType.BINARY_CLASSIFICATION, TaskType.MULTICLASS_CLASSIFICATION)


def _not_found() -> ReviewNotFound:
    return ReviewNotFound("reading_list_not_found", _("There is no such reading list."))


def access_reading_list(user: AnyUser, phase: Phase, pk: int) -> ReadingList:
    """The phase's reading list, for the owning society's hidden-data roles and operators."""
    if not can_see_hidden_data(user, phase.challenge.society):
        raise _not_found()
    reading_list = (ReadingList.objects.select_related("phase__challenge__society", "adjudicator")
                    .filter(pk=pk, phase=phase).first())
    if reading_list is None:
        raise _not_found()
    return reading_list


def assignment_of(user: AnyUser, reading_list: ReadingList) -> ReadingAssignment | None:
    if not user.is_authenticated:
        return None
    return ReadingAssignment.objects.filter(reading_list=reading_list, reader=user).first()


def reading_lists_of(phase: Phase) -> QuerySet[ReadingList]:
    return phase.reading_lists.annotate(
        n_cases=Count("items", distinct=True), n_readers=Count("assignments", distinct=True))


def physicians_of(phase: Phase) -> QuerySet[User]:
    """The people an admin may assign: the owning society's physicians."""
    return User.objects.filter(pk__in=SocietyMembership.objects.filter(
        society=phase.challenge.society, role=SocietyRole.PHYSICIAN).values("user")
    ).order_by("username")


@dataclass(frozen=True)
class Progress:
    number: int
    reader: User
    n_read: int
    n_assigned: int


def progress_of(reading_list: ReadingList) -> list[Progress]:
    """n read / n assigned per reader, in reader order (three queries)."""
    n_cases = reading_list.items.count()
    counts = dict(Read.objects.filter(reading_list=reading_list, is_current=True)
                  .values("reader").annotate(n=Count("pk")).values_list("reader", "n"))
    return [Progress(a.number, a.reader, counts.get(a.reader_id, 0), n_cases)
            for a in reading_list.assignments.select_related("reader").order_by("number")]


@dataclass(frozen=True)
class MyList:
    reading_list: ReadingList
    number: int
    n_read: int
    n_assigned: int


def my_reading_lists(user: AnyUser) -> list[MyList]:
    """The lists the user reads, with their progress, newest first."""
    if not user.is_authenticated:
        return []
    assignments = (ReadingAssignment.objects.filter(reader=user)
                   .select_related("reading_list__phase__challenge__society")
                   .order_by("-reading_list__created"))
    out = []
    for a in assignments:
        reading_list = a.reading_list
        if not can_see_hidden_data(user, reading_list.phase.challenge.society):
            continue  # a former physician of the society keeps no access
        out.append(MyList(reading_list, a.number,
                          Read.objects.filter(reading_list=reading_list, reader=user,
                                              is_current=True).count(),
                          reading_list.items.count()))
    return out


def list_cases(reading_list: ReadingList) -> list[Case]:
    return [item.case for item in ReadingListCase.objects.filter(
        reading_list=reading_list).select_related("case").order_by("position")]


def list_case(reading_list: ReadingList, case_id: str) -> Case:
    item = ReadingListCase.objects.select_related("case").filter(
        reading_list=reading_list, case__case_id=case_id).first()
    if item is None:
        raise ReviewNotFound("case_not_found", _("This case is not on the reading list."))
    return item.case


def next_unread(reading_list: ReadingList, reader: AnyUser) -> Case | None:
    """The reader's first case of the list (in list order) without a read, or None."""
    read = Read.objects.filter(reading_list=reading_list, reader_id=reader.pk,
                               is_current=True).values("case")
    item = (ReadingListCase.objects.filter(reading_list=reading_list).exclude(case__in=read)
            .select_related("case").order_by("position").first())
    return item.case if item else None


def my_read(reading_list: ReadingList, reader: AnyUser, case: Case) -> Read | None:
    return Read.objects.filter(reading_list=reading_list, reader_id=reader.pk, case=case,
                               is_current=True).first()


def read_history(reading_list: ReadingList, reader: AnyUser, case: Case) -> QuerySet[Read]:
    return Read.objects.filter(reading_list=reading_list, reader_id=reader.pk,
                               case=case).order_by("-version")


def current_reads(reading_list: ReadingList) -> dict[str, dict[int, dict[str, Any]]]:
    """case id -> reader number -> answer, current reads only (one query)."""
    numbers = dict(reading_list.assignments.values_list("reader_id", "number"))
    out: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for case_id, reader_id, answer in Read.objects.filter(
            reading_list=reading_list, is_current=True).values_list(
            "case__case_id", "reader_id", "answer"):
        if reader_id in numbers:
            out[case_id][numbers[reader_id]] = answer
    return dict(out)


def truth_value(answer: dict[str, Any]) -> Any:
    """What a read says the case's ground truth is: a label, the lesions, or the mask."""
    if "label" in answer:
        return answer["label"]
    if "mask" in answer:
        return {"mask": answer["mask"]}
    return {"lesions": answer.get("lesions", [])}


@dataclass
class MergeOutcome:
    """Under mask fusion a resolved value is `{"fuse": [read answers]}`: the services fuse and
    store the masks (`review.masks_reading`) when they write."""

    rule: str
    resolved: dict[str, Any] = field(default_factory=dict)  # case id -> truth value
    unresolved: list[str] = field(default_factory=list)  # ties, or no adjudicator read
    unread: list[str] = field(default_factory=list)  # nobody read these yet


def majority(values: list[Any]) -> tuple[bool, Any]:
    """(resolved, value): the most frequent value when no other is as frequent."""
    counts = Counter(repr(v) for v in values).most_common()
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return False, None
    winner = counts[0][0]
    return True, next(v for v in values if repr(v) == winner)


def merge_outcome(reading_list: ReadingList) -> MergeOutcome:
    """How the list's current reads merge under its rule (nothing is written)."""
    reads = current_reads(reading_list)
    adjudicator_number = None
    if reading_list.merge_rule == MergeRule.ADJUDICATOR and reading_list.adjudicator_id:
        adjudicator_number = reading_list.assignments.filter(
            reader_id=reading_list.adjudicator_id).values_list("number", flat=True).first()
    outcome = MergeOutcome(rule=reading_list.merge_rule)
    for case in list_cases(reading_list):
        answers = reads.get(case.case_id, {})
        if not answers:
            outcome.unread.append(case.case_id)
            continue
        value: Any
        if reading_list.merge_rule == MergeRule.MASK_FUSION:
            masks = [a for a in answers.values() if "mask" in a]
            resolved, value = bool(masks), {"fuse": masks}
        elif reading_list.merge_rule == MergeRule.ADJUDICATOR:
            answer = answers.get(adjudicator_number) if adjudicator_number else None
            resolved, value = (answer is not None,
                               truth_value(answer) if answer is not None else None)
        else:
            resolved, value = majority([truth_value(a) for a in answers.values()])
        if resolved:
            outcome.resolved[case.case_id] = value
        else:
            outcome.unresolved.append(case.case_id)
    return outcome


@dataclass(frozen=True)
class PairDice:
    first: int  # reader numbers
    second: int
    dice: float | None  # mean foreground Dice over the cases both read (None: all empty)
    n_cases: int


@dataclass(frozen=True)
class Agreement:
    method: str  # "cohen", "fleiss", "dice" or "" (not computable)
    kappa: float | None
    n_cases: int
    n_readers: int
    pairs: tuple[PairDice, ...] = ()


def agreement_of(reading_list: ReadingList) -> Agreement:
    """Kappa on the cases every reader of the list has labelled: Cohen's for two readers,
    Fleiss' for more. Not computed for lists of lesions, nor with fewer than two readers."""
    numbers = sorted(reading_list.assignments.values_list("number", flat=True))
    labels = reading_list.phase.challenge.labels
    if len(numbers) >= 2 and reading_list.phase.challenge.task_type == TaskType.SEGMENTATION:
        return _dice_agreement(reading_list, numbers)
    if len(numbers) < 2 or reading_list.phase.challenge.task_type not in LABEL_TASKS:
        return Agreement("", None, 0, len(numbers))
    reads = current_reads(reading_list)
    rows = [[answers[n]["label"] for n in numbers] for answers in reads.values()
            if all(n in answers for n in numbers)]
    if len(numbers) == 2:
        kappa = cohen_kappa([r[0] for r in rows], [r[1] for r in rows])
        return Agreement("cohen", kappa, len(rows), 2)
    kappa = fleiss_kappa(fleiss_table(rows, labels)) if rows else None
    return Agreement("fleiss", kappa, len(rows), len(numbers))


def _dice_agreement(reading_list: ReadingList, numbers: list[int]) -> Agreement:
    """Pairwise foreground Dice between readers' masks, averaged over the cases both read."""
    from challenges.truths import load_mask
    from review.masks_reading import foreground_dice

    reads = current_reads(reading_list)
    loaded: dict[str, Any] = {}

    def mask_of(answer: dict[str, Any]) -> Any:
        key = answer["mask"]["storage_key"]
        if key not in loaded:
            loaded[key] = load_mask(answer["mask"])
        return loaded[key]

    pairs = []
    for i, first in enumerate(numbers):
        for second in numbers[i + 1:]:
            both = [a for a in reads.values() if "mask" in a.get(first, {})
                    and "mask" in a.get(second, {})]
            values = [foreground_dice(mask_of(a[first]), mask_of(a[second])) for a in both]
            defined = [v for v in values if v is not None]
            pairs.append(PairDice(first, second, sum(defined) / len(defined) if defined else None,
                                  len(both)))
    return Agreement("dice", None, max((p.n_cases for p in pairs), default=0), len(numbers),
                     tuple(pairs))


def reader_cases(reading_list: ReadingList, reader: AnyUser) -> list[tuple[str, int | None]]:
    """The list's case ids in order with the reader's current read version (None: unread)."""
    versions = dict(Read.objects.filter(reading_list=reading_list, reader_id=reader.pk,
                                        is_current=True).values_list("case__case_id", "version"))
    return [(case.case_id, versions.get(case.case_id)) for case in list_cases(reading_list)]
