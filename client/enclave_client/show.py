"""Plain-text views of what the API returns: submissions, leaderboards, images."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
# the server's FailureReason labels
FAILURE_REASONS = {
    "timeout": "time limit exceeded",
    "out_of_memory": "out of memory",
    "exit_code": "the container exited with an error",
    "output_missing": "an output the contract requires is missing",
    "output_invalid": "the outputs broke a rule of the contract",
    "image_invalid": "the image could not be started",
    "platform_error": "platform error (not counted against your quota)",
}


def number(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def interval(low: Any, high: Any) -> str:
    return "" if low is None or high is None else f"[{number(low)}, {number(high)}]"


def failure_line(reason: str | None, detail: str | None) -> str:
    text = FAILURE_REASONS.get(reason or "", reason or "")
    return f"{reason}: {text}" + (f" ({detail})" if detail else "")


def local_time(iso: str) -> str:
    """An ISO timestamp of the server as this machine's local time, to the minute."""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def queue_line(view: dict[str, Any], *, now: datetime | None = None) -> str:
    """Where a queued submission stands: its place and, when the server has run history to go
    by, roughly when it starts; "" once it is not queued."""
    position = view.get("queue_position")
    if not position:
        return ""
    line = f"number {position} in the queue"
    start = view.get("estimated_start")
    if start:
        try:
            wait_s = (datetime.fromisoformat(start) - (now or datetime.now(UTC))
                      ).total_seconds()
        except ValueError:
            return line
        minutes = max(round(wait_s / 60), 0)
        line += (", should start about now" if minutes < 1 else
                 f", should start in about {minutes} min ({local_time(start)})")
    return line


def submission(view: dict[str, Any], *, logs: bool = False) -> str:
    lines = [
        f"submission {view['id']}  {view['challenge']}/{view['phase']}  team {view['team']}",
        f"  image   {view['image']}",
        f"  status  {view['status']}",
    ]
    if queued := queue_line(view):
        lines.append(f"  queue   {queued}")
    if view.get("failure_reason"):
        lines.append(f"  failure {failure_line(view['failure_reason'], view.get('failure_detail'))}")
    scores = view.get("scores")
    if scores:
        lines.append("  scores  (value [confidence interval], cases)")
        width = max(len(key) for key in scores)
        for key, metric in scores.items():
            lines.append(f"    {key:<{width}}  {number(metric.get('value'))}  "
                         f"{interval(metric.get('ci_low'), metric.get('ci_high'))}  "
                         f"n={metric.get('n_defined', metric.get('n_cases', '?'))}")
    elif view.get("scores_withheld"):
        lines.append("  scores  withheld until the society publishes the results")
    if logs and view.get("logs"):
        lines.append("  logs:")
        lines.extend(f"    {line}" for line in view["logs"].splitlines())
    return "\n".join(lines)


def submissions(views: list[dict[str, Any]]) -> str:
    if not views:
        return "no submissions yet"
    rows: list[tuple[str, ...]] = [("ID", "CHALLENGE/PHASE", "TEAM", "STATUS", "CREATED")]
    rows += [(str(v["id"]), f"{v['challenge']}/{v['phase']}", v["team"],
              v["status"] + (f" #{v['queue_position']}" if v.get("queue_position") else ""),
              str(v.get("created") or "")[:19]) for v in views]
    return table(rows)


def quota(data: dict[str, Any]) -> str:
    line = (f"{data['challenge']}/{data['phase']}  team {data['team']}: {data['left']} of "
            f"{data['limit']} submissions left in this {data['window_hours']}-hour window")
    if data.get("next_frees_at"):
        line += f"; the next one frees at {local_time(data['next_frees_at'])}"
    return line + " (platform failures and cancelled submissions do not count)"


REGISTRATION_STATES = {
    "pending": "waiting for the society's decision",
    "approved": "approved: the team may submit",
    "rejected": "rejected",
    "withdrawn": "withdrawn by the team",
}


def registrations(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "not registered: `enclave register --challenge SLUG` asks the society"
    lines = []
    for row in rows:
        line = (f"{row['challenge']}  team {row['team']}: "
                f"{REGISTRATION_STATES.get(row['status'], row['status'])}")
        if row.get("decision_reason"):
            line += f" ({row['decision_reason']})"
        lines.append(line)
    return "\n".join(lines)


def leaderboard(board: dict[str, Any]) -> str:
    header = (f"{board['challenge']}/{board['phase']}  primary metric {board['primary_metric']}"
              f"  ranking {board['ranking_method']}")
    entries = board.get("entries") or []
    if not entries:
        return f"{header}\nno entries yet"
    rows: list[tuple[str, ...]] = [("RANK", "TEAM", board["primary_metric"].upper(), "CI",
                                    "RANK RANGE", "CASES", "SUBMISSION")]
    for entry in entries:
        low, high = entry.get("rank_low"), entry.get("rank_high")
        rows.append((str(entry["rank"]), entry.get("team_name") or entry["team"],
                     number(entry.get("value")), interval(entry.get("ci_low"), entry.get("ci_high")),
                     "" if low is None else f"{low}-{high}", str(entry.get("n_cases", "")),
                     str(entry.get("submission_id", ""))))
    return f"{header}\n{table(rows)}"


def images(records: list[dict[str, Any]]) -> str:
    if not records:
        return "no images yet"
    rows: list[tuple[str, ...]] = [("ID", "TEAM", "IMAGE", "TAGS", "MIB", "CREATED")]
    rows += [(str(r["id"]), r["team"], r["image_id"], ",".join(r.get("repo_tags") or []),
              f"{(r.get('size_bytes') or 0) / 2**20:.1f}", str(r.get("created") or "")[:19])
             for r in records]
    return table(rows)


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)
