"""Inter-reader agreement on labels: Cohen's kappa for two readers, Fleiss' kappa for more.

Pure functions on plain lists; `review.selectors.reading.agreement_of` feeds them a reading
list's current reads. Both answer None where kappa is undefined (no cases, or chance agreement
of 1: every reader gave every case the same single label).
"""

from collections import Counter
from collections.abc import Sequence

from sklearn.metrics import cohen_kappa_score


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's kappa of two readers' labels on the same cases (aligned lists)."""
    if len(first) != len(second):
        raise ValueError("the two readers' labels must be aligned on the same cases")
    if not first:
        return None
    if len(set(first) | set(second)) == 1:
        return None  # both readers gave one and the same label throughout: undefined
    return float(cohen_kappa_score(list(first), list(second)))


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa (Fleiss 1971) of a subjects × categories table of counts: row i holds how
    many of the n raters put subject i in each category; every row must sum to the same n ≥ 2.

    P_i = (Σ_j n_ij² − n) / (n(n − 1)), P̄ = mean P_i, p_j = Σ_i n_ij / (N n),
    P̄e = Σ_j p_j², κ = (P̄ − P̄e) / (1 − P̄e)."""
    rows = [list(row) for row in table]
    if not rows:
        return None
    n = sum(rows[0])
    if n < 2 or any(sum(row) != n for row in rows) or any(v < 0 for row in rows for v in row):
        raise ValueError("every subject needs the same number (at least 2) of ratings")
    if len({len(row) for row in rows}) != 1:
        raise ValueError("every subject needs a count for every category")
    subjects = len(rows)
    p_bar = sum((sum(v * v for v in row) - n) / (n * (n - 1)) for row in rows) / subjects
    totals = [sum(column) for column in zip(*rows, strict=True)]
    p_e = sum((t / (subjects * n)) ** 2 for t in totals)
    if p_e == 1:
        return None
    return (p_bar - p_e) / (1 - p_e)


def fleiss_table(ratings: Sequence[Sequence[str]], categories: Sequence[str]) -> list[list[int]]:
    """The counts table of `fleiss_kappa` from each subject's list of labels (one per rater)."""
    table = []
    for labels in ratings:
        counts = Counter(labels)
        if set(counts) - set(categories):
            raise ValueError("a label is not one of the categories")
        table.append([counts.get(category, 0) for category in categories])
    return table
