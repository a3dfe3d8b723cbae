"""Kappa against worked examples from the literature (hand-checked), not against itself."""

import pytest

from review.agreement import cohen_kappa, fleiss_kappa, fleiss_table

# Fleiss (1971)'s statistic on the worked example of its Wikipedia article ("Fleiss' kappa"):
# 10 subjects, 14 raters, 5 categories. By hand: P̄ = 0.378, P̄e = 0.2128, κ = 0.210.
FLEISS_EXAMPLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_matches_the_worked_example():
    # P_1 = (14² − 14)/(14·13) = 1; p_j = (20, 28, 39, 21, 32)/140.
    assert fleiss_kappa(FLEISS_EXAMPLE) == pytest.approx(0.2099, abs=5e-4)
    by_hand = (0.378 - 0.2128) / (1 - 0.2128)  # (P̄ − P̄e) / (1 − P̄e)
    assert fleiss_kappa(FLEISS_EXAMPLE) == pytest.approx(by_hand, abs=1e-3)


def test_fleiss_kappa_of_perfect_agreement_is_one_and_of_a_single_label_undefined():
    assert fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == pytest.approx(1.0)
    assert fleiss_kappa([[3, 0], [3, 0]]) is None
    assert fleiss_kappa([]) is None


def test_fleiss_kappa_of_systematic_disagreement_is_negative():
    # Two raters always split: P̄ = 0, p = (1/2, 1/2), P̄e = 1/2 -> κ = −1.
    assert fleiss_kappa([[1, 1], [1, 1]]) == pytest.approx(-1.0)


def test_fleiss_kappa_refuses_unequal_numbers_of_ratings():
    with pytest.raises(ValueError):
        fleiss_kappa([[2, 1], [1, 1]])
    with pytest.raises(ValueError):
        fleiss_kappa([[1, 0], [1, 0]])  # one rating per subject


def test_fleiss_table_counts_labels_per_subject():
    assert fleiss_table([["a", "b", "a"], ["b", "b", "b"]], ["a", "b"]) == [[2, 1], [0, 3]]
    with pytest.raises(ValueError):
        fleiss_table([["a", "c"]], ["a", "b"])


def test_cohen_kappa_matches_the_textbook_example():
    # Cohen's kappa, Wikipedia's worked example: 50 proposals, yes/yes 20, yes/no 5, no/yes 10,
    # no/no 15: p_o = 0.7, p_e = 0.5·0.6 + 0.5·0.4 = 0.5, κ = 0.4.
    first = ["yes"] * 25 + ["no"] * 25
    second = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(first, second) == pytest.approx(0.4)


def test_cohen_kappa_edge_cases():
    assert cohen_kappa([], []) is None
    assert cohen_kappa(["a", "a"], ["a", "a"]) is None
    with pytest.raises(ValueError):
        cohen_kappa(["a"], ["a", "b"])
