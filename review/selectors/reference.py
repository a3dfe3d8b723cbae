"""Human reference rows as the leaderboard shows them: published rows of the current spec and
truth versions, by their public name ("Reader n" unless the society named the reader)."""

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from challenges.models import Phase
from evaluation.services.specs import spec_of
from review.models import ReferenceKind, ReferenceRow


@dataclass(frozen=True)
class ReferenceEntry:
    """Kept in the cached leaderboard: `name` is translated when it is read, not when cached."""

    pk: int
    public_name: str
    reader_number: int | None
    kind: str
    cells: list[dict[str, Any]]  # one per spec metric, in the board's column order
    n_cases: int
    published: bool
    truth_version: int
    current: bool  # scored against the current spec and truth versions

    @property
    def name(self) -> str:
        return _name(self.public_name, self.kind, self.reader_number)


def _name(public_name: str, kind: str, reader_number: int | None) -> str:
    if public_name:
        return public_name
    if kind == ReferenceKind.CONSENSUS:
        return _("Reader consensus")
    return _("Reader %(n)d") % {"n": reader_number or 0}


def reference_entries(phase: Phase, rows: Any) -> list[ReferenceEntry]:
    keys = [m.key for m in spec_of(phase.challenge).metrics]
    out = []
    for row in rows:
        metrics = (row.metrics or {}).get("metrics", {})
        out.append(ReferenceEntry(
            pk=row.pk, public_name=row.public_name, reader_number=row.reader_number,
            kind=row.kind,
            cells=[{"key": k, **metrics.get(k, {})} for k in keys], n_cases=row.n_cases,
            published=row.published, truth_version=row.truth_version,
            current=(row.truth_version == phase.truth_version
                     and row.spec_version == phase.challenge.metric_version)))
    return out


def published_reference_rows(phase: Phase) -> list[ReferenceEntry]:
    """The phase's published reference rows scored under the current versions (one query)."""
    rows = ReferenceRow.objects.filter(
        phase=phase, published=True, truth_version=phase.truth_version,
        spec_version=phase.challenge.metric_version).order_by("reading_list", "kind",
                                                               "reader_number")
    return reference_entries(phase, rows)


def reference_rows_of_list(phase: Phase, reading_list_id: int) -> list[ReferenceEntry]:
    return reference_entries(phase, ReferenceRow.objects.filter(
        reading_list_id=reading_list_id).order_by("kind", "reader_number"))


def reference_rows_of_phase(phase: Phase) -> QuerySet[ReferenceRow]:
    """The rows a phase's leaderboard may show (its fingerprint counts them: a publication,
    a withdrawal or a re-scoring changes the board's version)."""
    return ReferenceRow.objects.filter(phase=phase, published=True)
