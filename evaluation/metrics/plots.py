"""Leaderboard figures after challengeR: blob plot of bootstrap ranks, significance map.

Contracts:
- Pure matplotlib object API (``Figure``, no pyplot, no display, no global backend switch); SVG
  and PNG come from ``figure_svg`` / ``figure_png``. The same input gives byte-identical output:
  fixed ``svg.hashsalt``, no date in the metadata, text kept as ``<text>`` (``svg.fonttype
  none``) in the bundled DejaVu Sans.
- Team names are drawn literally ("$" is escaped, so no mathtext); titles and axis labels are
  plain strings the caller passes already translated.
- Blob plot: x = teams in full-data rank order, y = rank (1 at the top); each circle's area is
  proportional to the share of resamples in which the team held that rank; a black cross marks
  the median rank and a black line the rank interval.
- Significance map: cell (row i, column j) is filled when team i is significantly better than
  team j; the diagonal is blank.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from matplotlib import rc_context
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from numpy.typing import ArrayLike

from evaluation.metrics.stability import RankStability

BLOB_COLOUR = "#3b6ea5"
MAP_COLOURS = ListedColormap(["#eeeeee", "#2f7d4f", "#ffffff"])  # no, yes, diagonal


@contextmanager
def _style() -> Iterator[None]:
    with rc_context(
        {
            "svg.hashsalt": "enclave-metrics",
            "svg.fonttype": "none",
            "font.family": "DejaVu Sans",
            "font.size": 9.0,
        }
    ):
        yield


def _literal(label: str) -> str:
    """A label matplotlib draws as written (a "$" would otherwise start mathtext)."""
    return label.replace("$", r"\$")


def figure_svg(fig: Figure) -> str:
    """The figure as SVG text, byte-identical for identical figures."""
    buffer = io.StringIO()
    with _style():
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def figure_png(fig: Figure, *, dpi: int = 150) -> bytes:
    """The figure as PNG bytes (no software/date metadata)."""
    buffer = io.BytesIO()
    with _style():
        fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def _square_size(n_teams: int) -> tuple[float, float]:
    side = min(12.0, 2.5 + 0.55 * n_teams)
    return side, side * 0.85


def blob_figure(
    stability: RankStability,
    *,
    title: str,
    x_label: str = "Team",
    y_label: str = "Rank",
    median_label: str = "Median rank",
    interval_label: str | None = None,
) -> Figure:
    """challengeR blob plot of the bootstrap rank distribution of every team."""
    if interval_label is None:
        interval_label = f"{100 * stability.confidence:g} % rank interval"
    teams = stability.teams
    size = len(teams)
    used = max(stability.n_resamples_used, 1)
    with _style():
        fig = Figure(figsize=_square_size(size), layout="constrained")
        ax = fig.add_subplot()
        cell_points = 0.8 * 72 * min(fig.get_size_inches()) / max(size, 2)
        share = stability.rank_counts / used
        x, rank_index = np.nonzero(share)
        areas = share[x, rank_index] * cell_points**2
        ax.scatter(x, rank_index + 1, s=areas, color=BLOB_COLOUR, alpha=0.6, linewidths=0)
        positions = np.arange(size)
        low = [stability.rank_interval[t][0] for t in teams]
        high = [stability.rank_interval[t][1] for t in teams]
        ax.vlines(positions, low, high, colors="black", linewidth=1.2)
        ax.scatter(positions, [stability.median_rank[t] for t in teams],
                   marker="x", color="black", s=30, zorder=3)
        ax.set_xticks(positions, [_literal(t) for t in teams], rotation=45, ha="right")
        ax.set_yticks(np.arange(1, size + 1))
        ax.set_xlim(-0.7, size - 0.3)
        ax.set_ylim(size + 0.7, 0.3)
        ax.set_xlabel(_literal(x_label))
        ax.set_ylabel(_literal(y_label))
        ax.set_title(_literal(title))
        ax.grid(True, color="#dddddd", linewidth=0.5)
        ax.set_axisbelow(True)
        ax.legend(
            handles=[
                Line2D([], [], marker="x", color="black", linestyle="none"),
                Line2D([], [], color="black"),
            ],
            labels=[_literal(median_label), _literal(interval_label)],
            loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
        )
    return fig


def significance_figure(
    significant: ArrayLike,
    teams: Sequence[str],
    *,
    title: str,
    x_label: str = "Compared with",
    y_label: str = "Team",
    better_label: str = "Significantly better",
) -> Figure:
    """Grid of pairwise decisions: row team significantly better than column team."""
    grid = np.asarray(significant, dtype=bool)
    size = len(teams)
    if grid.shape != (size, size):
        raise ValueError(f"significant must be {size}x{size} for {size} teams")
    codes = grid.astype(np.int64)
    np.fill_diagonal(codes, 2)
    with _style():
        fig = Figure(figsize=_square_size(size), layout="constrained")
        ax = fig.add_subplot()
        ax.pcolormesh(codes, cmap=MAP_COLOURS, vmin=0, vmax=2, edgecolors="white", linewidth=1)
        centres = np.arange(size) + 0.5
        labels = [_literal(t) for t in teams]
        ax.set_xticks(centres, labels, rotation=45, ha="right")
        ax.set_yticks(centres, labels)
        ax.set_xlim(0, size)
        ax.set_ylim(size, 0)
        ax.set_aspect("equal")
        ax.set_xlabel(_literal(x_label))
        ax.set_ylabel(_literal(y_label))
        ax.set_title(_literal(title))
        ax.legend(handles=[Patch(color=MAP_COLOURS(1))], labels=[_literal(better_label)],
                  loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


def blob_plot(stability: RankStability, *, title: str, **labels: str) -> str:
    """The blob plot as SVG text (``labels``: see ``blob_figure``)."""
    return figure_svg(blob_figure(stability, title=title, **labels))


def significance_map_plot(
    sig: ArrayLike, teams: Sequence[str], *, title: str, **labels: str
) -> str:
    """The significance map as SVG text (``labels``: see ``significance_figure``)."""
    return figure_svg(significance_figure(sig, teams, title=title, **labels))
