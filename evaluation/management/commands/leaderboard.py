"""leaderboard: print a phase's leaderboard as the public (or --as-user) sees it."""

import csv
import io
import json

from django.contrib.auth.models import AnonymousUser
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from challenges.selectors import access_phase_by_user
from config.errors import DomainError
from evaluation.selectors import Leaderboard, leaderboard_for, leaderboard_rows


def _fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else ("-" if value is None else str(value))


def render_table(board: Leaderboard) -> str:
    header = ["rank", "rank_interval", "team"] + [k for k, _ in board.columns] + ["n_cases"]
    cells = [header]
    for e in board.entries:
        interval = f"{e.rank_low}-{e.rank_high}" if e.rank_low is not None else "-"
        row = [str(e.rank), interval, e.team]
        for key, _direction in board.columns:
            m = e.metrics.get(key, {})
            ci = (f" [{_fmt(m.get('ci_low'))}, {_fmt(m.get('ci_high'))}]"
                  if m.get("ci_low") is not None else "")
            row.append(_fmt(m.get("value")) + ci)
        cells.append([*row, str(e.n_cases)])
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
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
            board = leaderboard_for(viewer, phase)
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        rows = leaderboard_rows(board)
        if options["format"] == "json":
            self.stdout.write(json.dumps(rows, indent=2))
        elif options["format"] == "csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["rank", "team"],
                                    lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            self.stdout.write(buffer.getvalue(), ending="")
        else:
            self.stdout.write(render_table(board))
