"""Reads for evaluation, filtered by who asks: `submissions` (a team's own submissions and
images) and `leaderboard` (cached boards, snapshots)."""

from evaluation.selectors.leaderboard import (
    Leaderboard,
    LeaderboardEntry,
    best_results,
    cache_is_shared,
    leaderboard_cached,
    leaderboard_changed,
    leaderboard_for,
    leaderboard_rows,
    leaderboard_snapshots,
    leaderboard_version,
    leaderboard_version_for,
    leaderboard_visible,
    results_state,
)
from evaluation.selectors.submissions import (
    access_submission_by_user,
    images_of_user,
    scores_are_public,
    submission_team_view,
    submissions_of_user,
)

__all__ = [
    "Leaderboard",
    "LeaderboardEntry",
    "access_submission_by_user",
    "best_results",
    "cache_is_shared",
    "images_of_user",
    "leaderboard_cached",
    "leaderboard_changed",
    "leaderboard_for",
    "leaderboard_rows",
    "leaderboard_snapshots",
    "leaderboard_version",
    "leaderboard_version_for",
    "leaderboard_visible",
    "results_state",
    "scores_are_public",
    "submission_team_view",
    "submissions_of_user",
]
