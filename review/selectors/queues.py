"""The review queues of a phase, each a list of cases in the order a physician should look at them.

Every queue reads the phase's per-case rows in one query (`_case_table`) for the algorithms the
reviewer may see (`algorithms_for`: conflicts of interest are left out before anything is
computed), never one query per case. Losses and disagreement come from `review.case_scores`.

- worst: one algorithm's cases, most wrong first (by `case_loss`).
- disagreement: the TOP_TEAMS best-ranked algorithms' disagreement per case, largest first
  (cases on which they all agree are left out).
- label-errors: cases that most algorithms (more than half, at least two) get wrong, by the
  share that does, then their mean loss: candidates for a wrong ground truth.
- random: a random sample of SAMPLE_SIZE cases, reproducible from the phase and a seed.
- flagged: cases with an open "ground truth questionable" flag, most flags first.
"""

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.permissions import AnyUser
from challenges.models import Phase
from evaluation.models import CaseResult
from evaluation.services.specs import spec_of
from review.case_scores import (
    LABEL_TASKS,
    case_loss,
    disagreement,
    disagrees_with_truth,
    loss_metric,
    predicted_label,
    truth_label,
)
from review.models import CaseFlag, FlagStatus
from review.selectors.access import Algorithm, algorithms_for

TOP_TEAMS = 5
SAMPLE_SIZE = 20

QUEUES: dict[str, tuple[Any, Any]] = {
    "worst": (gettext_lazy("Worst cases"), gettext_lazy(
        "The cases the chosen algorithm gets most wrong, by its per-case score.")),
    "disagreement": (gettext_lazy("Top teams disagree"), gettext_lazy(
        "Cases on which the five best-ranked algorithms disagree most with one another.")),
    "label-errors": (gettext_lazy("Label-error candidates"), gettext_lazy(
        "Cases that most algorithms get wrong: the ground truth itself may be wrong.")),
    "random": (gettext_lazy("Random sample"), gettext_lazy(
        "A random sample of the phase's cases; the same seed gives the same sample.")),
    "flagged": (gettext_lazy("Flagged"), gettext_lazy(
        "Cases a colleague flagged as having questionable ground truth.")),
}


@dataclass(frozen=True)
class QueueItem:
    case_id: str
    value: float | None  # what the queue sorts by (a loss, a disagreement, a share)
    note: str = ""


@dataclass(frozen=True)
class Queue:
    key: str
    title: str
    explanation: str
    items: list[QueueItem]
    algorithms: list[Algorithm]
    algorithm: Algorithm | None = None  # the worst-cases queue's chosen algorithm
    seed: int = 0


@dataclass(frozen=True)
class _Row:
    loss: float | None
    label: str | None
    truth: str | None


def _case_table(phase: Phase, algorithms: list[Algorithm]) -> dict[str, dict[int, _Row]]:
    """case id -> submission id -> (loss, predicted label), for `algorithms` (one query)."""
    spec = spec_of(phase.challenge)
    metric = loss_metric(spec)
    fields = ["submission_id", "case__case_id", "values"]
    with_prediction = spec.task == "multiclass-classification" and metric is None
    rows = CaseResult.objects.filter(
        submission_id__in=[a.submission_id for a in algorithms]).values_list(
        *fields, *(["prediction"] if with_prediction else []))
    table: dict[str, dict[int, _Row]] = defaultdict(dict)
    for submission_id, case_id, values, *rest in rows:
        values = values if isinstance(values, dict) else {}
        prediction = rest[0] if rest else None
        table[case_id][submission_id] = _Row(
            case_loss(spec, values, prediction, metric=metric), predicted_label(spec, values),
            truth_label(spec, values))
    return table


def _note(row: _Row) -> str:
    if row.truth is None or row.label is None:
        return ""
    return _("truth %(truth)s, predicted %(predicted)s") % {"truth": row.truth,
                                                              "predicted": row.label}


