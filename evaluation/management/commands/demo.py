"""demo: build the demo world, run the example algorithms through the real queue and sandbox,
print the leaderboard and serve the web UI (unless --no-serve or DEMO_NO_SERVE=1).

Every step is reused when already done: a second run takes seconds plus the serving.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Team, User
from challenges.models import Phase
from evaluation.models import Status, Submission
from evaluation.services import image_upload, submission_create
from examples import demo_world

EXAMPLES_DIR = Path(settings.BASE_DIR) / "examples"
# (team, example image, phases)
PLAN = [
    ("team-a", "torch-cnn", ["sanity", "test"]),
    ("team-b", "classical", ["sanity", "test"]),
    ("team-b", "weak-baseline", ["test"]),
]


class Command(BaseCommand):
    help = "Create the demo world, run the example algorithms, print the leaderboard, serve the UI."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-serve", action="store_true")
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def step(self, message: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"==> {message}"))

    def handle(self, *args: object, **options: object) -> None:
        no_serve = options["no_serve"] or os.environ.get("DEMO_NO_SERVE") == "1"
        self.step("database")
        call_command("migrate", interactive=False, verbosity=0)
        self.step("people, society, teams and the lesion-phantom challenge")
        demo_world.ensure_people()
        world = demo_world.ensure_challenge()
        self.step("phantom cases (real CT/MR pixels, synthetic lesions), de-identified on import")
        demo_world.ensure_cases(world, Path(settings.VAR_DIR) / "demo" / "phantom")
        self.step("example algorithm images (first run: a few minutes)")
        images = sorted({name for _, name, _ in PLAN})
        if subprocess.run([str(EXAMPLES_DIR / "build.sh"), *images]).returncode != 0:
            raise CommandError("Building the example images failed (see above).")
        worker = self.start_worker()
        try:
            self.step("submitting through the queue and the sandbox")
            pending = self.submit_plan()
            self.wait_with_progress(pending)
            for phase in ("sanity", "test"):
                self.step(f"leaderboard: {demo_world.CHALLENGE} / {phase}")
                call_command("leaderboard", challenge=demo_world.CHALLENGE, phase=phase)
            if no_serve:
                return
            self.step(f"serving http://{options['addr']}/ — log in as alice, bob, jrs-admin, "
                      "dr-tanaka… (password: DEMO_PASSWORD, default enclave-demo). Ctrl-C stops.")
            call_command("runserver", options["addr"], use_reloader=False)
        finally:
            worker.terminate()
            worker.wait(timeout=30)

    def start_worker(self) -> subprocess.Popen[bytes]:
        self.step("starting a Celery worker (queues: default, sandbox-cpu; the run sweeper on beat)")
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,sandbox-cpu",
             "--concurrency", "2", "--loglevel", "WARNING", "--beat"],
            cwd=settings.BASE_DIR, env=os.environ.copy(),
        )

    def submit_plan(self) -> list[int]:
        pending: list[int] = []
        for team_slug, name, phases in PLAN:
            team = Team.objects.get(slug=team_slug)
            user = User.objects.filter(team_memberships__team=team).first()
            assert user is not None
            tarball = EXAMPLES_DIR / "build" / f"{name}.tar"
            with tarball.open("rb") as fh:
                image = image_upload(team=team, user=user, source=fh)
            for phase_slug in phases:
                phase = Phase.objects.get(challenge__slug=demo_world.CHALLENGE, slug=phase_slug)
                done = Submission.objects.filter(team=team, phase=phase, image=image,
                                                 status=Status.SUCCEEDED).first()
                if done is not None:
                    self.stdout.write(f"    {team_slug} {name} on {phase_slug}: reused #{done.pk}")
                    continue
                submission = submission_create(user=user, team=team, phase=phase, image=image)
                self.stdout.write(f"    {team_slug} {name} on {phase_slug}: #{submission.pk} queued")
                pending.append(submission.pk)
        return pending

    def wait_with_progress(self, pending: list[int]) -> None:
        start = time.monotonic()
        while True:
            statuses = dict(Submission.objects.filter(pk__in=pending).values_list("pk", "status"))
            final = [pk for pk, s in statuses.items() if s in (Status.SUCCEEDED, Status.FAILED)]
            self.stdout.write(f"    {len(final)}/{len(pending)} finished "
                              f"({time.monotonic() - start:.0f} s)")
            if len(final) == len(pending):
                break
            time.sleep(5)
            if time.monotonic() - start > 1800:
                raise CommandError("Submissions did not finish within 30 minutes.")
        for submission in Submission.objects.filter(pk__in=pending, status=Status.FAILED):
            self.stdout.write(self.style.WARNING(
                f"    #{submission.pk} failed: {submission.failure_reason} {submission.failure_detail}"))
