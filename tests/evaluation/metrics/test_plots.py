"""Blob plot and significance map: valid, deterministic SVG that names every team."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from evaluation.metrics.plots import (
    blob_figure,
    blob_plot,
    figure_png,
    significance_map_plot,
)
from evaluation.metrics.stability import bootstrap_ranks

pytestmark: list[pytest.MarkDecorator] = []  # pure Python: no database

SVG = "{http://www.w3.org/2000/svg}"
TEAMS = ["alpha", "Team <B> & co", "$cash$ only", "zeta"]


def stability():
    rng = np.random.default_rng(0)
    samples = {team: rng.normal(k * 0.1, 0.1, 300) for k, team in enumerate(TEAMS)}
    estimates = {team: k * 0.1 for k, team in enumerate(TEAMS)}
    return bootstrap_ranks(samples, direction="higher", estimates=estimates)


def svg_texts(svg):
    root = ET.fromstring(svg)  # noqa: S314  # our own output
    assert root.tag == f"{SVG}svg"
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def test_blob_plot_is_valid_deterministic_svg_with_every_team():
    result = stability()
    svg = blob_plot(result, title="Dice, bootstrap ranks")
    texts = svg_texts(svg)
    for team in TEAMS:
        assert team in texts
    assert "Dice, bootstrap ranks" in texts
    assert svg == blob_plot(stability(), title="Dice, bootstrap ranks")
    assert "<dc:date>" not in svg


def test_blob_plot_labels_are_the_callers():
    svg = blob_plot(stability(), title="T", x_label="Équipe", y_label="Rang",
                    median_label="Rang médian", interval_label="Intervalle")
    texts = svg_texts(svg)
    assert {"Équipe", "Rang", "Rang médian", "Intervalle"} <= set(texts)


def test_significance_map_plot_is_valid_deterministic_svg_with_every_team():
    significant = np.zeros((4, 4), dtype=bool)
    significant[3, :3] = True
    svg = significance_map_plot(significant, TEAMS, title="Significance")
    texts = svg_texts(svg)
    for team in TEAMS:
        assert texts.count(team) == 2  # row and column label
    assert svg == significance_map_plot(significant.copy(), list(TEAMS), title="Significance")
    assert svg != significance_map_plot(significant.T, TEAMS, title="Significance")


def test_significance_map_plot_checks_the_matrix_shape():
    with pytest.raises(ValueError, match="4x4"):
        significance_map_plot(np.zeros((3, 3), dtype=bool), TEAMS, title="x")


def test_png_is_deterministic():
    first = figure_png(blob_figure(stability(), title="Dice"))
    assert first.startswith(b"\x89PNG\r\n\x1a\n")
    assert first == figure_png(blob_figure(stability(), title="Dice"))