def _worst(phase: Phase, algorithm: Algorithm | None) -> list[QueueItem]:
    if algorithm is None:
        return []
    table = _case_table(phase, [algorithm])
    items = [QueueItem(case_id, row.loss, _note(row)) for case_id, rows in table.items()
             if (row := rows.get(algorithm.submission_id)) is not None]
    return sorted(items, key=lambda i: (i.value is None, -(i.value or 0.0), i.case_id))


def _disagreement(phase: Phase, algorithms: list[Algorithm]) -> list[QueueItem]:
    top = algorithms[:TOP_TEAMS]
    if len(top) < 2:
        return []
    items = []
    for case_id, rows in _case_table(phase, top).items():
        present = [rows[a.submission_id] for a in top if a.submission_id in rows]
        value = disagreement([r.label for r in present], [r.loss for r in present])
        if value > 0:
            labels = sorted({r.label for r in present if r.label is not None})
            items.append(QueueItem(case_id, value, " / ".join(labels)))
    return sorted(items, key=lambda i: (-(i.value or 0.0), i.case_id))


def _label_errors(phase: Phase, algorithms: list[Algorithm]) -> list[QueueItem]:
    items = []
    for case_id, rows in _case_table(phase, algorithms).items():
        judged = [(r.loss, disagrees_with_truth(r.loss)) for r in rows.values()]
        judged = [(loss, wrong) for loss, wrong in judged if wrong is not None]
        wrong = sum(1 for _loss, w in judged if w)
        if len(judged) >= 2 and wrong * 2 > len(judged):
            mean = sum(loss or 0.0 for loss, _w in judged) / len(judged)
            items.append(QueueItem(case_id, wrong / len(judged), _(
                "%(wrong)d of %(n)d algorithms disagree with the ground truth (mean loss "
                "%(mean).2f)") % {"wrong": wrong, "n": len(judged), "mean": mean}))
    return sorted(items, key=lambda i: (-(i.value or 0.0), i.case_id))


def _random(phase: Phase, seed: int) -> list[QueueItem]:
    case_ids = sorted(phase.cases.values_list("case_id", flat=True))
    chosen = random.Random(f"{phase.pk}:{seed}").sample(case_ids, min(SAMPLE_SIZE, len(case_ids)))
    return [QueueItem(case_id, None) for case_id in chosen]


def _flagged(phase: Phase) -> list[QueueItem]:
    rows = (CaseFlag.objects.filter(case__phase=phase, status=FlagStatus.OPEN)
            .values("case__case_id").annotate(n=Count("pk"), last=Max("created"))
            .order_by("-n", "-last", "case__case_id"))
    return [QueueItem(row["case__case_id"], float(row["n"]), ngettext(
        "%(n)d open flag", "%(n)d open flags", row["n"]) % {"n": row["n"]}) for row in rows]


def queue_for(user: AnyUser, phase: Phase, key: str, *, algorithm: str = "",
              seed: int = 0) -> Queue:
    """The queue `key` (one of QUEUES; anything else is the worst-cases queue) as `user` sees it.
    `algorithm` picks the worst-cases queue's algorithm by its code (default: the best-ranked)."""
    key = key if key in QUEUES else "worst"
    algorithms = algorithms_for(user, phase)
    chosen = next((a for a in algorithms if a.code == algorithm), None) or (
        algorithms[0] if algorithms else None)
    if key == "worst":
        items = _worst(phase, chosen)
    elif key == "disagreement":
        items = _disagreement(phase, algorithms)
    elif key == "label-errors":
        items = _label_errors(phase, algorithms)
    elif key == "random":
        items = _random(phase, seed)
    else:
        items = _flagged(phase)
    title, explanation = QUEUES[key]
    return Queue(key=key, title=str(title), explanation=str(explanation), items=items,
                 algorithms=algorithms, algorithm=chosen if key == "worst" else None, seed=seed)


def is_label_task(phase: Phase) -> bool:
    return phase.challenge.task_type in LABEL_TASKS
