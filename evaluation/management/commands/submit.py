"""submit: upload an image tarball for a team and submit it to a phase, as the team would."""

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Team, User
from challenges.models import Phase
from config.errors import DomainError
from evaluation.models import Status, Submission
from evaluation.selectors import submission_team_view
from evaluation.services import image_upload, submission_create

FINAL = {Status.SUCCEEDED, Status.FAILED}


def wait_for(submission_ids: list[int], timeout: float, *, poll: float = 0.5) -> None:
    """Block until every submission is final (or raise CommandError on timeout)."""
    deadline = time.monotonic() + timeout
    while Submission.objects.filter(pk__in=submission_ids).exclude(status__in=FINAL).exists():
        if time.monotonic() > deadline:
            raise CommandError(f"Submissions {submission_ids} not finished after {timeout:.0f} s.")
        time.sleep(poll)


class Command(BaseCommand):
    help = "Upload a docker save tarball for TEAM and submit it; prints the submission id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--challenge", required=True)
        parser.add_argument("--phase", required=True)
        parser.add_argument("--team", required=True)
        parser.add_argument("--user", help="the submitting team member (default: the team lead)")
        parser.add_argument("--wait", action="store_true",
                            help="wait, then print the final status as the team sees it (JSON)")
        parser.add_argument("--timeout", type=float, default=1800)
        parser.add_argument("image", type=Path)

    def handle(self, *args: object, **options: object) -> None:
        team = Team.objects.filter(slug=options["team"]).first()
        if team is None:
            raise CommandError(f"No team {options['team']!r}.")
        phase = Phase.objects.select_related("challenge").filter(
            challenge__slug=options["challenge"], slug=options["phase"]).first()
        if phase is None:
            raise CommandError(f"No phase {options['phase']!r} in challenge {options['challenge']!r}.")
        members = User.objects.filter(team_memberships__team=team)
        user = (members.filter(username=options["user"]) if options["user"]
                else members.order_by("team_memberships__role", "pk")).first()
        if user is None:
            raise CommandError(f"No such member of team {team.slug!r}.")
        path: Path = options["image"]  # type: ignore[assignment]
        if not path.is_file():
            raise CommandError(f"No image tarball at {path}.")
        try:
            with path.open("rb") as fh:
                image = image_upload(team=team, user=user, source=fh)
            submission = submission_create(user=user, team=team, phase=phase, image=image)
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(str(submission.pk))
        if options["wait"]:
            wait_for([submission.pk], options["timeout"])  # type: ignore[arg-type]
            submission.refresh_from_db()
            self.stdout.write(json.dumps(submission_team_view(submission), indent=2))
