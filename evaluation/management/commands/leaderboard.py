"""leaderboard: print a phase's leaderboard as the public (or --as-user) sees it."""

import csv
import io
import json

from django.contrib.auth.models import AnonymousUser
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from challenges.selectors import access_phase_by_user
from config.errors import DomainError
from evaluation.selectors import LeaderboardEntry, leaderboard_for

COLUMNS = ["rank", "team", "auroc", "ci_low", "ci_high", "sensitivity", "specificity", "accuracy",
           "n_cases", "submission_id"]


def _row(entry: LeaderboardEntry) -> dict[str, object]:
    return {
        "rank": entry.rank, "team": entry.team, "auroc": entry.value, "ci_low": entry.ci_low,
        "ci_high": entry.ci_high, "sensitivity": entry.metrics.get("sensitivity"),
        "specificity": entry.metrics.get("specificity"), "accuracy": entry.metrics.get("accuracy"),
        "n_cases": entry.n_cases, "submission_id": entry.submission_id,
    }


def _fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else ("-" if value is None else str(value))


def render_table(rows: list[dict[str, object]]) -> str:
    cells = [COLUMNS] + [[_fmt(r[c]) for c in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
                     for row in cells)


class Command(BaseCommand):
    help = "Print a phase's leaderboard (table, json or csv)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--challenge", required=True)
        parser.add_argument("--phase", required=True)
        parser.add_argument("--format", choices=["table", "json", "csv"], default="table")
        parser.add_argument("--as-user", help="see it as this user (default: the public)")

    def handle(self, *args: object, **options: object) -> None:
        viewer: User | AnonymousUser = AnonymousUser()
        if options["as_user"]:
            found = User.objects.filter(username=options["as_user"]).first()
            if found is None:
                raise CommandError(f"No user {options['as_user']!r}.")
            viewer = found
        try:
            phase = access_phase_by_user(viewer, options["challenge"], options["phase"])  # type: ignore[arg-type]
            rows = [_row(e) for e in leaderboard_for(viewer, phase)]
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        if options["format"] == "json":
            self.stdout.write(json.dumps(rows, indent=2))
        elif options["format"] == "csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            self.stdout.write(buffer.getvalue(), ending="")
        else:
            self.stdout.write(render_table(rows))
