"""Platform benchmark: a whole 100-case submission run vs plain `docker run` (DESIGN §7).

Row ``platform-run-100``: ours = what a warm sandbox worker does for one submission, in process:
claim the row, stage 100 de-identified cases from storage, run the image in the hardened sandbox,
validate predictions.json, record the run, then score it (AUROC with a 10,000-resample bootstrap
CI). The Celery hand-off itself is not timed. reference = the same image via ``docker run --rm
--network none`` on inputs staged beforehand. Interleaved, one warm-up each, median of 5.
Target: ratio <= 1.2.

Needs docker and a database: `benchmarks/run.py` points ENCLAVE_VAR_DIR at a scratch folder.
"""

import json
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.bench_sandbox import IMAGE, build_image, fresh_dir

N_CASES = 100
REPEATS = 5


def _world(work: Path):  # type: ignore[no-untyped-def]
    from django.core.management import call_command

    from accounts import services as accounts
    from challenges.services import cases_import, challenge_create, phase_create
    from evaluation.services.images import image_upload_path
    from examples.phantom import build_phantom

    call_command("migrate", interactive=False, verbosity=0)
    society = accounts.society_ensure(slug="bench", name="Bench society")
    team = accounts.team_ensure(slug="bench-team", name="Bench team")
    user = accounts.user_ensure(username="bench-user", password=secrets.token_urlsafe())
    accounts.team_member_add(team=team, user=user)
    challenge = challenge_create(society=society, slug="bench", title="Bench",
                                 labels=["absent", "present"], positive_label="present",
                                 is_published=True)
    phase = phase_create(challenge=challenge, slug="test", title="Test", is_hidden=True,
                         submission_limit=1000)
    phantom = build_phantom(work / "phantom", n_sanity=1, n_test=N_CASES)
    cases_import(phase=phase, path=phantom.test_dir, labels_path=phantom.test_labels)
    tarball = work / "image.tar"
    subprocess.run(["docker", "save", "-o", str(tarball), IMAGE], check=True)
    image = image_upload_path(team=team, user=user, path=tarball)
    return phase, team, user, image


def bench_platform(work: Path) -> tuple[str, float, float]:
    from evaluation.models import Status, Submission
    from evaluation.services import submission_execute, submission_score
    from evaluation.services.staging import stage_inputs

    phase, team, user, image = _world(work)
    staged = work / "staged"
    staged.mkdir()
    staged.chmod(0o755)
    stage_inputs(phase, staged)

    def ours() -> None:
        submission = Submission.objects.create(phase=phase, team=team, image=image,
                                               submitted_by=user)
        submission_execute(submission_id=submission.pk)
        submission_score(submission_id=submission.pk)
        submission.refresh_from_db()
        assert submission.status == Status.SUCCEEDED, (submission.failure_reason,
                                                      submission.failure_detail)

    def reference() -> None:
        output = fresh_dir(work / "ref-out")
        subprocess.run(["docker", "run", "--rm", "-v", f"{staged}:/input:ro",
                        "-v", f"{output}:/output", "--network", "none", IMAGE],
                       check=True, stdout=subprocess.DEVNULL)
        assert len(json.loads((output / "predictions.json").read_text())) == N_CASES

    ours()
    reference()
    ours_times, reference_times = [], []
    for _ in range(REPEATS):
        start = time.perf_counter()
        ours()
        ours_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        reference()
        reference_times.append(time.perf_counter() - start)
    return "platform-run-100", statistics.median(ours_times), statistics.median(reference_times)


def run() -> list[tuple[str, float, float]]:
    build_image()
    with tempfile.TemporaryDirectory(prefix="enclave-bench-platform-") as work:
        return [bench_platform(Path(work))]
