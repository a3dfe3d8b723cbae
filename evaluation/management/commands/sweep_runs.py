"""sweep_runs: recover runs whose worker stopped beating (what the beat schedule does each minute)."""

from django.core.management.base import BaseCommand, CommandParser

from evaluation.services.runs import runs_sweep


class Command(BaseCommand):
    help = "Requeue (or fail, once attempts are spent) runs whose heartbeat went stale."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stale-after", type=float, help="seconds (default: the setting)")

    def handle(self, *args: object, **options: object) -> None:
        counts = runs_sweep(stale_after_s=options["stale_after"])  # type: ignore[arg-type]
        self.stdout.write(f"requeued {counts['requeued']}, failed {counts['failed']}")
